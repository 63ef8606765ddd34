"""Keep-alive connections to the backends, reused from one client request to the next.

Connecting per request costs a round trip and leaves sockets in TIME_WAIT, so the proxy
`release()`s a connection after a complete keep-alive response and the next request to
that backend `acquire()`s it. A pooled connection can die while idle (backends close
idle connections after their own keep-alive timeout, often 5 s), hence three defences:
drop connections idle longer than `idle_timeout` (set below the backend's), drop one
that turned readable while idle (EOF or stray bytes), and, in the proxy, retry once on a
new connection when a reused one fails before answering. Newest connections go first.
A server removed by a reload is `discard()`ed: its idle connections close at once, and
the ones still carrying requests close when those finish instead of coming back here.
"""

from __future__ import annotations

import select
import socket
import threading
from collections import defaultdict

from common.clock import Clock
from load_balancer.backends import Backend


class UpstreamConnection:
    """One TCP connection to a backend, plus what the pool needs to know about it."""

    def __init__(self, backend: Backend, sock: socket.socket) -> None:
        self.backend = backend
        self.sock = sock
        self.reused = False       # taken from the pool rather than freshly connected
        self.idle_since = 0.0     # monotonic; set by ConnectionPool.release

    @classmethod
    def open(cls, backend: Backend, *, connect_timeout: float,
             read_timeout: float) -> UpstreamConnection:
        """Connect, or raise OSError (TimeoutError when connect_timeout passes)."""
        sock = socket.create_connection((backend.host, backend.port), timeout=connect_timeout)
        # Heads and small bodies go out as separate writes; without TCP_NODELAY, Nagle's
        # algorithm holds the second one back until the first is acknowledged (~40 ms).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(read_timeout)
        return cls(backend, sock)

    def looks_closed(self) -> bool:
        """Readable while idle means EOF, a reset or stray bytes: unusable in every case."""
        poller = select.poll()  # poll, not select: select fails on descriptors >= 1024
        poller.register(self.sock, select.POLLIN)
        return bool(poller.poll(0))

    def close(self) -> None:
        self.sock.close()


class ConnectionPool:
    """Idle connections per backend, newest last; shared by every connection thread."""

    def __init__(self, clock: Clock, *, connect_timeout: float, read_timeout: float,
                 idle_timeout: float, max_idle: int) -> None:
        self.clock = clock
        self.configure(connect_timeout=connect_timeout, read_timeout=read_timeout,
                       idle_timeout=idle_timeout, max_idle=max_idle)
        self._lock = threading.Lock()  # guards _idle and _closed; no socket calls under it
        self._idle: dict[Backend, list[UpstreamConnection]] = defaultdict(list)  # oldest first
        self._closed = False

    def configure(self, *, connect_timeout: float, read_timeout: float, idle_timeout: float,
                  max_idle: int) -> None:
        """Set (or, on a reload, change) the limits; each is read afresh when used."""
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.idle_timeout = idle_timeout
        self.max_idle = max_idle

    def acquire(self, backend: Backend) -> UpstreamConnection:
        """A live idle connection to `backend`, or a new one (may raise OSError)."""
        while (conn := self._take_idle(backend)) is not None:
            if not conn.looks_closed():
                conn.reused = True
                return conn
            conn.close()
        return self.connect(backend)

    def connect(self, backend: Backend) -> UpstreamConnection:
        """A new connection, bypassing the pool."""
        conn = UpstreamConnection.open(backend, connect_timeout=self.connect_timeout,
                                       read_timeout=self.read_timeout)
        backend.stats.connected()
        return conn

    def release(self, conn: UpstreamConnection) -> None:
        """Keep `conn` for the next request. Only for connections whose last response
        was complete and allowed keep-alive."""
        conn.idle_since = self.clock.monotonic()
        with self._lock:
            if self._closed or conn.backend.retired:
                surplus = [conn]
            else:
                idle = self._idle[conn.backend]
                idle.append(conn)
                cut = max(0, len(idle) - self.max_idle)
                surplus, idle[:cut] = idle[:cut], []
        for extra in surplus:
            extra.close()

    def discard(self, backend: Backend) -> None:
        """Close the idle connections to a server that is no longer configured."""
        with self._lock:
            conns = self._idle.pop(backend, [])
        for conn in conns:
            conn.close()

    def close_all(self) -> None:
        with self._lock:
            self._closed = True
            conns = [conn for idle in self._idle.values() for conn in idle]
            self._idle.clear()
        for conn in conns:
            conn.close()

    def _take_idle(self, backend: Backend) -> UpstreamConnection | None:
        oldest_allowed = self.clock.monotonic() - self.idle_timeout
        with self._lock:
            idle = self._idle[backend]
            fresh = next((i for i, conn in enumerate(idle) if conn.idle_since > oldest_allowed),
                         len(idle))
            expired, idle[:fresh] = idle[:fresh], []  # oldest first, so expired ones lead
            conn = idle.pop() if idle else None
        for old in expired:
            old.close()
        return conn
