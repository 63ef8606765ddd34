"""The RESP client against a tiny scripted fake server and against our Redis clone.

The fake server answers each command with whatever the test's `respond(argv)` returns
(encoded by common/resp.py), and records every command it saw, so the client's exact
wire behaviour (handshake, EVAL fallback, no blind retries) can be asserted.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from common.resp import ErrorReply, RequestParser, Status, encode
from common.resp_client import (RedisClient, RedisConnectionError, RedisURL, ResponseError,
                                Script)
from common.tcpserver import ThreadedTCPServer

CLOSE = object()  # respond() returns this to hang up instead of answering


class ThenClose:
    """respond() returns ThenClose(reply) to answer and then hang up."""

    def __init__(self, reply) -> None:
        self.reply = reply


class FakeRedis:
    def __init__(self, respond) -> None:
        self.respond = respond
        self.commands: list[list[bytes]] = []
        self.connections = 0
        self.tcp = ThreadedTCPServer("127.0.0.1", 0, self._handle, name="fake-redis")

    def _handle(self, sock: socket.socket, addr) -> None:
        self.connections += 1
        parser = RequestParser()
        while data := sock.recv(65536):
            parser.feed(data)
            for argv in parser:
                self.commands.append(argv)
                reply = self.respond(argv)
                if reply is CLOSE:
                    return
                if isinstance(reply, ThenClose):
                    sock.sendall(encode(reply.reply))
                    return
                sock.sendall(encode(reply))

    def names(self) -> list[str]:
        return [argv[0].decode().upper() for argv in self.commands]


@pytest.fixture
def fake():
    servers: list[FakeRedis] = []

    def start(respond) -> FakeRedis:
        servers.append(FakeRedis(respond))
        servers[-1].tcp.start()
        return servers[-1]

    yield start
    for srv in servers:
        srv.tcp.shutdown()


def ok(argv):
    return Status("OK")


# --- URLs ------------------------------------------------------------------------------------

def test_url_with_password_and_database():
    url = RedisURL.parse("redis://:s3cret@cache.local:6380/2")
    assert url == RedisURL("cache.local", 6380, 2, None, "s3cret")


def test_url_with_username_and_defaults():
    assert RedisURL.parse("redis://app:pw@10.0.0.1") == RedisURL("10.0.0.1", 6379, 0, "app", "pw")
    assert RedisURL.parse("redis://") == RedisURL()


@pytest.mark.parametrize("url", ["http://localhost", "redis://localhost/zero", "redis://h:port",
                                 "redis://h/1?timeout=3"])
def test_bad_urls_are_refused_with_a_reason(url):
    with pytest.raises(ValueError):
        RedisURL.parse(url)


# --- against the fake server -------------------------------------------------------------------

def test_connection_handshake_authenticates_and_selects_the_database(fake):
    srv = fake(ok)
    client = RedisClient.from_url(f"redis://app:pw@127.0.0.1:{srv.tcp.port}/3")
    assert client.execute("PING") == Status("OK")
    assert srv.commands == [[b"AUTH", b"app", b"pw"], [b"SELECT", b"3"], [b"PING"]]


def test_a_failed_handshake_raises_the_servers_error(fake):
    srv = fake(lambda argv: ErrorReply("WRONGPASS invalid username-password pair"))
    client = RedisClient.from_url(f"redis://:bad@127.0.0.1:{srv.tcp.port}")
    with pytest.raises(ResponseError) as err:
        client.execute("PING")
    assert err.value.code == "WRONGPASS"


def test_evalsha_falls_back_to_eval_when_the_server_lacks_the_script(fake):
    def respond(argv):
        if argv[0] == b"EVALSHA":
            return ErrorReply("NOSCRIPT No matching script. Please use EVAL.")
        return 42

    srv = fake(respond)
    client = RedisClient(port=srv.tcp.port)
    script = Script("return 42")
    assert client.evalsha(script, ["k"], [1]) == 42
    assert srv.commands == [[b"EVALSHA", script.sha.encode(), b"1", b"k", b"1"],
                            [b"EVAL", b"return 42", b"1", b"k", b"1"]]


def test_pipelined_scripts_retry_only_the_ones_that_were_missing(fake):
    def respond(argv):
        if argv[0] == b"EVALSHA" and argv[3] == b"b":
            return ErrorReply("NOSCRIPT No matching script. Please use EVAL.")
        return argv[3]

    srv = fake(respond)
    client = RedisClient(port=srv.tcp.port)
    script = Script("return KEYS[1]")
    calls = [(script, [key], []) for key in ("a", "b", "c")]
    assert client.eval_many(calls) == [b"a", b"b", b"c"]
    assert srv.names() == ["EVALSHA", "EVALSHA", "EVALSHA", "EVAL"]


def test_a_connection_the_server_closed_while_idle_is_replaced_not_reused(fake):
    srv = fake(lambda argv: ThenClose(Status("PONG")))  # like a server restarting between calls
    client = RedisClient(port=srv.tcp.port)
    assert client.execute("PING") == "PONG"
    deadline = time.monotonic() + 5
    while not client._idle[0].looks_closed() and time.monotonic() < deadline:
        time.sleep(0.001)  # wait for the server's FIN to arrive
    assert client.execute("PING") == "PONG"  # no error: the dead connection was skipped
    assert srv.connections == 2


def test_a_connection_that_failed_mid_command_is_dropped_and_the_command_not_retried(fake):
    srv = fake(lambda argv: CLOSE if argv[0] == b"HANGUP" else Status("PONG"))
    client = RedisClient(port=srv.tcp.port)
    assert client.execute("PING") == "PONG"
    with pytest.raises(RedisConnectionError, match="closed"):
        client.execute("HANGUP")
    assert client.execute("PING") == "PONG"  # reconnected
    assert srv.names() == ["PING", "HANGUP", "PING"]
    assert srv.connections == 2


def test_a_silent_server_times_out_quickly():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # accepts connections (the kernel does) but never answers
    try:
        client = RedisClient(port=listener.getsockname()[1], timeout=0.1)
        started = time.monotonic()
        with pytest.raises(RedisConnectionError, match="no reply within"):
            client.execute("PING")
        assert time.monotonic() - started < 0.5
    finally:
        listener.close()


def test_nothing_listening_is_a_connection_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, not listening: connect is refused
        with pytest.raises(RedisConnectionError, match="connect to"):
            RedisClient(port=port).execute("PING")


def test_default_timeouts_are_well_under_a_second():
    client = RedisClient()
    assert client.timeout < 1 and client.connect_timeout < 1


# --- against our Redis clone ---------------------------------------------------------------------

def test_commands_and_error_replies_against_the_clone(server):
    client = RedisClient(port=server.port)
    assert client.execute("SET", "greeting", "hello") == "OK"
    assert client.execute("GET", "greeting") == b"hello"
    with pytest.raises(ResponseError, match="WRONGTYPE|not an integer"):
        client.execute("INCR", "greeting")


def test_pipeline_returns_replies_in_order_with_errors_in_place(server):
    client = RedisClient(port=server.port)
    replies = client.pipeline([("SET", "n", 1), ("INCR", "n"), ("INCR", "greeting-missing"),
                               ("LPUSH", "n", "x"), ("GET", "n")])
    assert replies[:3] == [Status("OK"), 2, 1]
    assert isinstance(replies[3], ErrorReply) and replies[3].startswith("WRONGTYPE")
    assert replies[4] == b"2"


def test_many_threads_share_the_pool_safely(server):
    client = RedisClient(port=server.port, max_idle=4)

    def work():
        for _ in range(50):
            client.execute("INCR", "counter")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert client.execute("GET", "counter") == b"400"
    assert len(client._idle) <= 4
    client.close()
