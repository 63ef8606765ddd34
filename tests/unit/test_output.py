"""ClientOutput over a local socket pair: pushed messages and replies stay in order,
a reader that does not read makes bytes wait (never the writer), the hard limit kills
the connection, and the owner's replies obey the hard and soft limits."""

from __future__ import annotations

import socket
import threading

import pytest

from common.clock import FakeClock
from redis_clone.config import Config
from redis_clone.output import UNLIMITED, ClientOutput, OutputLimits


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


# --- the owner's replies within client-output-buffer-limit ---------------------------

def test_a_reply_batch_over_the_hard_limit_is_not_sent_and_kills_the_client(pair):
    ours, theirs = pair
    output = ClientOutput(ours)
    assert output.reply(b"x" * 1001, (1000, 0, 0)) is False
    assert output.killed
    theirs.settimeout(5)
    assert theirs.recv(65536) == b""  # not one byte of it, as Redis drops the whole reply


def test_a_reply_at_the_hard_limit_is_sent(pair):
    ours, theirs = pair
    output = ClientOutput(ours)
    assert output.reply(b"+" + b"x" * 997 + b"\r\n", (1000, 0, 0)) is True
    assert read_exactly(theirs, 1000)[:2] == b"+x"


def test_a_reader_that_takes_nothing_over_the_soft_limit_is_killed_after_the_seconds(pair):
    ours, theirs = pair
    clock = FakeClock()
    output = ClientOutput(ours, clock)
    # Zero seconds: the first poll() finds the socket full, the next check kills it.
    assert output.reply(b"x" * 200_000, (0, 10_000, 0)) is False
    assert output.killed


def test_a_reader_that_keeps_up_is_never_cut_off_by_the_soft_limit(pair):
    ours, theirs = pair
    output = ClientOutput(ours)
    message = bytes(range(256)) * 1000
    theirs.settimeout(5)
    received = bytearray()
    reader = threading.Thread(target=lambda: received.extend(read_exactly(theirs, len(message))))
    reader.start()
    assert output.reply(message, (0, 10_000, 5)) is True
    reader.join(5)
    assert bytes(received) == message


def test_output_limits_are_parsed_by_class_and_reparsed_when_the_setting_changes():
    config = Config()
    limits = OutputLimits(config)
    assert limits.of("normal") is UNLIMITED
    assert limits.of("pubsub") == (32 * 1024 * 1024, 8 * 1024 * 1024, 60)
    config.set("client-output-buffer-limit", "normal 1mb 512kb 5")
    assert limits.of("normal") == (1024 * 1024, 512 * 1024, 5)
    assert limits.of("pubsub") == (32 * 1024 * 1024, 8 * 1024 * 1024, 60)
