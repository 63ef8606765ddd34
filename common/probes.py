"""Looking at a server from the outside: the two moves tests and the perf tools share.

`wait_until` polls something observable (a counter in INFO, a CLIENT LIST entry, a
port that accepts) until it holds, with a deadline, instead of sleeping for a guessed
time. `send_and_read_all` sends raw bytes and reads until the server hangs up: how
garbage, oversized heads and protocol errors are checked, byte for byte.
"""

from __future__ import annotations

import socket
import time
from typing import Callable, TypeVar

T = TypeVar("T")

POLL_INTERVAL = 0.005


def wait_until(predicate: Callable[[], T], timeout: float = 10.0, message: str = "condition") -> T:
    """predicate()'s first truthy value; TimeoutError naming `message` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {message}")
        time.sleep(POLL_INTERVAL)
    return result


def send_and_read_all(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    """Send `data` to 127.0.0.1:`port`, then read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)
