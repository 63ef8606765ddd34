"""MULTI/EXEC/WATCH end to end, between several clients: what one client's writes do
to another's transaction, and that nobody ever sees half of a transaction. Single-
connection behaviour (queuing errors, EXECABORT, errors in place, which writes
invalidate a WATCH) is compared with real Redis in corpus/transactions.txt."""

from __future__ import annotations

import threading
import time

import pytest

from common.clock import FakeClock
from common.resp import NULL_ARRAY
from redis_clone.server import RedisServer
from tests.conftest import RawConnection, make_config
from tests.integration.test_differential import typed

THREADS, ROUNDS = 8, 1000


def exec_after(conn: RawConnection):
    """Run an (empty-bodied) transaction on `conn` and return EXEC's reply."""
    assert conn.command("MULTI") == "OK"
    assert conn.command("PING") == "QUEUED"
    return conn.command("EXEC")


@pytest.fixture
def two(raw):
    return raw(), raw()


@pytest.mark.parametrize("change", [
    ["SET", "watched", "other"],
    ["DEL", "watched"],
    ["EXPIRE", "watched", "100"],
    ["RENAME", "watched", "elsewhere"],
    ["RENAME", "source", "watched"],
    ["APPEND", "watched", "!"],
    ["FLUSHALL"],
    ["FLUSHDB"],
    ["MOVE", "watched", "1"],
], ids=lambda change: " ".join(change))
def test_a_watched_key_changed_by_another_client_makes_exec_return_nil(two, change):
    watcher, other = two
    other.command("SET", "watched", "v")
    other.command("SET", "source", "s")
    assert watcher.command("WATCH", "watched") == "OK"
    other.command(*change)
    assert watcher.command("MULTI") == "OK"
    assert watcher.command("SET", "watched", "mine") == "QUEUED"
    assert watcher.command("EXEC") is NULL_ARRAY
    assert other.command("GET", "watched") != b"mine"


def test_exec_of_a_dirty_transaction_is_a_nil_array_in_resp2_and_a_null_in_resp3(server):
    for protocol, expected in ((2, b"*-1\r\n"), (3, b"_\r\n")):
        watcher, other = RawConnection(server.port), RawConnection(server.port)
        watcher.command("HELLO", str(protocol))
        watcher.command("WATCH", "k")
        other.command("SET", "k", str(protocol))
        watcher.command("MULTI")
        watcher.command("PING")
        watcher.sock.sendall(b"*1\r\n$4\r\nEXEC\r\n")
        assert watcher.sock.recv(100) == expected


def test_a_change_to_another_key_or_a_read_leaves_the_transaction_alone(two):
    watcher, other = two
    other.command("SET", "watched", "v")
    watcher.command("WATCH", "watched")
    other.command("SET", "unrelated", "1")
    other.command("GET", "watched")
    other.command("SET", "watched", "v", "NX")   # refused: changes nothing
    assert exec_after(watcher) == ["PONG"]


def test_a_client_that_disconnects_stops_watching(server, raw):
    watcher = raw()
    watcher.command("WATCH", "k")
    watchers = server.state.keyspace.dbs[0].watchers
    assert b"k" in watchers
    watcher.close()
    deadline = time.monotonic() + 10
    while len(server.state.clients):   # the connection thread notices the hang-up
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert b"k" not in watchers


# --- expiry, with a fake clock --------------------------------------------------------

@pytest.fixture
def clocked():
    clock = FakeClock()
    srv = RedisServer(make_config(), clock=clock)
    srv.start()
    yield srv, clock
    srv.stop()


def test_a_watched_key_that_expires_before_exec_fails_the_transaction(clocked):
    srv, clock = clocked
    conn = RawConnection(srv.port)
    conn.command("SET", "k", "v", "PX", "100")
    conn.command("WATCH", "k")
    clock.advance(0.2)                # expired, whether or not anything reclaimed it
    assert exec_after(conn) is NULL_ARRAY


def test_a_key_already_expired_when_watched_may_be_reclaimed_without_failing_exec(clocked):
    srv, clock = clocked
    conn, other = RawConnection(srv.port), RawConnection(srv.port)
    conn.command("SET", "k", "v", "PX", "100")
    clock.advance(0.2)
    conn.command("WATCH", "k")
    other.command("DEL", "k")         # reclaims the expired key: logically no change
    assert exec_after(conn) == ["PONG"]
    conn.command("SET", "k", "v", "PX", "100")
    clock.advance(0.2)
    conn.command("WATCH", "k")
    other.command("SET", "k", "new")  # but giving it a new value is a change
    assert exec_after(conn) is NULL_ARRAY


# --- atomicity ----------------------------------------------------------------------

def run_threads(target, count: int = THREADS) -> None:
    start = threading.Barrier(count)
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            start.wait()
            target()
        except BaseException as err:
            failures.append(err)

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures, failures


def test_watch_multi_exec_retry_loops_lose_no_increment_under_eight_threads(server):
    def work() -> None:
        conn = RawConnection(server.port)
        done = 0
        while done < ROUNDS:
            conn.command("WATCH", "counter")
            value = int(conn.command("GET", "counter") or 0)
            conn.command("MULTI")
            conn.command("SET", "counter", str(value + 1))
            if conn.command("EXEC") is not NULL_ARRAY:
                done += 1
        conn.close()

    run_threads(work)
    assert RawConnection(server.port).command("GET", "counter") == b"%d" % (THREADS * ROUNDS)


def test_a_reader_never_sees_half_of_a_transaction(server):
    writer_done = threading.Event()
    torn: list = []

    def writer() -> None:
        conn = RawConnection(server.port)
        for i in range(2000):
            conn.command("MULTI")
            conn.command("SET", "a", str(i))
            conn.command("SET", "b", str(i))
            conn.command("EXEC")
        writer_done.set()

    def reader() -> None:
        conn = RawConnection(server.port)
        while not writer_done.is_set():
            a, b = conn.command("MGET", "a", "b")
            if a != b:
                torn.append((a, b))

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert torn == []


# --- against real Redis: WATCH broken by a second connection ------------------------

def test_watch_invalidation_by_another_connection_matches_real_redis(server, real_redis_port):
    steps = [("watcher", ["WATCH", "k", "j"]), ("other", ["SET", "k", "1"]),
             ("watcher", ["MULTI"]), ("watcher", ["GET", "k"]), ("watcher", ["EXEC"]),
             ("watcher", ["WATCH", "j"]), ("other", ["DEL", "j"]),         # j never existed
             ("watcher", ["MULTI"]), ("watcher", ["INCR", "j"]), ("watcher", ["EXEC"]),
             ("watcher", ["WATCH", "k"]), ("watcher", ["MULTI"]), ("other", ["INCR", "k"]),
             ("watcher", ["EXEC"])]
    replies = {}
    for name, port in (("ours", server.port), ("real", real_redis_port)):
        conns = {"watcher": RawConnection(port), "other": RawConnection(port)}
        conns["other"].command("FLUSHALL")
        replies[name] = [typed(conns[who].command(*args)) for who, args in steps]
    assert replies["ours"] == replies["real"]
