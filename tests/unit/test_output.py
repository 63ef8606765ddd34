"""ClientOutput over a local socket pair: pushed messages and replies stay in order,
a reader that does not read makes bytes wait (never the writer), and the hard limit
kills the connection."""

from __future__ import annotations

import socket
import threading

import pytest

from redis_clone.output import ClientOutput


@pytest.fixture
def pair():
    ours, theirs = socket.socketpair()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    theirs.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    yield ours, theirs
    ours.close()
    theirs.close()


def read_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, "closed early"
        data += chunk
    return data


def test_unshared_output_is_a_plain_sendall(pair):
    ours, theirs = pair
    output = ClientOutput(ours)
    output.reply(b"+OK\r\n")
    assert read_exactly(theirs, 5) == b"+OK\r\n"


def test_pushes_that_do_not_fit_wait_and_go_out_before_the_next_reply(pair):
    ours, theirs = pair
    output = ClientOutput(ours)
    output.shared = True
    message = b"m" * 100_000
    output.push(message, hard_limit=0)   # far more than the socket buffers hold
    assert output.pending                # kept, not blocking the pushing thread
    total = len(message) + 5
    received = bytearray()
    theirs.settimeout(5)
    # The owner's reply blocks until the reader catches up, so it runs on a thread.
    replier = threading.Thread(target=output.reply, args=(b"+OK\r\n",))
    replier.start()
    while len(received) < total:
        received += theirs.recv(65536)
    replier.join(5)
    assert bytes(received) == message + b"+OK\r\n"
    assert not output.pending


def test_passing_the_hard_limit_kills_the_connection(pair):
    ours, theirs = pair
    output = ClientOutput(ours)
    output.shared = True
    for _ in range(100):
        output.push(b"x" * 10_000, hard_limit=50_000)
        if output.killed:
            break
    assert output.killed
    theirs.settimeout(5)
    while theirs.recv(65536):
        pass  # what was sent before the kill, then EOF
    output.push(b"late", hard_limit=50_000)  # ignored once killed
