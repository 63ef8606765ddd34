"""TCP mode (layer 4): one server per client connection, then raw bytes both ways.

Where it sits: with `mode = "tcp"` the balancer (balancer.py) hands each accepted
connection here instead of to the HTTP proxy. Nothing is parsed, so any protocol
works: Redis, PostgreSQL, TLS passed through untouched. The default pool picks a
server for the connection (least-connections then counts open connections, ip-hash
is source hashing, source-ip persistence a stick table); if the connect fails we try
another server, which is always safe because nothing has been sent yet. Then bytes
are copied until both sides are done.

Why two threads per connection rather than a select loop: the accept server already
gives each connection a thread, which copies client -> server, and a second thread
copies server -> client. Each direction is then a plain `recv -> sendall` loop:
`sendall` blocks while the receiver is slow, which is backpressure for free, and
half-close is passed on as it comes (one side's FIN becomes `shutdown(SHUT_WR)` on
the other, while answers still flow back, as `redis-cli < commands.txt` needs). A
select loop would use one thread instead of two but must buffer each direction and
track writability to get the same backpressure; HAProxy and nginx do that in C for
tens of thousands of connections. For hundreds, threads are cheaper to read.

A connection silent in both directions for `timeouts.tunnel` seconds is closed; each
thread waits in `recv()` that long and then checks whether the other direction moved
meanwhile, so a client that only listens (Redis SUBSCRIBE) is not cut. A reset or a
timeout in either direction shuts both sockets down, which wakes the other thread.
Left out: the PROXY protocol (servers see the balancer's address) and access-log lines.
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import TYPE_CHECKING

from common.clock import Clock
from common.tcpserver import shutdown_socket
from load_balancer.backends import Backend
from load_balancer.pool import UpstreamConnection
from load_balancer.serverpool import Pick, ServerPool
from load_balancer.strategies import RequestInfo

if TYPE_CHECKING:  # the balancer creates its proxy
    from load_balancer.balancer import LoadBalancer

log = logging.getLogger("load_balancer.tcp")

RECV_SIZE = 64 * 1024


class _Tunnel:
    """The two sockets of one proxied connection and the two copy loops between them."""

    def __init__(self, client: socket.socket, upstream: socket.socket, idle_timeout: float,
                 clock: Clock) -> None:
        self.client = client
        self.upstream = upstream
        self.idle_timeout = idle_timeout
        self.clock = clock
        # Written by both loops, read by both: one float assignment, atomic in CPython.
        self.last_activity = clock.monotonic()
        for sock in (client, upstream):
            sock.settimeout(idle_timeout)

    def run(self) -> None:
        """Copy both ways until both directions have ended."""
        down = threading.Thread(target=self.pump, args=(self.upstream, self.client),
                                name="lb-tcp-down", daemon=True)
        down.start()
        self.pump(self.client, self.upstream)
        down.join()

    def pump(self, source: socket.socket, dest: socket.socket) -> None:
        """One direction: copy until `source` ends its stream, then end `dest`'s."""
        try:
            while data := self._recv(source):
                dest.sendall(data)
                self.last_activity = self.clock.monotonic()
            dest.shutdown(socket.SHUT_WR)  # pass the FIN on; the other direction goes on
        except OSError:
            self.cut()  # reset, refused write or idle timeout: the whole connection ends

    def _recv(self, source: socket.socket) -> bytes:
        while True:
            try:
                return source.recv(RECV_SIZE)
            except TimeoutError:
                if self.clock.monotonic() - self.last_activity >= self.idle_timeout:
                    raise  # silent both ways for the whole timeout

    def cut(self) -> None:
        shutdown_socket(self.client)
        shutdown_socket(self.upstream)


class TcpProxy:
    def __init__(self, balancer: LoadBalancer) -> None:
        self.lb = balancer
        self._lock = threading.Lock()  # guards _tunnels
        self._tunnels: set[_Tunnel] = set()

    def serve(self, sock: socket.socket, addr: tuple) -> None:
        """One client connection: a server for it, then bytes both ways until done."""
        if not self.lb.activity.begin():
            return  # draining: accepted in the instant before the listener closed
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._serve(sock, addr[0])
        finally:
            self.lb.activity.finished()

    def refuse(self, sock: socket.socket) -> None:
        """Over `limits.max_connections`: TCP mode has no protocol of its own to say so,
        so the client just sees the connection close (the server closes it on return)."""

    def close_all(self) -> None:
        """Cut every connection still open (the end of a drain that timed out)."""
        with self._lock:
            tunnels = list(self._tunnels)
        for tunnel in tunnels:
            tunnel.cut()

    def _serve(self, client: socket.socket, peer: str) -> None:
        pool = self.lb.router.default_pool  # TCP mode has no routes: one pool
        try:
            connected = self._connect(pool, RequestInfo(peer))
            if connected is None:
                log.warning("connection from %s closed: no backend is available", peer)
                return
            pick, conn, connect_time = connected
            try:
                self._relay(client, conn, connect_time)
            finally:
                pick.done()
        finally:
            pool.stats.count(None)

    def _connect(self, pool: ServerPool, info: RequestInfo) -> tuple[Pick, UpstreamConnection, float] | None:
        """A connection to one of the pool's servers, trying the next when a connect fails;
        with the pick and how long the connect took. None: no server would take it."""
        clock = self.lb.clock
        tried: list[Backend] = []
        while len(tried) <= self.lb.config.retries:
            snapshot = pool.backends.current().excluding(tried)
            if not snapshot.servers:
                break
            if tried:
                tried[-1].stats.retried()  # its connect failed: try the next one
            pick = pool.pick(snapshot, info)
            tried.append(pick.backend)
            started = clock.monotonic()
            try:
                conn = self.lb.connections.connect(pick.backend)
            except OSError as err:
                pick.done()
                detail = f"connect: {err.strerror or err}"
                log.warning("connection from %s via %s failed: %s", info.client_ip, pick.backend.name, detail)
                pool.health.record_forward(pick.backend, ok=False, detail=detail)
                continue
            pool.health.record_forward(pick.backend, ok=True)
            return pick, conn, clock.monotonic() - started
        return None

    def _relay(self, client: socket.socket, conn: UpstreamConnection, connect_time: float) -> None:
        backend = conn.backend
        tunnel = _Tunnel(client, conn.sock, self.lb.config.timeouts.tunnel, self.lb.clock)
        with self._lock:
            self._tunnels.add(tunnel)
        backend.stats.started()
        try:
            tunnel.run()
        finally:
            backend.stats.finished(connect_time)  # the latency of a TCP connection: its connect
            with self._lock:
                self._tunnels.discard(tunnel)
            conn.close()
