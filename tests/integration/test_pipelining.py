"""Pipelining: many commands in one write, replies in order, however the bytes are cut.

A client may send any number of commands without waiting; the server answers every
complete command in its buffer, in order. TCP preserves order but not boundaries, so
the server must also cope with a command split anywhere across packets.
"""

from __future__ import annotations

import socket
import threading
import time

from common.resp import INCOMPLETE, ReplyParser, encode_command

DEADLINE = 30.0


def read_replies(sock: socket.socket, count: int) -> list:
    parser, replies = ReplyParser(), []
    while len(replies) < count:
        while (reply := parser.get()) is not INCOMPLETE:
            replies.append(reply)
        if len(replies) < count:
            data = sock.recv(65536)
            assert data, f"connection closed after {len(replies)} of {count} replies"
            parser.feed(data)
    assert parser.buffered == 0, "more replies than commands"
    return replies


def test_ten_thousand_commands_in_one_write_get_ten_thousand_replies_in_order(server):
    count = 10_000
    pipeline = b"".join(encode_command("ECHO", str(i)) for i in range(count))
    with socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE) as sock:
        # Send from another thread: while we write 10,000 commands the server is already
        # writing replies, and a client that never reads could fill both socket buffers.
        sender = threading.Thread(target=sock.sendall, args=(pipeline,))
        sender.start()
        replies = read_replies(sock, count)
        sender.join(DEADLINE)
    assert replies == [str(i).encode() for i in range(count)]


def test_mixed_inline_and_multibulk_pipeline_is_answered_in_order(server):
    pipeline = (b"PING\r\n" + encode_command("ECHO", "a\r\nb") + b"ECHO c\n"
                + encode_command("NOSUCH") + b"PING \"quoted word\"\r\n")
    with socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE) as sock:
        sock.sendall(pipeline)
        replies = read_replies(sock, 5)
    assert replies == ["PONG", b"a\r\nb", b"c", "ERR unknown command 'NOSUCH', with args beginning with: ",
                       b"quoted word"]


def test_a_pipeline_split_at_awkward_byte_boundaries_still_works(server):
    commands = [encode_command("ECHO", b"x" * n + b"\r\n" + b"\0") for n in (0, 1, 2, 9, 10, 99, 100, 4096)]
    commands += [b"ECHO inline\r\n", b"PING\n", encode_command("PING", "end")]
    stream = b"".join(commands)
    # One byte at a time over the first commands (inside "*2", between "\r" and "\n",
    # inside lengths and payloads), then bigger uneven pieces.
    cuts = sorted(set(list(range(1, 40)) + [41, 43, 47, 60, 61, 62, 100, 1000, 1001, 4500, len(stream) - 1]))
    with socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        start = 0
        for cut in cuts + [len(stream)]:
            sock.sendall(stream[start:cut])
            start = cut
        replies = read_replies(sock, len(commands))
    expected = [b"x" * n + b"\r\n\0" for n in (0, 1, 2, 9, 10, 99, 100, 4096)] + [b"inline", "PONG", b"end"]
    assert replies == expected


def test_each_chunk_boundary_of_one_command_is_handled_across_reads(server):
    command = encode_command("ECHO", "boundary")
    with socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle delay per piece
        parser = ReplyParser()
        for cut in range(1, len(command)):
            # The server's input counter proves it has read the head on its own before
            # the tail is sent, so the command really arrives in two reads.
            before = server.state.stats["total_net_input_bytes"]
            sock.sendall(command[:cut])
            wait_for_input(server, before + cut)
            sock.sendall(command[cut:])
            while (reply := parser.get()) is INCOMPLETE:
                parser.feed(sock.recv(4096))
            assert reply == b"boundary"


def wait_for_input(server, total: int) -> None:
    """Wait until the server has received `total` bytes in all (its own counter says so)."""
    deadline = time.monotonic() + DEADLINE
    while server.state.stats["total_net_input_bytes"] < total:
        assert time.monotonic() < deadline, "the server never read the bytes we sent"
        time.sleep(0.0005)
