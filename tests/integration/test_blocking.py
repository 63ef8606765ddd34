"""Blocking pops over real sockets: BLPOP & co. waiting for a push, a timeout, a hang-up.

Each test waits for *observable* state (the registry's count of blocked clients, or
a reply) with a deadline, never for a fixed sleep. Timing assertions are one-sided or
generous: a timeout must not fire early, and must fire within a few seconds.
"""

from __future__ import annotations

import threading
import time

import pytest

from common.resp import NULL_ARRAY, encode_command
from redis_clone.server import RedisServer
from tests.integration.helpers import wait_until
from tests.conftest import RawConnection, make_config

DEADLINE = 5.0  # seconds: generous, only reached when something is broken



def blocked(server) -> int:
    return len(server.state.keyspace.blocking)


def start_blocking(server, conn: RawConnection, *command) -> None:
    """Send a blocking command and return once the server has queued this client."""
    before = blocked(server)
    conn.send(encode_command(*command))
    wait_until(lambda: blocked(server) == before + 1, timeout=DEADLINE, message=f"{command} to block")


# --------------------------------------------------------------------------- waking

def test_blpop_in_one_client_is_woken_by_lpush_from_another(server, raw):
    waiter, pusher = raw(), raw()
    start_blocking(server, waiter, "BLPOP", "queue", 0)
    assert pusher.command("LPUSH", "queue", "job") == 1
    assert waiter.read() == [b"queue", b"job"]
    assert pusher.command("EXISTS", "queue") == 0
    assert blocked(server) == 0


def test_brpop_is_woken_with_the_last_element(server, raw):
    waiter, pusher = raw(), raw()
    start_blocking(server, waiter, "BRPOP", "queue", 0)
    pusher.command("RPUSH", "queue", "a", "b", "c")
    assert waiter.read() == [b"queue", b"c"]
    assert pusher.command("LRANGE", "queue", 0, -1) == [b"a", b"b"]


def test_three_blocked_clients_are_served_in_the_order_they_blocked(server, raw):
    clients = [raw() for _ in range(3)]
    for conn in clients:
        start_blocking(server, conn, "BLPOP", "queue", 0)
    pusher = raw()
    pusher.command("RPUSH", "queue", "first")
    assert clients[0].read() == [b"queue", b"first"]
    pusher.command("RPUSH", "queue", "second", "third")
    assert clients[1].read() == [b"queue", b"second"]
    assert clients[2].read() == [b"queue", b"third"]


def test_a_client_blocked_on_several_keys_is_woken_by_whichever_fills(server, raw):
    waiter, pusher = raw(), raw()
    start_blocking(server, waiter, "BLPOP", "a", "b", "c", 0)
    pusher.command("RPUSH", "c", "x")
    assert waiter.read() == [b"c", b"x"]
    pusher.command("RPUSH", "a", "y")
    assert pusher.command("LLEN", "a") == 1  # the served client is no longer waiting on a


def test_blmove_is_woken_and_moves_the_element(server, raw):
    waiter, pusher = raw(), raw()
    start_blocking(server, waiter, "BLMOVE", "src", "dst", "RIGHT", "LEFT", 0)
    pusher.command("RPUSH", "src", "job")
    assert waiter.read() == b"job"
    assert pusher.command("LRANGE", "dst", 0, -1) == [b"job"]
    assert pusher.command("EXISTS", "src") == 0


def test_brpoplpush_is_woken_and_its_push_wakes_a_client_blocked_on_the_destination(server, raw):
    mover, consumer, pusher = raw(), raw(), raw()
    start_blocking(server, mover, "BRPOPLPUSH", "src", "dst", 0)
    start_blocking(server, consumer, "BLPOP", "dst", 0)
    pusher.command("LPUSH", "src", "job")
    assert mover.read() == b"job"
    assert consumer.read() == [b"dst", b"job"]


def test_blmpop_is_woken_with_up_to_count_elements(server, raw):
    waiter, pusher = raw(), raw()
    start_blocking(server, waiter, "BLMPOP", 0, 2, "a", "b", "LEFT", "COUNT", 2)
    pusher.command("RPUSH", "b", "1", "2", "3")
    assert waiter.read() == [b"b", [b"1", b"2"]]


def test_a_key_of_another_type_keeps_the_client_waiting(server, raw):
    waiter, writer = raw(), raw()
    start_blocking(server, waiter, "BLPOP", "q", 0)
    writer.command("SET", "q", "a string")
    writer.command("DEL", "q")
    assert blocked(server) == 1
    writer.command("RPUSH", "q", "x")
    assert waiter.read() == [b"q", b"x"]


def test_a_blocked_client_is_woken_in_resp3(server, raw):
    waiter, pusher = raw(), raw()
    waiter.command("HELLO", 3)
    start_blocking(server, waiter, "BLPOP", "q", 0)
    pusher.command("RPUSH", "q", "x")
    assert waiter.read() == [b"q", b"x"]


# --------------------------------------------------------------------------- timeouts

def test_a_timeout_returns_a_null_array_and_not_early(server, raw):
    conn = raw()
    started = time.monotonic()
    assert conn.command("BLPOP", "nothing", "0.2") is NULL_ARRAY
    elapsed = time.monotonic() - started
    assert 0.2 <= elapsed < DEADLINE
    assert blocked(server) == 0


@pytest.mark.parametrize("command", [
    ("BRPOP", "nothing", "0.05"),
    ("BLMOVE", "nothing", "dst", "LEFT", "LEFT", ".05"),
    ("BRPOPLPUSH", "nothing", "dst", "5e-2"),
    ("BLMPOP", "0.05", 1, "nothing", "RIGHT"),
])
def test_every_blocking_command_times_out_with_a_null_array(server, raw, command):
    started = time.monotonic()
    assert raw().command(*command) is NULL_ARRAY
    assert 0.05 <= time.monotonic() - started < DEADLINE


def test_a_timeout_in_resp3_is_a_null(server, raw):
    conn = raw()
    conn.command("HELLO", 3)
    assert conn.command("BLPOP", "nothing", "0.01") is None


def test_a_fractional_timeout_below_a_millisecond_still_times_out(server, raw):
    # 0.0001 s rounds up to 1 ms; rounding down would mean "block forever".
    assert raw().command("BLPOP", "nothing", "0.0001") is NULL_ARRAY


def test_a_timed_out_client_no_longer_takes_pushes(server, raw):
    conn = raw()
    assert conn.command("BLPOP", "q", "0.01") is NULL_ARRAY
    conn.command("RPUSH", "q", "x")
    assert conn.command("LLEN", "q") == 1


# --------------------------------------------------------------------------- disconnects, pipelines

def test_a_client_that_disconnects_while_blocked_leaves_no_waiter_behind(server, raw):
    waiter, pusher = raw(), raw()
    start_blocking(server, waiter, "BLPOP", "q", 0)
    waiter.close()
    wait_until(lambda: blocked(server) == 0, timeout=DEADLINE,
               message="the hung-up client to be dropped")
    assert server.state.keyspace.blocking.waiters_on(0, b"q") == []
    pusher.command("RPUSH", "q", "x")
    assert pusher.command("LRANGE", "q", 0, -1) == [b"x"]  # nobody took it


def test_replies_to_earlier_pipelined_commands_arrive_before_the_block_ends(server, raw):
    waiter, pusher = raw(), raw()
    waiter.send(encode_command("PING") + encode_command("BLPOP", "q", 0))
    assert waiter.read() == "PONG"
    wait_until(lambda: blocked(server) == 1, timeout=DEADLINE, message="BLPOP to block")
    pusher.command("RPUSH", "q", "x")
    assert waiter.read() == [b"q", b"x"]


def test_a_push_later_in_the_same_pipeline_runs_only_after_the_block_times_out(server, raw):
    conn = raw()
    conn.send(encode_command("BLPOP", "q", "0.05") + encode_command("RPUSH", "q", "x")
              + encode_command("LPOP", "q"))
    assert [conn.read() for _ in range(3)] == [NULL_ARRAY, 1, b"x"]


def test_a_push_earlier_in_the_same_pipeline_is_popped_at_once(server, raw):
    conn = raw()
    conn.send(encode_command("RPUSH", "q", "x") + encode_command("BLPOP", "q", 0))
    assert [conn.read() for _ in range(2)] == [1, [b"q", b"x"]]


def test_commands_sent_while_blocked_run_after_the_client_is_served(server, raw):
    waiter, pusher = raw(), raw()
    start_blocking(server, waiter, "BLPOP", "q", 0)
    waiter.send(encode_command("RPUSH", "q", "mine") + encode_command("LLEN", "q"))
    pusher.command("RPUSH", "q", "theirs")
    assert [waiter.read() for _ in range(3)] == [[b"q", b"theirs"], 1, 1]


def test_every_pushed_element_reaches_exactly_one_of_many_concurrent_consumers(server):
    redis = pytest.importorskip("redis")
    total, received, lock = 300, [], threading.Lock()

    def consume():
        conn = redis.Redis(port=server.port, socket_timeout=DEADLINE * 2)
        deadline = time.monotonic() + DEADLINE * 2
        while time.monotonic() < deadline:
            with lock:
                if len(received) >= total:
                    break
            item = conn.blpop(["jobs:a", "jobs:b"], timeout=0.05)
            if item is not None:
                with lock:
                    received.append(item[1])
        conn.close()

    def produce(key: str, start: int):
        conn = redis.Redis(port=server.port, socket_timeout=DEADLINE)
        for i in range(start, total, 3):
            conn.rpush(key, i)
        conn.close()

    threads = [threading.Thread(target=consume) for _ in range(5)]
    threads += [threading.Thread(target=produce, args=(key, n))
                for n, key in enumerate(("jobs:a", "jobs:b", "jobs:a"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(int(item) for item in received) == list(range(total))


# --------------------------------------------------------------------------- visibility, shutdown

def test_info_reports_blocked_clients_and_client_list_flags_them(server, raw):
    waiter, observer = raw(), raw()
    assert b"blocked_clients:0\r\n" in observer.command("INFO", "clients")
    start_blocking(server, waiter, "BRPOP", "q", 0)
    info = observer.command("INFO", "clients")
    assert b"blocked_clients:1\r\n" in info
    assert b"clients_in_timeout_table:0\r\n" in info  # it waits forever
    lines = observer.command("CLIENT", "LIST").splitlines()
    assert sum(b" flags=b " in line and b" cmd=brpop " in line for line in lines) == 1
    observer.command("RPUSH", "q", "x")
    waiter.read()
    assert b"blocked_clients:0\r\n" in observer.command("INFO", "clients")


def test_stopping_the_server_wakes_blocked_clients_promptly():
    server = RedisServer(make_config())
    server.start()
    conn = RawConnection(server.port)
    try:
        start_blocking(server, conn, "BLPOP", "q", 0)
        started = time.monotonic()
        server.stop()
        # Thread joins wait up to 5 s each; a blocked client left asleep would cost that.
        assert time.monotonic() - started < 2.0
        assert conn.sock.recv(1) == b""  # closed without a reply
    finally:
        conn.close()
