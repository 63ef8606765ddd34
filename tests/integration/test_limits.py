"""Resource limits end to end, and that one client cannot starve the others.

The limits: client-query-buffer-limit (an endless bulk is cut off as it arrives),
proto-max-bulk-len set at run time, client-output-buffer-limit for normal clients (hard
and soft) and for pub/sub (a slow subscriber goes, the others keep their messages).
Starvation: a client that never reads its huge replies, one that streams a giant bulk
slowly, and one that floods pipelines and transactions must each leave every other
client served within a deadline, and the server's memory bounded.
"""

from __future__ import annotations

import socket
import threading
import time

import psutil
import pytest

from common.resp import encode_command
from tests.conftest import RawConnection
from tests.integration.helpers import wait_until

redis = pytest.importorskip("redis")

DEADLINE = 10.0
MB = 1024 * 1024
INVALID_BULK_LENGTH = b"-ERR Protocol error: invalid bulk length\r\n"
TOO_LONG = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"



def non_reading_connection(port: int) -> socket.socket:
    """A client with a small receive window, so its unread replies back up at once."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(DEADLINE)
    sock.connect(("127.0.0.1", port))
    return sock


def send_until_cut_off(sock: socket.socket, chunk: bytes, most: int) -> int:
    """Send `chunk` repeatedly (at most `most` bytes); return how much went out before
    the server closed the connection. Fails if it never does."""
    sent = 0
    try:
        while sent < most:
            sock.sendall(chunk)
            sent += len(chunk)
        assert sock.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        pass  # closed with our bytes unread: the kernel answers with a reset
    return sent


def listed(client, sock: socket.socket) -> dict | None:
    """The CLIENT LIST entry of the connection `sock`, if the server still has it."""
    port = sock.getsockname()[1]
    return next((c for c in client.client_list() if c["addr"].endswith(f":{port}")), None)


def is_gone(client, sock: socket.socket) -> bool:
    return listed(client, sock) is None


def served_within(client, seconds: float, rounds: int = 20) -> None:
    """Reads and writes from `client` each answered within `seconds`."""
    client.delete("other:counter")
    for i in range(rounds):
        started = time.monotonic()
        client.set(f"other:{i}", i)
        assert client.incr("other:counter") == i + 1
        assert client.get(f"other:{i}") == str(i).encode()
        assert time.monotonic() - started < seconds


# --- client-query-buffer-limit ----------------------------------------------------

def test_an_endless_bulk_is_cut_off_at_the_query_buffer_limit_without_a_reply(server, client):
    client.config_set("client-query-buffer-limit", "1mb")
    assert client.config_get("client-query-buffer-limit") == {"client-query-buffer-limit": "1048576"}
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE)
    sock.sendall(b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$100000000\r\n")
    # The 100 MB bulk never completes: the server drops the client once it holds
    # more than 1 MB of it, not when (or after) the whole bulk has arrived.
    sent = send_until_cut_off(sock, b"x" * 65536, most=50 * MB)
    assert sent < 10 * MB
    sock.close()
    assert client.exists("big") == 0
    assert client.ping()


def test_a_pipeline_bigger_than_the_query_buffer_limit_is_served(server, client):
    """The limit is on input not yet parsed, not on what a client sends in all."""
    client.config_set("client-query-buffer-limit", "1mb")
    conn = RawConnection(server.port)
    value = "v" * 1000
    conn.send(encode_command("SET", "k", value) * 3000)  # ~3 MB in one go
    assert [conn.read() for _ in range(3000)] == ["OK"] * 3000
    conn.close()


def test_proto_max_bulk_len_set_at_run_time_applies_to_new_connections(server, client):
    client.config_set("proto-max-bulk-len", "1mb")
    conn = RawConnection(server.port)
    conn.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048577\r\n")
    assert conn.read_raw_until_closed() == INVALID_BULK_LENGTH
    conn = RawConnection(server.port)
    assert conn.command("SET", "k", "x" * MB) == "OK"  # exactly the limit is allowed
    assert str(conn.command("SETRANGE", "k", str(MB), "x")) == TOO_LONG
    assert str(conn.command("APPEND", "k", "y")) == TOO_LONG
    assert conn.command("STRLEN", "k") == MB
    conn.close()


# --- client-output-buffer-limit normal ----------------------------------------------

def test_a_reply_over_the_normal_hard_limit_closes_the_client_and_sends_nothing(server, client):
    """As Redis: PING, GET of a 2 MB value, PING with a 1 MB hard limit gets not one byte."""
    client.set("big", b"a" * 2 * MB)
    client.config_set("client-output-buffer-limit", "normal 1mb 0 0")
    conn = RawConnection(server.port)
    assert conn.command("GET", "small") is None  # small replies are untouched
    conn.send(b"PING\r\nGET big\r\nPING\r\n")
    assert conn.read_raw_until_closed() == b""
    assert wait_until(lambda: is_gone(client, conn.sock))
    conn.close()
    assert client.strlen("big") == 2 * MB  # the others carry on


def test_a_client_that_stops_reading_over_the_soft_limit_is_closed_after_its_seconds(server, client):
    client.set("big", b"a" * 32 * MB)  # more than the kernel buffers on both sides hold
    client.config_set("client-output-buffer-limit", "normal 0 1mb 1")
    sock = non_reading_connection(server.port)
    started = time.monotonic()
    sock.sendall(b"GET big\r\n")
    wait_until(lambda: (listed(client, sock) or {}).get("cmd") == "get")
    assert wait_until(lambda: is_gone(client, sock))
    assert 1.0 <= time.monotonic() - started < DEADLINE
    received = 0
    try:
        while chunk := sock.recv(MB):
            received += len(chunk)
    except ConnectionResetError:
        pass
    assert received < 32 * MB
    sock.close()


def test_a_client_reading_a_reply_over_the_soft_limit_gets_all_of_it(server):
    reader = redis.Redis(port=server.port, socket_timeout=DEADLINE)
    reader.set("big", b"a" * 8 * MB)
    reader.config_set("client-output-buffer-limit", "normal 0 1mb 1")
    assert len(reader.get("big")) == 8 * MB
    reader.close()


# --- client-output-buffer-limit pubsub ----------------------------------------------

def test_a_slow_subscriber_is_cut_off_while_a_fast_one_gets_every_message(server, client):
    client.config_set("client-output-buffer-limit", "pubsub 256kb 0 0")
    slow = non_reading_connection(server.port)
    slow.sendall(b"SUBSCRIBE feed\r\n")
    fast = client.pubsub()
    fast.subscribe("feed")
    fast.get_message(timeout=DEADLINE)  # the subscribe confirmation
    wait_until(lambda: client.pubsub_numsub("feed") == [(b"feed", 2)])
    message = b"m" * 16384
    received = 0
    for i in range(200):
        client.publish("feed", message)
        while (got := fast.get_message(timeout=0)) is not None:
            received += got["data"] == message
    wait_until(lambda: client.pubsub_numsub("feed") == [(b"feed", 1)])
    while received < 200:
        got = fast.get_message(timeout=DEADLINE)
        assert got is not None, f"the fast subscriber got only {received} messages"
        received += got["data"] == message
    fast.close()
    slow.close()


# --- one client cannot starve the others ------------------------------------------

def test_a_client_that_never_reads_huge_replies_stalls_nobody_and_memory_stays_bounded(server, client):
    pipe = client.pipeline(transaction=False)
    for start in range(0, 200_000, 10_000):
        pipe.rpush("big", *range(start, start + 10_000))
    pipe.execute()
    process = psutil.Process()
    baseline = process.memory_info().rss
    hog = non_reading_connection(server.port)
    # 200 replies of ~1.3 MB each, in one write: held at once they would be hundreds of
    # MB. The hog's thread must instead park in sendall() after the first few.
    hog.sendall(b"LRANGE big 0 -1\r\n" * 200)
    wait_until(lambda: lrange_calls(client) > 0)
    served_within(client, 1.0)  # writes need the keyspace alone: nobody holds it while sending
    watch_until = time.monotonic() + 2.0  # time enough to run dozens more if nothing held it
    while time.monotonic() < watch_until:
        assert lrange_calls(client) < 10
        assert process.memory_info().rss - baseline < 100 * MB
        time.sleep(0.05)
    hog.close()


def lrange_calls(client) -> int:
    return client.info("commandstats").get("cmdstat_lrange", {}).get("calls", 0)


def test_a_client_streaming_a_giant_bulk_slowly_stalls_nobody(server, client):
    slow = RawConnection(server.port)
    slow.send(b"*3\r\n$3\r\nSET\r\n$5\r\ngiant\r\n$4000000\r\n" + b"g" * 1_000_000)
    served_within(client, 1.0)
    slow.send(b"g" * 1_000_000)
    served_within(client, 1.0)
    slow.send(b"g" * 2_000_000 + b"\r\n")
    assert slow.read() == "OK"
    assert client.strlen("giant") == 4_000_000
    slow.close()


@pytest.mark.parametrize("flood", ["pipeline", "multi"])
def test_a_client_flooding_pipelines_or_transactions_stalls_nobody(server, client, flood):
    stop = threading.Event()
    batch = (encode_command("INCR", "flood") * 1000 if flood == "pipeline" else
             b"".join([encode_command("MULTI"), encode_command("INCR", "flood") * 1000,
                       encode_command("EXEC")]))
    replies = 1000 if flood == "pipeline" else 1002

    def run_flood() -> None:
        conn = RawConnection(server.port)
        while not stop.is_set():
            conn.send(batch)
            for _ in range(replies):
                conn.read()
        conn.close()

    flooder = threading.Thread(target=run_flood)
    flooder.start()
    try:
        wait_until(lambda: int(client.get("flood") or 0) > 1000)
        before = int(client.get("flood"))
        served_within(client, 2.0)
        wait_until(lambda: int(client.get("flood")) > before)  # the flood went on all along
    finally:
        stop.set()
        flooder.join(DEADLINE)
