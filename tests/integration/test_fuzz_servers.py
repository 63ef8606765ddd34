"""Garbage over real sockets: the clone and the balancer stay up and unwedged.

Many connections each send a burst of hostile bytes (random, or RESP/HTTP-shaped
fragments) and then close, politely or with a reset. Between bursts a well-behaved
client must still get its answers, and at the end a fresh client's WRITE command must
complete within a deadline (a lock left held by a dead connection would block it).
Connections and threads must return to where they started. The bytes come from a
seeded generator, so a failure reproduces.
"""

from __future__ import annotations

import random
import socket
import threading

import psutil
import redis

from common.tcpserver import reset_on_close
from tests.integration.helpers import client, entry, fetch, wait_until

ROUNDS = 200
RESP_TOKENS = [b"*", b"$", b"+", b":", b"\r\n", b"-1", b"0", b"2", b"3", b"99999999", b"PING",
               b"SET", b"GET", b"k", b"MULTI", b"EXEC", b"WATCH", b"BLPOP", b"SUBSCRIBE",
               b"INCR", b"LPUSH", b"\"", b"'", b"\\x", b" ", b"\x00", b"\xff"]
HTTP_TOKENS = [b"GET / HTTP/1.1\r\n", b"POST / HTTP/1.1\r\n", b"Host: x\r\n", b"\r\n",
               b"Content-Length: 5\r\n", b"Content-Length: 99999\r\n",
               b"Transfer-Encoding: chunked\r\n", b"5\r\nhello\r\n", b"0\r\n\r\n", b"ffff\r\n",
               b"Connection: keep-alive\r\n", b" ", b":", b"\x00", b"\xff", b"HTTP/9.9"]


def garbage(rng: random.Random, tokens: list[bytes]) -> bytes:
    if rng.random() < 0.3:
        return rng.randbytes(rng.randrange(1, 2000))
    return b"".join(rng.choice(tokens) if rng.random() < 0.8 else rng.randbytes(3)
                    for _ in range(rng.randrange(1, 60)))


def hit_and_run(port: int, data: bytes, rng: random.Random) -> None:
    """Connect, send `data`, maybe read a little, then close or reset the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        try:
            sock.sendall(data)
            if rng.random() < 0.3:
                sock.settimeout(0.02)  # take whatever answer is already there
                sock.recv(4096)
        except OSError:
            pass  # the server hung up on garbage first (what it may do), or had no answer yet
        if rng.random() < 0.5:  # SO_LINGER 0: close with a reset instead of a FIN
            reset_on_close(sock)


def test_the_clone_survives_garbage_and_keeps_serving(server):
    rng = random.Random(11)
    watcher = redis.Redis(port=server.port, socket_timeout=5)
    watcher.set("canary", "alive")
    baseline_clients = watcher.info("clients")["connected_clients"]
    baseline_threads = psutil.Process().num_threads()
    for _ in range(ROUNDS):
        hit_and_run(server.port, garbage(rng, RESP_TOKENS), rng)
        assert watcher.ping() and watcher.get("canary") == b"alive"
    fresh = redis.Redis(port=server.port, socket_timeout=2)
    assert fresh.incr("after-fuzz") == 1  # a WRITE: would time out on a wedged lock
    fresh.close()
    wait_until(lambda: watcher.info("clients")["connected_clients"] == baseline_clients,
               message="clients back to baseline")
    wait_until(lambda: psutil.Process().num_threads() <= baseline_threads,
               message="threads back to baseline")
    watcher.close()


def test_the_balancer_survives_garbage_and_keeps_serving(backends, balancer):
    rng = random.Random(12)
    (server,) = backends("a")
    lb = balancer(entry(server), timeouts={"header": 1.0})
    for _ in range(ROUNDS):
        hit_and_run(lb.port, garbage(rng, HTTP_TOKENS), rng)
        conn = client(lb)
        assert fetch(conn)[0] == 200
        conn.close()
    # The backend's threads serve the balancer's pooled keep-alive connections, which
    # stay open on purpose; the balancer's own per-client threads must all be gone.
    wait_until(lambda: lb.slots.open == 0 and lb.report()["in_flight"] == 0,
               message="no client connection left open")
    wait_until(lambda: not [t for t in threading.enumerate() if t.name == "lb-conn"],
               message="client connection threads gone")
