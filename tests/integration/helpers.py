"""What the load balancer's (and the gateway's) integration tests share.

Real backends (http.server in a thread, with counters), real clients on loopback, and
`wait_until` (poll with a deadline) instead of fixed sleeps. The fixtures that start
backends and balancers live in conftest.py next to this file.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from common.probes import send_and_read_all, wait_until  # noqa: F401 (tests import them from here)
from common.tcpserver import shutdown_socket
from load_balancer.balancer import LoadBalancer

INTERVAL = 0.05
FALL = 3
RISE = 2
ROOT = Path(__file__).resolve().parents[2]


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
            shutdown_socket(sock)

    def restart(self) -> TestBackend:
        return TestBackend(self.name, self.port)


def pattern(size: int) -> bytes:
    return (b"0123456789abcdef" * (size // 16 + 1))[:size]


def entry(backend: TestBackend, **options) -> dict:
    return {"address": f"127.0.0.1:{backend.port}", **options}


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


def dead_port() -> int:
    """A port nobody listens on: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]



def run_cli(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "load_balancer", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def listening_port(line: str) -> int:
    """The port in the balancer's startup line: `listening on 127.0.0.1:PORT, http mode; ...`."""
    return int(line.split("listening on 127.0.0.1:")[1].split(",")[0])
