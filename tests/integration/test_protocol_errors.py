"""Malformed input over a real socket: Redis's exact error, then the connection closes.

A protocol error ends only the connection that sent it. Commands earlier in the same
packet are still executed and answered, other clients never notice, and a client that
vanishes mid-command leaves nothing behind. The differential tests send the same bytes
to a real redis-server and demand the same bytes back, up to the close.
"""

from __future__ import annotations

import socket
import tracemalloc

import pytest

from common.resp import encode_command
from common.tcpserver import reset_on_close
from tests.integration.helpers import wait_until
from tests.conftest import RawConnection
from tests.unit.test_resp import INLINE_AS_REDIS_SPLITS_IT

DEADLINE = 10.0


def exchange(port: int, data: bytes) -> bytes:
    """Send `data`, then read until the server closes the connection (which it must)."""
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):  # a timeout here means the server never closed
            chunks.append(chunk)
        return b"".join(chunks)



def error(text: bytes) -> bytes:
    return b"-ERR Protocol error: " + text + b"\r\n"


LIMIT = 64 * 1024  # PROTO_INLINE_MAX_SIZE: one byte more without a newline is an error

# (bytes sent, bytes Redis 7.0.15 sends back before closing). The oversized cases end
# LIMIT + 1 bytes after the last complete line, so the error comes only once the server
# has read everything: closing a socket with unread input would reset the connection.
CASES = {
    "multibulk length not a number": (b"*abc\r\n", error(b"invalid multibulk length")),
    "multibulk length over INT_MAX": (b"*3000000000\r\n", error(b"invalid multibulk length")),
    "multibulk length with a plus sign": (b"*+1\r\n", error(b"invalid multibulk length")),
    "negative bulk length": (b"*1\r\n$-5\r\n", error(b"invalid bulk length")),
    "bulk length with leading zero": (b"*1\r\n$04\r\nPING\r\n", error(b"invalid bulk length")),
    "bulk over proto-max-bulk-len": (b"*1\r\n$536870913\r\n", error(b"invalid bulk length")),
    "absurd bulk length": (b"*2\r\n$3\r\nSET\r\n$99999999999999999999\r\n", error(b"invalid bulk length")),
    "not a bulk inside multibulk": (b"*1\r\n+foo\r\n", error(b"expected '$', got '+'")),
    "CR instead of a bulk": (b"*1\r\n\r\n", error(b"expected '$', got ' '")),
    "raw byte instead of a bulk": (b"*1\r\n\xff\r\n", error(b"expected '$', got '\xff'")),
    "unbalanced double quote": (b'PING "abc\r\n', error(b"unbalanced quotes in request")),
    "unbalanced single quote": (b"ECHO 'abc\r\n", error(b"unbalanced quotes in request")),
    "text glued to a closing quote": (b'ECHO "a"b\r\n', error(b"unbalanced quotes in request")),
    "too big inline request": (b"x" * (LIMIT + 1), error(b"too big inline request")),
    "too big mbulk count string": (b"*" + b"1" * LIMIT, error(b"too big mbulk count string")),
    "too big bulk count string": (b"*1\r\n$" + b"1" * LIMIT, error(b"too big bulk count string")),
    "NUL hides the end of an inline line": (b"PING\0\r\n" + b"x" * (LIMIT - 6), error(b"too big inline request")),
    "commands before the error are answered": (
        b"PING\r\n*1\r\n$4\r\nPING\r\nECHO hi\r\n*2\r\n$4\r\nECHO\r\n$2\r\nyo\r\n*x\r\n",
        b"+PONG\r\n+PONG\r\n$2\r\nhi\r\n$2\r\nyo\r\n" + error(b"invalid multibulk length")),
    "empty commands are skipped before the error": (
        b"*0\r\n*-1\r\n\r\n\nPING\n*1\r\n$-1\r\n", b"+PONG\r\n" + error(b"invalid bulk length")),
    "errors of commands before are answered too": (
        b"NOSUCH a\r\nECHO\r\n*1\r\n:1\r\n",
        b"-ERR unknown command 'NOSUCH', with args beginning with: 'a' \r\n"
        b"-ERR wrong number of arguments for 'echo' command\r\n" + error(b"expected '$', got ':'")),
}


@pytest.mark.parametrize("data, expected", CASES.values(), ids=CASES.keys())
def test_protocol_error_gets_redis_reply_then_the_connection_closes(server, data, expected):
    assert exchange(server.port, data) == expected


@pytest.mark.parametrize("data, expected", CASES.values(), ids=CASES.keys())
def test_protocol_error_bytes_match_real_redis(real_redis_port, server, data, expected):
    theirs = exchange(real_redis_port, data)
    assert theirs == expected  # the table above is what Redis really sends
    assert exchange(server.port, data) == theirs


def test_a_protocol_error_does_not_disturb_another_client(server, raw):
    bystander = raw()
    bystander.send(b"*2\r\n$4\r\nECHO\r\n$5\r\nhel")  # a command half sent when the error hits
    assert exchange(server.port, b"*1\r\n$-5\r\n") == error(b"invalid bulk length")
    bystander.send(b"lo\r\n")
    assert bystander.read() == b"hello"
    assert bystander.command("PING") == "PONG"


def test_the_error_reply_follows_the_resp_version_of_the_client(server, raw):
    conn = raw()
    conn.send(encode_command("HELLO", "3"))
    conn.read()
    conn.send(b"*1\r\n$-5\r\n")
    assert conn.read_raw_until_closed() == error(b"invalid bulk length")


def test_a_client_vanishing_mid_command_does_not_hurt_the_server(server, raw):
    halves = [b"*3\r\n$3\r\nSET\r\n$1\r\nk", b"*2\r\n$4\r\nECHO\r\n$100000\r\n" + b"x" * 50000,
              b"ECHO \"unfinished", b"*5\r\n"]
    for half in halves:
        with socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE) as sock:
            sock.sendall(half)
    # And one that resets the connection (RST) instead of closing it politely.
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE)
    sock.sendall(halves[0])
    reset_on_close(sock)
    sock.close()

    survivor = raw()
    wait_until(lambda: len(server.state.clients) == 1,
               timeout=DEADLINE, message="the vanished clients to be forgotten")
    assert survivor.command("PING") == "PONG"
    assert survivor.command("ECHO", "still here") == b"still here"


def test_a_client_that_disconnects_before_reading_its_replies_does_not_hurt_the_server(server, raw):
    with socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE) as sock:
        sock.sendall(encode_command("ECHO", b"x" * 100_000) * 50)
    survivor = raw()
    wait_until(lambda: len(server.state.clients) == 1,
               timeout=DEADLINE, message="the vanished client to be forgotten")
    assert survivor.command("PING") == "PONG"


def test_a_huge_declared_bulk_is_neither_allocated_nor_waited_for_when_too_big(server, raw):
    tracemalloc.start()
    try:
        conn = raw()
        # Within proto-max-bulk-len: accepted, but nothing is reserved for the 512 MB.
        head = b"*2\r\n$4\r\nECHO\r\n$536870912\r\n" + b"x" * 1000
        before = server.state.stats["total_net_input_bytes"]
        conn.send(head)
        wait_until(lambda: server.state.stats["total_net_input_bytes"] - before >= len(head),
                   timeout=DEADLINE, message="the server to read the declared bulk's start")
        # One byte over: rejected straight away.
        assert exchange(server.port, b"*2\r\n$4\r\nECHO\r\n$536870913\r\n") == error(b"invalid bulk length")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024


def test_inline_commands_split_the_same_as_in_real_redis(real_redis_port, server):
    # The unit tests hard-code what Redis makes of these lines; here Redis says it live.
    lines = [line for line, args in INLINE_AS_REDIS_SPLITS_IT if args]
    ours, theirs = RawConnection(server.port), RawConnection(real_redis_port)
    try:
        for line in lines:
            ours.send(line + b"\r\n")
            theirs.send(line + b"\r\n")
            assert ours.read() == theirs.read(), line
    finally:
        ours.close()
        theirs.close()
