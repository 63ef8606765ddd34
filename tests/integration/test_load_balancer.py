"""The load balancer end to end: real backends (http.server) and real clients on loopback.

Every server binds port 0. Health checks run every 50 ms so failures are detected in a
fraction of a second; tests wait for observable state with `wait_until` (poll with a
deadline), never with a fixed sleep.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from load_balancer.accesslog import AccessLog
from load_balancer.config import from_mapping
from load_balancer.proxy import LoadBalancer

INTERVAL = 0.05
FALL = 3
RISE = 2
ROOT = Path(__file__).resolve().parents[2]


def wait_until(predicate, timeout: float = 5.0, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        time.sleep(0.005)
    return result


# --- backends -------------------------------------------------------------------------


class _BackendHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, owner: TestBackend) -> None:
        self.owner = owner
        self.open_sockets: set[socket.socket] = set()
        super().__init__(address, _Handler)

    def process_request(self, request, client_address):
        with self.owner.lock:
            self.open_sockets.add(request)
            self.owner.connections += 1
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self.owner.lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"     # keep-alive, as real backends do
    disable_nagle_algorithm = True
    server: _BackendHTTPServer

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        owner = self.server.owner
        path, _, query = self.path.partition("?")
        if path == "/health":
            owner.health_checks += 1
            self.respond(200 if owner.healthy else 503, b"health\n")
            return
        with owner.lock:
            owner.hits[path] += 1
        if path == "/slow":
            owner.gate.wait(10)
            self.respond(200, b"slow\n")
        elif path == "/headers":
            self.respond(200, json.dumps(list(self.headers.items())).encode())
        elif path == "/big":
            self.respond(200, pattern(int(query)))
        elif path == "/until-close":
            self.close_connection = True
            self.wfile.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + pattern(int(query)))
        elif path == "/chunked":
            chunks = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (b"one ", b"two ", b"three"))
            self.respond(200, chunks + b"0\r\n\r\n", chunked=True)
        elif path == "/one-per-connection":
            # A keep-alive race: this connection's second request arrives just as the
            # server decided to close it, so it is dropped unanswered.
            if getattr(self, "answered", False):
                self.close_connection = True
                return
            self.answered = True
            self.respond(200, owner.name.encode())
        elif path == "/garbage":
            self.close_connection = True
            self.wfile.write(b"THIS IS NOT HTTP\r\n\r\n")
        else:
            self.respond(200, owner.name.encode())

    do_HEAD = do_GET

    def do_POST(self) -> None:
        with self.server.owner.lock:
            self.server.owner.hits[self.path] += 1
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self.read_chunked()
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.respond(200, body)

    def read_chunked(self) -> bytes:
        parts = []
        while size := int(self.rfile.readline().split(b";")[0], 16):
            parts.append(self.rfile.read(size))
            self.rfile.readline()
        while self.rfile.readline() not in (b"\r\n", b""):
            pass  # trailers
        return b"".join(parts)

    def respond(self, status: int, body: bytes, *, chunked: bool = False) -> None:
        """Head and body in one write, so a killed backend either answered or did not."""
        framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(body)}"
        head = (f"HTTP/1.1 {status} X\r\nX-Backend: {self.server.owner.name}\r\n{framing}\r\n\r\n")
        self.wfile.write(head.encode() + (b"" if self.command == "HEAD" else body))


class TestBackend:
    """A backend server in a thread, with the counters tests look at."""
    __test__ = False

    def __init__(self, name: str, port: int = 0) -> None:
        self.name = name
        self.lock = threading.Lock()
        self.hits: Counter[str] = Counter()   # requests per path, health checks excluded
        self.health_checks = 0
        self.connections = 0
        self.healthy = True
        self.gate = threading.Event()         # /slow waits for it
        self.server = _BackendHTTPServer(("127.0.0.1", port), self)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True)
        self.thread.start()
        self.alive = True

    @property
    def requests(self) -> int:
        with self.lock:
            return sum(self.hits.values())

    def kill(self) -> None:
        """Like a crash: the port refuses connections and open connections are cut."""
        if not self.alive:
            return
        self.alive = False
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()
        with self.lock:
            sockets = list(self.server.open_sockets)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # that connection was closing anyway

    def restart(self) -> TestBackend:
        return TestBackend(self.name, self.port)


def pattern(size: int) -> bytes:
    return (b"0123456789abcdef" * (size // 16 + 1))[:size]


@pytest.fixture
def backends():
    started: list[TestBackend] = []

    def start(*names: str) -> list[TestBackend]:
        new = [TestBackend(name) for name in names]
        started.extend(new)
        return new

    start.track = started.append  # for restarted backends
    yield start
    for backend in started:
        backend.kill()


def entry(backend: TestBackend, **options) -> dict:
    return {"address": f"127.0.0.1:{backend.port}", **options}


@pytest.fixture
def balancer():
    started: list[LoadBalancer] = []

    def start(*entries: dict, health: dict | None = None, timeouts: dict | None = None,
              **settings) -> LoadBalancer:
        raw = {"listen": "127.0.0.1:0", "backend": list(entries),
               "health": {"path": "/health", "interval": INTERVAL, "timeout": 0.5, "rise": RISE,
                          "fall": FALL, **(health or {})},
               "timeouts": {"connect": 1.0, "read": 5.0, "drain": 5.0, **(timeouts or {})},
               **settings}
        lb = LoadBalancer(from_mapping(raw), access_log=AccessLog(io.StringIO()))
        lb.start()
        started.append(lb)
        return lb

    yield start
    for lb in started:
        lb.stop()


def client(lb: LoadBalancer, **kwargs) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", lb.port, timeout=10, **kwargs)


def fetch(conn: http.client.HTTPConnection, method: str = "GET", path: str = "/", body=None,
          headers: dict | None = None) -> tuple[int, http.client.HTTPResponse, bytes]:
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    return response.status, response, response.read()


def backend_of(conn, path: str = "/") -> str:
    status, response, _ = fetch(conn, path=path)
    assert status == 200
    return response.getheader("X-Backend")


def raw_exchange(port: int, data: bytes) -> bytes:
    """Send raw bytes, read until the proxy closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def dead_port() -> int:
    """A port nobody listens on: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- distribution ---------------------------------------------------------------------


def test_round_robin_is_exactly_even_through_the_proxy(backends, balancer):
    servers = backends("a", "b", "c")
    lb = balancer(*map(entry, servers))
    conn = client(lb)
    for _ in range(30):
        backend_of(conn)
    assert [s.requests for s in servers] == [10, 10, 10]


def test_weighted_round_robin_is_proportional_and_interleaved(backends, balancer):
    a, b, c = backends("a", "b", "c")
    lb = balancer(entry(a, weight=5), entry(b, weight=1), entry(c, weight=1),
                  algorithm="weighted-round-robin")
    conn = client(lb)
    assert "".join(backend_of(conn) for _ in range(14)) == "aabacaa" * 2


def test_least_connections_prefers_the_idle_server_when_one_is_slow(backends, balancer):
    servers = backends("a", "b")
    lb = balancer(*map(entry, servers), algorithm="least-connections")
    slow_request = threading.Thread(target=lambda: fetch(client(lb), path="/slow"))
    slow_request.start()
    slow = wait_until(lambda: next((s for s in servers if s.hits["/slow"]), None), message="slow request")
    fast = next(s for s in servers if s is not slow)
    conn = client(lb)
    assert {backend_of(conn) for _ in range(6)} == {fast.name}
    slow.gate.set()
    slow_request.join()


def test_ip_hash_keeps_each_client_on_one_server(backends, balancer):
    servers = backends("a", "b", "c")
    lb = balancer(*map(entry, servers), algorithm="ip-hash")
    seen = {}
    for i in range(2, 22):
        conn = client(lb, source_address=(f"127.0.0.{i}", 0))
        seen[i] = {backend_of(conn) for _ in range(4)}
        conn.close()
    assert all(len(names) == 1 for names in seen.values())
    assert len(set().union(*seen.values())) > 1


# --- the HTTP path --------------------------------------------------------------------


def test_keep_alive_holds_on_both_sides_of_the_proxy(backends, balancer):
    (server,) = backends("a")
    lb = balancer(entry(server), health={"path": ""})
    conn = client(lb)
    backend_of(conn)
    first_socket = conn.sock
    for _ in range(4):
        backend_of(conn)
    assert conn.sock is first_socket   # the client connection was never closed
    assert server.connections == 1     # one pooled upstream connection served all five


def test_pooled_connection_closed_by_the_backend_is_retried_on_a_new_one(backends, balancer):
    (server,) = backends("a")
    lb = balancer(entry(server), health={"path": ""})
    conn = client(lb)
    assert [fetch(conn, path="/one-per-connection")[0] for _ in range(3)] == [200] * 3
    assert server.connections == 3
    assert lb.backends.backends[0].failures == 0  # a stale connection is not the server's fault


def test_http10_client_gets_keep_alive_when_it_asks(backends, balancer):
    (server,) = backends("a")
    lb = balancer(entry(server))
    with socket.create_connection(("127.0.0.1", lb.port), timeout=5) as sock:
        for _ in range(2):
            sock.sendall(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            reply = sock.recv(65536)
            assert reply.startswith(b"HTTP/1.1 200") and b"Connection: keep-alive" in reply
            assert reply.endswith(b"\r\n\r\na")


def test_chunked_bodies_pass_intact_both_ways(backends, balancer):
    (server,) = backends("a")
    lb = balancer(entry(server))
    conn = client(lb)
    parts = [b"x" * 1000, b"y" * 70_000, b"z"]
    status, _, body = fetch(conn, "POST", "/echo", body=iter(parts))  # an iterable goes chunked
    assert (status, body) == (200, b"".join(parts))
    status, response, body = fetch(conn, path="/chunked")
    assert (response.getheader("Transfer-Encoding"), body) == ("chunked", b"one two three")


def test_ten_megabyte_bodies_pass_intact_both_ways(backends, balancer):
    (server,) = backends("a")
    lb = balancer(entry(server))
    conn = client(lb)
    upload = os.urandom(10 * 1024 * 1024)
    status, _, body = fetch(conn, "POST", "/echo", body=upload)
    assert status == 200 and hashlib.sha256(body).digest() == hashlib.sha256(upload).digest()
    size = 10 * 1024 * 1024
    status, _, body = fetch(conn, path=f"/big?{size}")
    assert status == 200 and body == pattern(size)


def test_response_ending_at_close_reaches_an_http11_client_chunked(backends, balancer):
    (server,) = backends("a")
    lb = balancer(entry(server))
    conn = client(lb)
    status, response, body = fetch(conn, path="/until-close?100000")
    assert response.getheader("Transfer-Encoding") == "chunked" and body == pattern(100000)
    assert backend_of(conn) == "a"  # and the client connection is still usable


def test_head_response_keeps_its_content_length_but_has_no_body(backends, balancer):
    (server,) = backends("a")
    lb = balancer(entry(server))
    conn = client(lb)
    status, response, body = fetch(conn, "HEAD", "/big?1234")
    assert (status, response.getheader("Content-Length"), body) == (200, "1234", b"")
    assert backend_of(conn) == "a"


def test_forwarding_headers_are_added_and_hop_by_hop_ones_removed(backends, balancer):
    (server,) = backends("a")
    lb = balancer(entry(server))
    status, _, body = fetch(client(lb), path="/headers", headers={
        "X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https",
        "Connection": "X-Private", "X-Private": "secret", "Keep-Alive": "timeout=5"})
    seen = {name.lower(): value for name, value in json.loads(body)}
    assert seen["x-forwarded-for"] == "203.0.113.7, 127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    assert seen["forwarded"] == f'for=127.0.0.1;proto=http;host="127.0.0.1:{lb.port}"'
    assert "x-private" not in seen and "keep-alive" not in seen and "connection" not in seen


def test_expect_100_continue_is_answered_by_the_proxy(backends, balancer):
    (server,) = backends("a")
    lb = balancer(entry(server))
    with socket.create_connection(("127.0.0.1", lb.port), timeout=5) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"hello")
        assert sock.recv(65536).endswith(b"\r\n\r\nhello")


def test_access_log_has_one_line_per_request(backends, balancer):
    (server,) = backends("a")
    lb = balancer(entry(server))
    fetch(client(lb), path="/big?42")
    # The line is written once the response is out, so the client may be a bit early.
    (line,) = wait_until(lambda: lb.access_log.stream.getvalue().splitlines(), message="log line")
    assert line.startswith("127.0.0.1 [")
    assert f'"GET /big?42 HTTP/1.1" 200 42 backend=127.0.0.1:{server.port} upstream=' in line
    assert " total=" in line


# --- errors the proxy answers itself ----------------------------------------------------


@pytest.mark.parametrize("request_bytes, status", [
    (b"GET / HTTP/1.1\r\n\r\n", 400),                                   # no Host
    (b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 40_000 + b"\r\n\r\n", 431),
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
])
def test_malformed_requests_are_refused_and_the_connection_closed(backends, balancer, request_bytes, status):
    (server,) = backends("a")
    lb = balancer(entry(server))
    reply = raw_exchange(lb.port, request_bytes)
    assert reply.startswith(b"HTTP/1.1 %d " % status) and b"Connection: close" in reply
    assert server.requests == 0


def test_no_backend_up_is_503_with_a_short_body(backends, balancer):
    (server,) = backends("a")
    lb = balancer(entry(server))
    server.kill()
    wait_until(lambda: not lb.backends.snapshot.servers, message="backend marked down")
    status, response, body = fetch(client(lb))
    assert status == 503 and body == b"503 Service Unavailable: no backend is available\n"


def test_refused_connection_is_502_when_no_retry_is_left(balancer):
    lb = balancer({"address": f"127.0.0.1:{dead_port()}"}, health={"path": ""}, retries=0)
    status, _, body = fetch(client(lb))
    assert status == 502 and b"Connection refused" in body


def test_backend_too_slow_to_answer_is_504(backends, balancer):
    (server,) = backends("a")
    lb = balancer(entry(server), timeouts={"read": 0.2})
    status, _, _ = fetch(client(lb), path="/slow")
    assert status == 504


def test_backend_speaking_garbage_is_502(backends, balancer):
    (server,) = backends("a")
    lb = balancer(entry(server))
    status, _, body = fetch(client(lb), path="/garbage")
    assert status == 502 and b"bad response" in body


def test_connect_failure_is_retried_on_another_server(backends, balancer):
    (server,) = backends("a")
    lb = balancer({"address": f"127.0.0.1:{dead_port()}"}, entry(server),
                  health={"path": "", "passive_fails": 0})
    conn = client(lb)
    assert [fetch(conn, "POST", "/echo", body=b"x")[0] for _ in range(6)] == [200] * 6
    assert server.requests == 6


# --- failures -----------------------------------------------------------------------------


def test_killed_backend_is_marked_down_within_fall_times_interval(backends, balancer):
    a, b = backends("a", "b")
    lb = balancer(entry(a), entry(b))
    wait_until(lambda: a.health_checks >= 1, message="first health check")
    killed_at = time.monotonic()
    a.kill()
    wait_until(lambda: not lb.backends.backends[0].up, message="a marked down")
    # One interval of slack for thread scheduling on a busy machine.
    assert time.monotonic() - killed_at <= (FALL + 1) * INTERVAL + 0.1


def test_idempotent_requests_see_no_errors_when_a_backend_dies(backends, balancer):
    servers = backends("a", "b", "c")
    lb = balancer(*map(entry, servers))
    statuses: Counter[int | str] = Counter()
    stop = threading.Event()

    def hammer() -> None:
        conn = client(lb)
        while not stop.is_set():
            try:
                statuses[fetch(conn)[0]] += 1
            except (OSError, http.client.HTTPException) as err:
                statuses[repr(err)] += 1
                conn = client(lb)

    workers = [threading.Thread(target=hammer) for _ in range(4)]
    for worker in workers:
        worker.start()
    wait_until(lambda: sum(statuses.values()) > 100, message="traffic")
    servers[0].kill()
    wait_until(lambda: not lb.backends.backends[0].up, message="a marked down")
    served_by_others = servers[1].requests + servers[2].requests
    wait_until(lambda: servers[1].requests + servers[2].requests > served_by_others + 100,
               message="traffic after the failure")
    stop.set()
    for worker in workers:
        worker.join()
    assert set(statuses) == {200}


def test_backups_take_over_when_all_primaries_die_and_hand_back_after_recovery(backends, balancer):
    a, b, spare = backends("a", "b", "spare")
    lb = balancer(entry(a), entry(b), entry(spare, backup=True))
    conn = client(lb)
    assert {backend_of(conn) for _ in range(4)} == {"a", "b"}
    a.kill()
    b.kill()
    wait_until(lambda: lb.backends.snapshot.backups_active, message="failover to the backup")
    assert {backend_of(conn) for _ in range(4)} == {"spare"}
    a = a.restart()
    backends.track(a)
    wait_until(lambda: not lb.backends.snapshot.backups_active, message="primary back")
    assert {backend_of(conn) for _ in range(4)} == {"a"}


def test_recovered_server_rejoins_after_rise_good_checks(backends, balancer):
    a, b = backends("a", "b")
    lb = balancer(entry(a), entry(b))
    a.healthy = False
    wait_until(lambda: not lb.backends.backends[0].up, message="a marked down")
    checks_when_healed = a.health_checks
    a.healthy = True
    wait_until(lambda: lb.backends.backends[0].up, message="a back up")
    assert a.health_checks - checks_when_healed >= RISE
    conn = client(lb)
    assert {backend_of(conn) for _ in range(4)} == {"a", "b"}


def test_failed_forwards_take_a_backend_down_before_the_next_check(backends, balancer):
    (b,) = backends("b")
    lb = balancer({"address": f"127.0.0.1:{dead_port()}"}, entry(b),
                  health={"path": "", "passive_fails": 2, "interval": 60})
    conn = client(lb)
    for _ in range(4):
        assert backend_of(conn) == "b"
    assert not lb.backends.backends[0].up


def test_shutdown_drains_requests_in_flight(backends, balancer):
    (server,) = backends("a")
    lb = balancer(entry(server))
    idle = client(lb)
    backend_of(idle)                                  # an idle keep-alive connection
    result = {}
    in_flight = threading.Thread(target=lambda: result.update(reply=fetch(client(lb), path="/slow")))
    in_flight.start()
    wait_until(lambda: server.hits["/slow"], message="request in flight")
    port = lb.port
    stopper = threading.Thread(target=lb.stop)
    stopper.start()
    wait_until(lambda: _refused(port), message="listener closed")
    server.gate.set()
    in_flight.join()
    stopper.join()
    status, response, body = result["reply"]
    assert (status, body, response.getheader("Connection")) == (200, b"slow\n", "close")
    with pytest.raises((ConnectionError, http.client.RemoteDisconnected)):
        fetch(idle)                                   # the idle one was closed


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


# --- the command line ---------------------------------------------------------------------


def run_cli(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "load_balancer", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


@pytest.mark.parametrize("args, field", [
    (["--backend", "127.0.0.1:9002,weight=0"], "backend[1].weight: must be at least 1, got 0"),
    (["--backend", "127.0.0.1:9002,heavy"], "--backend 127.0.0.1:9002,heavy: unknown option"),
    (["--listen", "nowhere", "--backend", "127.0.0.1:9002"], "listen: expected host:port"),
    ([], "backend: at least one backend is required"),
])
def test_cli_bad_flags_exit_2_with_one_line_naming_the_field(args, field):
    proc = run_cli(*args)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert err.count("\n") == 1 and field in err


def test_cli_bad_config_file_names_the_field(tmp_path):
    path = tmp_path / "lb.toml"
    path.write_text('[[backend]]\naddress = "127.0.0.1:9001"\n[health]\nintreval = 1\n')
    proc = run_cli("--config", str(path))
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "health.intreval: unknown setting" in err


def test_cli_serves_from_a_config_file_and_drains_on_sigterm(backends, tmp_path):
    (server,) = backends("a")
    path = tmp_path / "lb.toml"
    path.write_text(f'listen = "127.0.0.1:0"\nlog_format = "json"\n'
                    f'[[backend]]\naddress = "127.0.0.1:{server.port}"\n')
    proc = run_cli("--config", str(path), "--health-check", "/health", "--health-interval", "0.05")
    try:
        line = wait_until(lambda: proc.stderr.readline(), message="startup line")
        assert "listening on 127.0.0.1:" in line
        port = int(line.split("listening on 127.0.0.1:")[1].split(",")[0])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        assert backend_of(conn) == "a"
        record = json.loads(proc.stdout.readline())
        assert (record["status"], record["path"], record["backend"]) == (200, "/", f"127.0.0.1:{server.port}")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
