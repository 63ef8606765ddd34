"""Faults injected from outside, with no help from the servers: they must cope and leak nothing.

The balancer: a backend dies in the middle of a response, or before answering; the
rate-limit store behind its [rate_limit] section is killed and restarted. The clone:
clients vanish mid-pipeline, mid-transaction, while blocked in BLPOP and while
subscribed. After each, the servers keep serving, and connections, threads and file
descriptors (psutil) return to where they started.
"""

from __future__ import annotations

import http.client
import io
import socket
import threading

import psutil
import pytest
import redis

from common.clock import SystemClock
from common.tcpserver import reset_on_close
from load_balancer.accesslog import AccessLog
from load_balancer.balancer import LoadBalancer
from load_balancer.config import from_mapping
from rate_limiter.gateway import LimitedProxy, RateLimitService
from tests.integration.helpers import TestBackend, client, entry, fetch, wait_until
from tests.integration.test_gateway import BREAKER, redis_process  # noqa: F401 (a fixture)

BODY_SIZE = 100_000



class DyingBackend:
    """A backend that reads each request, sends `send_bytes` of a response promising
    BODY_SIZE bytes of body, then dies on that connection (reset)."""

    def __init__(self, send_bytes: int) -> None:
        self.send_bytes = send_bytes
        self.accepted = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return  # closed by stop()
            self.accepted += 1
            with sock:
                head = b""
                while b"\r\n\r\n" not in head and (data := sock.recv(65536)):
                    head += data
                response = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % BODY_SIZE
                sock.sendall((response + b"x" * BODY_SIZE)[:self.send_bytes])
                reset_on_close(sock)

    def stop(self) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)  # on Linux this is what wakes accept()
        self.listener.close()
        self.thread.join(5)


@pytest.fixture
def dying_backend():
    started: list[DyingBackend] = []

    def start(send_bytes: int) -> DyingBackend:
        started.append(DyingBackend(send_bytes))
        return started[-1]

    yield start
    for backend in started:
        backend.stop()


def open_fds() -> int:
    return psutil.Process().num_fds()


def settled(lb: LoadBalancer) -> bool:
    report = lb.report()
    servers = [server for pool in report["pools"].values() for server in pool["servers"].values()]
    return (report["in_flight"] == 0 and report["client_connections"] == 0
            and all(server["active"] == 0 for server in servers))


# --- the balancer: a backend dies ---------------------------------------------------------


def test_a_backend_dying_mid_body_cuts_the_client_off_and_leaks_nothing(balancer, dying_backend):
    requests = 5
    backend = dying_backend(send_bytes=40 + 5000)  # the head and 5000 of 100000 body bytes
    lb = balancer({"address": f"127.0.0.1:{backend.port}"},
                  health={"path": "", "passive_fails": 0})
    fds = open_fds()
    for _ in range(requests):
        conn = client(lb)
        conn.request("GET", "/")
        response = conn.getresponse()
        assert response.status == 200  # the head had gone out before the backend died
        with pytest.raises((http.client.IncompleteRead, ConnectionError)):
            response.read()
        conn.close()
    wait_until(lambda: settled(lb), message="no request, client or backend connection left")
    assert backend.accepted == requests  # a broken connection never went back to the pool
    wait_until(lambda: open_fds() <= fds, message="file descriptors back to baseline")


def test_a_backend_dying_before_answering_is_502_and_leaks_nothing(balancer, dying_backend):
    backend = dying_backend(send_bytes=0)
    lb = balancer({"address": f"127.0.0.1:{backend.port}"},
                  health={"path": "", "passive_fails": 0}, retries=0)
    fds = open_fds()
    for _ in range(5):
        conn = client(lb)
        status, _, body = fetch(conn, "POST", "/", body=b"payload")  # not retried: it has a body
        assert status == 502
        conn.close()
    wait_until(lambda: settled(lb), message="no request, client or backend connection left")
    wait_until(lambda: open_fds() <= fds, message="file descriptors back to baseline")


# --- the balancer's [rate_limit] store is killed and restarted ---------------------------------


@pytest.fixture
def limited_balancer():
    started: list[LimitedProxy] = []

    def start(backend: TestBackend, store_port: int) -> LimitedProxy:
        policies = [
            {"name": "open", "match": "/open", "limit": "2/minute", "on_store_error": "allow"},
            {"name": "closed", "match": "/closed", "limit": "2/minute", "on_store_error": "deny"},
        ]
        config = from_mapping({"listen": "127.0.0.1:0", "backend": [entry(backend)],
                               "health": {"path": ""},
                               "rate_limit": {"store": f"redis://127.0.0.1:{store_port}",
                                              "breaker": BREAKER, "policy": policies}})
        limiter = RateLimitService(config.rate_limit, SystemClock())
        balancer = LoadBalancer(config, access_log=AccessLog(io.StringIO()), admission=limiter.admission)
        proxy = LimitedProxy(limiter, balancer)
        proxy.start()
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


def statuses(lb: LimitedProxy, path: str, count: int) -> list[int]:
    conn = http.client.HTTPConnection("127.0.0.1", lb.port, timeout=10)
    try:
        return [fetch(conn, path=path)[0] for _ in range(count)]
    finally:
        conn.close()


def test_the_balancers_rate_limit_store_killed_and_restarted(backends, limited_balancer,
                                                            redis_process):  # noqa: F811
    (server,) = backends("a")
    lb = limited_balancer(server, redis_process.port)
    assert statuses(lb, "/open", 3) == [200, 200, 429]        # the store decides
    redis_process.kill()
    assert statuses(lb, "/open", 3) == [200, 200, 200]        # fail open: let traffic through
    assert statuses(lb, "/closed", 3) == [503, 503, 503]      # fail closed: refuse
    assert statuses(lb, "/", 2) == [200, 200]                 # no policy: never asks the store
    redis_process.start()                                     # same port, empty
    wait_until(lambda: statuses(lb, "/closed", 1) != [503], message="limiting to resume")
    assert 429 in statuses(lb, "/closed", 3)
    wait_until(lambda: settled(lb.proxy), message="no request or connection left")


# --- the clone: clients that vanish ------------------------------------------------------------


@pytest.fixture
def watcher(server):
    """A well-behaved client, and the clone's client and thread counts with it connected."""
    conn = redis.Redis(port=server.port, socket_timeout=5)
    conn.ping()
    conn.baseline = (conn.info("clients")["connected_clients"], psutil.Process().num_threads())
    yield conn
    conn.close()


def vanish(port: int, data: bytes, *, read_first: int = 0, hard: bool = True) -> None:
    """Connect, send `data`, read `read_first` bytes of the replies, then disappear."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(data)
    received = b""
    while len(received) < read_first:
        received += sock.recv(read_first - len(received))
    if hard:
        reset_on_close(sock)
    sock.close()


def assert_back_to_baseline(watcher) -> None:
    clients, threads = watcher.baseline
    wait_until(lambda: watcher.info("clients")["connected_clients"] == clients
               and len(watcher.client_list()) == clients, message="clients back to baseline")
    wait_until(lambda: psutil.Process().num_threads() <= threads, message="threads back to baseline")
    assert watcher.info("clients")["blocked_clients"] == 0


@pytest.mark.parametrize("hard", [True, False], ids=["reset", "close"])
def test_a_client_vanishing_mid_pipeline_leaves_the_clone_serving(server, watcher, hard):
    pipeline = b"*2\r\n$4\r\nINCR\r\n$7\r\ncounter\r\n" * 20_000
    # 100 bytes of replies read (":1\r\n"...: at least 20 commands ran), then gone,
    # with the last command cut in half and most replies never read.
    vanish(server.port, pipeline + b"*2\r\n$4\r\nINCR\r\n$7\r\ncount", read_first=100, hard=hard)
    assert_back_to_baseline(watcher)
    assert 20 < watcher.incr("counter") <= 20_001  # what arrived ran; the half command did not
    assert watcher.set("after", "1")


def test_a_client_vanishing_mid_transaction_discards_it(server, watcher):
    watcher.set("balance", 100)
    vanish(server.port, b"WATCH balance\r\nMULTI\r\nSET balance 0\r\nINCR moves\r\n",
           read_first=len(b"+OK\r\n+OK\r\n+QUEUED\r\n+QUEUED\r\n"))
    assert_back_to_baseline(watcher)
    assert watcher.get("balance") == b"100" and watcher.get("moves") is None
    assert watcher.incr("moves") == 1  # and writes go through: no lock left held


def test_a_client_vanishing_while_blocked_takes_no_element_and_leaves_no_waiter(server, watcher):
    vanish(server.port, b"BLPOP jobs 0\r\n")
    wait_until(lambda: watcher.info("clients")["blocked_clients"] == 1
               or watcher.info("clients")["connected_clients"] == watcher.baseline[0],
               message="the BLPOP to block or the client to be gone")
    assert_back_to_baseline(watcher)
    watcher.rpush("jobs", "one")
    assert watcher.lrange("jobs", 0, -1) == [b"one"]  # nobody dead consumed it


def test_a_client_vanishing_while_subscribed_is_unsubscribed(server, watcher):
    vanish(server.port, b"SUBSCRIBE news\r\n", read_first=len(b"*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n"))
    assert_back_to_baseline(watcher)
    assert watcher.publish("news", "hello") == 0
