"""Shared fixtures: our server on a free port, real redis-server for differential tests,
and a raw RESP connection for byte-level assertions."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from contextlib import contextmanager
from typing import Callable, Iterator

import pytest

from common.resp import INCOMPLETE, ReplyParser, encode_command
from redis_clone.config import Config
from redis_clone.server import RedisServer


def make_config(**overrides: str) -> Config:
    config = Config()
    config.set("port", "0", startup=True)
    config.set("save", "", startup=True)
    for name, value in overrides.items():
        config.set(name.replace("_", "-"), value, startup=True)
    return config


@pytest.fixture
def server():
    """Our Redis clone, in-process, on a port the OS picked."""
    srv = RedisServer(make_config())
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def client(server):
    redis = pytest.importorskip("redis")
    conn = redis.Redis(port=server.port, socket_timeout=10)
    yield conn
    conn.close()


class RawConnection:
    """A bare socket speaking RESP: send exact bytes, read exact replies."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.parser = ReplyParser()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def command(self, *args):
        self.send(encode_command(*args))
        return self.read()

    def read(self):
        while (frame := self.parser.get()) is INCOMPLETE:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("server closed the connection")
            self.parser.feed(data)
        return frame

    def read_raw_until_closed(self) -> bytes:
        """Everything the server sends until it closes the connection."""
        chunks = []
        while data := self.sock.recv(65536):
            chunks.append(data)
        return b"".join(chunks)

    def close(self) -> None:
        self.sock.close()


WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
"""Spelled out here, not imported from redis_clone.errors, so tests check the text itself."""


def exchange(conn: RawConnection, *args, expected: bytes) -> bytes:
    """Send one command and read exactly len(expected) bytes of reply (byte-level checks)."""
    conn.send(encode_command(*args))
    data = b""
    while len(data) < len(expected):
        chunk = conn.sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def connections(port: int) -> Iterator[Callable[[], RawConnection]]:
    """A fixture body: a factory of raw connections to `port`, all closed afterwards."""
    conns: list[RawConnection] = []

    def connect() -> RawConnection:
        conns.append(RawConnection(port))
        return conns[-1]

    yield connect
    for conn in conns:
        conn.close()


@pytest.fixture
def raw(server):
    yield from connections(server.port)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def real_redis(*flags: str) -> Iterator[int]:
    """A real redis-server with `flags` on a free port, or skip (with the reason) when
    it is absent or does not start."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--save", "", "--appendonly", "no",
                             "--bind", "127.0.0.1", *flags],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.skip("redis-server did not start")
            time.sleep(0.05)
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="session")
def real_redis_port():
    """The real redis-server the differential tests compare with."""
    with real_redis() as port:
        yield port
