"""Persistence end to end: real processes restarted on their dump, killed with -9 in the
middle of a BGSAVE, refusing to start on a damaged file, MISCONF over the wire, save
points firing from the cron thread, and a BGSAVE of a million keys that must neither
stall the clients writing meanwhile nor miss or mix up their writes.

Every server here gets its own directory: a dump in the working directory would be
loaded by the next server started there.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import threading
import time
from pathlib import Path

import psutil
import pytest
import redis

from common.clock import FakeClock
from redis_clone import errors
from redis_clone.persistence.rdb_reader import RdbReader
from redis_clone.server import RedisServer
from tests.conftest import RawConnection, free_port, make_config
from tests.integration.test_cli import DEADLINE, ServerProcess

MILLION = 1_000_000


@pytest.fixture
def spawn(tmp_path):
    """Start `python -m redis_clone` on a free port with `dir` = tmp_path: (process, client)."""
    started: list[ServerProcess] = []

    def start(*args: str) -> tuple[ServerProcess, redis.Redis]:
        port = free_port()
        started.append(ServerProcess("--port", str(port), "--dir", str(tmp_path),
                                     "--enable-debug-command", "yes", *args))
        started[-1].wait_ready(port)
        return started[-1], redis.Redis(port=port, socket_timeout=DEADLINE)

    yield start
    for server in started:
        for child in psutil.Process(server.proc.pid).children() if server.proc.poll() is None else ():
            child.kill()  # a BGSAVE child the test left running
        server.kill()


def dump_contents(path: Path) -> dict[bytes, object]:
    with open(path, "rb") as file:
        return {key: value for db, key, value, _ in RdbReader(file.read()).entries() if db == 0}


def wait_for(condition, what: str, timeout: float = DEADLINE) -> None:
    """Poll something we can observe (a file, INFO) until it holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def bgsave_done(client: redis.Redis) -> bool:
    return client.info("persistence")["rdb_bgsave_in_progress"] == 0


# --- restart ------------------------------------------------------------------------

def test_100k_keys_written_in_a_pipeline_are_all_there_after_shutdown_and_restart(spawn, tmp_path):
    server, client = spawn("--save", "3600", "1")
    for start in range(0, 100_000, 10_000):
        pipe = client.pipeline(transaction=False)
        for i in range(start, start + 10_000):
            pipe.set(f"key:{i}", f"value:{i}")
        pipe.execute()
    client.rpush("list", *range(1000))
    client.set("ttl", "v", px=3_600_000)
    shutdown = RawConnection(client.connection_pool.connection_kwargs["port"])
    shutdown.send(b"SHUTDOWN\r\n")  # saves by default, because save points are configured
    assert shutdown.read_raw_until_closed() == b""
    assert server.finish()[0] == 0

    _, client = spawn("--save", "")
    assert client.dbsize() == 100_002
    for start in range(0, 100_000, 10_000):
        keys = [f"key:{i}" for i in range(start, start + 10_000)]
        assert client.mget(keys) == [f"value:{i}".encode() for i in range(start, start + 10_000)]
    assert client.lrange("list", 0, -1) == [b"%d" % i for i in range(1000)]
    assert 3_500_000 < client.pttl("ttl") <= 3_600_000


@pytest.mark.parametrize("save, saved", [(["3600", "1"], True), ([""], False)])
def test_sigterm_saves_first_when_save_points_are_configured(spawn, tmp_path, save, saved):
    server, client = spawn("--save", *save)
    client.set("k", "v")
    server.proc.send_signal(signal.SIGTERM)
    code, _, err = server.finish()
    assert code == 0, err
    assert (tmp_path / "dump.rdb").exists() == saved
    if saved:
        assert dump_contents(tmp_path / "dump.rdb") == {b"k": b"v"}
        assert "Saving the final RDB snapshot before exiting." in err


def test_sigterm_with_a_failing_save_keeps_the_server_running(spawn, tmp_path):
    server, client = spawn("--save", "3600", "1")
    client.set("k", "v")
    (tmp_path / "dump.rdb").mkdir()  # the final rename fails: a file cannot replace a directory
    server.proc.send_signal(signal.SIGTERM)
    while "Error trying to save the DB, can't exit." not in server.proc.stderr.readline():
        pass  # the log says what happened, line by line
    assert client.get("k") == b"v"
    assert server.proc.poll() is None


# --- damaged dumps ------------------------------------------------------------------

def _saved_dump(spawn, tmp_path) -> bytes:
    server, client = spawn("--save", "")
    client.set("greeting", "hello world")
    client.rpush("list", "a", "b")
    client.save()
    server.kill()
    return (tmp_path / "dump.rdb").read_bytes()


@pytest.mark.parametrize("damage, message", [
    (lambda data: data[:-30], "the file is truncated: it ends at byte"),
    (lambda data: data.replace(b"hello world", b"hello World"), "wrong RDB checksum"),
    (lambda data: data.replace(b"\x00\x08greeting", b"\x2a\x08greeting"),
     "unknown RDB value type 42 for key 'greeting' in db 0"),
])
def test_the_server_refuses_to_start_on_a_damaged_dump_and_says_why(spawn, tmp_path, damage, message):
    (tmp_path / "dump.rdb").write_bytes(damage(_saved_dump(spawn, tmp_path)))
    code, _, err = ServerProcess("--port", str(free_port()), "--dir", str(tmp_path)).finish()
    assert code == 1
    assert "Fatal error loading the DB from" in err and message in err


# --- kill -9 during BGSAVE ----------------------------------------------------------

def _start_slow_bgsave(spawn, tmp_path) -> tuple[ServerProcess, redis.Redis, psutil.Process]:
    """A server whose dump holds old:* = 1, now changed to 2, busy writing them in a
    BGSAVE that takes seconds (rdb-key-save-delay): returns it with its child."""
    server, client = spawn("--save", "")
    client.mset({f"old:{i}": 1 for i in range(2000)})
    client.save()
    client.mset({f"old:{i}": 2 for i in range(2000)})
    client.config_set("rdb-key-save-delay", 2000)  # 2 ms per key: 4 s in all
    client.bgsave()
    [child] = psutil.Process(server.proc.pid).children()
    temp = tmp_path / f"temp-{child.pid}.rdb"
    wait_for(temp.exists, "the child to start writing")
    return server, client, child


def test_kill_9_during_bgsave_leaves_the_old_dump_loadable(spawn, tmp_path):
    server, client, child = _start_slow_bgsave(spawn, tmp_path)
    server.proc.kill()
    server.proc.wait()
    assert child.is_running()  # an orphan now, still writing, but no longer holding the port:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", client.connection_pool.connection_kwargs["port"]))
        probe.listen()
    child.kill()
    child.wait()
    assert set(dump_contents(tmp_path / "dump.rdb").values()) == {b"1"}
    _, client = spawn("--save", "")
    assert client.dbsize() == 2000 and client.get("old:1999") == b"1"


def test_a_bgsave_child_killed_by_someone_else_is_a_failed_save(spawn, tmp_path):
    server, client, child = _start_slow_bgsave(spawn, tmp_path)
    child.kill()
    wait_for(lambda: bgsave_done(client), "the child to be reaped")
    assert client.info("persistence")["rdb_last_bgsave_status"] == "err"
    assert sorted(os.listdir(tmp_path)) == ["dump.rdb"]  # the partial file is removed
    assert set(dump_contents(tmp_path / "dump.rdb").values()) == {b"1"}


# --- MISCONF and save points, in process --------------------------------------------

@pytest.fixture
def in_process(tmp_path):
    servers: list[RedisServer] = []

    def start(clock=None, **config) -> RedisServer:
        servers.append(RedisServer(make_config(dir=str(tmp_path), **config), clock))
        servers[-1].start()
        return servers[-1]

    yield start
    for srv in servers:
        srv.stop()


def test_misconf_is_the_exact_redis_error_over_the_wire(in_process, tmp_path):
    srv = in_process(save="3600 1")
    conn = RawConnection(srv.port)
    os.rmdir(tmp_path)
    assert conn.command("BGSAVE") == "Background saving started"
    srv.state.persistence.wait_for_background_save(DEADLINE)
    conn.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n")
    assert conn.sock.recv(1000) == f"-{errors.MISCONF}\r\n".encode()
    assert conn.command("GET", "k") is None
    conn.close()


def test_a_save_point_fires_from_the_cron_thread(in_process, tmp_path):
    clock = FakeClock()
    srv = in_process(clock=clock, save="60 1")
    conn = RawConnection(srv.port)
    first = conn.command("LASTSAVE")
    conn.command("SET", "k", "v")
    clock.advance(61)
    wait_for(lambda: conn.command("LASTSAVE") != first, "the save point to fire")
    assert dump_contents(tmp_path / "dump.rdb") == {b"k": b"v"}
    conn.close()


# --- a million keys -------------------------------------------------------------------

def test_bgsave_of_a_million_keys_keeps_serving_writes_and_is_a_point_in_time(
        spawn, tmp_path, record_property):
    """The measurements are printed (see them with `pytest -rP -k million`). A writer runs steps n = 0, 1, 2...: SET key:perm[n] updated:n, then INCR counter.
    A snapshot taken at one instant, between two commands, holds counter = c and the
    updates of exactly the steps before c (plus maybe step c's SET): a prefix. A save
    that walked the keyspace while it changed would show later updates without earlier
    ones, or updates beyond the counter."""
    server, client = spawn("--save", "")
    client.execute_command("DEBUG", "POPULATE", MILLION)
    perm = random.Random(7).sample(range(MILLION), 200_000)
    latencies: list[float] = []
    steps = 0
    stop = threading.Event()
    writer_client = redis.Redis(port=client.connection_pool.connection_kwargs["port"],
                                socket_timeout=DEADLINE)

    def writer() -> None:
        nonlocal steps
        while not stop.is_set() and steps < len(perm):
            for command in (("SET", f"key:{perm[steps]}", f"updated:{steps}"), ("INCR", "counter")):
                began = time.perf_counter()
                writer_client.execute_command(*command)
                latencies.append(time.perf_counter() - began)
            steps += 1

    thread = threading.Thread(target=writer)
    thread.start()
    wait_for(lambda: steps > 1000, "the writer to get going")
    began, before = time.perf_counter(), steps
    client.bgsave()
    after = steps
    wait_for(lambda: bgsave_done(client), "the BGSAVE to finish", timeout=100)
    save_seconds = time.perf_counter() - began
    during = steps - after
    stop.set()
    thread.join()

    snapshot = dump_contents(tmp_path / "dump.rdb")
    counter = int(snapshot[b"counter"])
    assert before <= counter <= after  # the instant BGSAVE forked
    for n in range(steps):
        value = snapshot[b"key:%d" % perm[n]]
        if n < counter:
            assert value == b"updated:%d" % n, n
        elif n > counter:
            assert value == b"value:%d" % perm[n], n
    assert len(snapshot) == MILLION + 1
    longest = max(latencies)
    fork_ms = client.info("stats")["latest_fork_usec"] / 1000
    record_property("longest_stall_ms", round(longest * 1000, 1))
    print(f"BGSAVE of {MILLION} keys took {save_seconds:.2f} s (fork {fork_ms:.1f} ms); the "
          f"writer did {during} steps meanwhile; longest command latency {longest * 1000:.1f} ms")
    assert during > 100, "the server stopped answering while it saved"
    assert longest < 2.0, f"a command waited {longest:.2f} s"
