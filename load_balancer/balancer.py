"""The running load balancer: listener, pools, admin port, alerts, reload and drain.

Where it sits: `python -m load_balancer` (and the rate limiter's gateway) build one
`LoadBalancer` from a `Config`. It owns what lives as long as the process: the
listening socket (common/tcpserver.py, one thread per client connection), the pools
(serverpool.py) behind a router (routing.py), the keep-alive connections to servers
(pool.py), the alerter (alerts.py) and the admin listener (admin.py). Each accepted
connection is handed to the proxy for the configured mode: `HttpProxy` (proxy.py) or
`TcpProxy` (tcp.py). Both read `config` and `router` afresh for every request or
connection, so `apply()` (a reload, see reload.py) changes them with one assignment.

    client --TCP--> ThreadedTCPServer --serve()--> HttpProxy | TcpProxy
                                                     | router.pool_for(request)
                                                     v
                                  ServerPool: snapshot, sticky, strategy, health thread
                                                     | pick -> backend
                                                     v
                                  ConnectionPool (keep-alive) --TCP--> servers

Every accepted connection first takes a slot under `limits.max_connections` (one thread
each, so the cap bounds threads and memory); past the cap the client gets `503` and a
close instead of a silent stall in the listen backlog (see docs/security.md).

Graceful stop: stop accepting, close idle keep-alive connections, wait (up to
`timeouts.drain`) for requests in flight, then close everything.
"""

from __future__ import annotations

import logging
import secrets
import socket
import sys
import threading
from typing import Any

from common.clock import Clock, SystemClock
from common.tcpserver import ThreadedTCPServer, shutdown_socket
from load_balancer.accesslog import AccessLog
from load_balancer.admin import admin_server
from load_balancer.alerts import Alerter
from load_balancer.backends import Backend, BackendSet
from load_balancer.config import Config, PoolConfig
from load_balancer.health import Probe
from load_balancer.pool import ConnectionPool
from load_balancer.proxy import Admission, HttpProxy
from load_balancer.routing import Router
from load_balancer.serverpool import ServerPool
from load_balancer.tcp import TcpProxy

log = logging.getLogger("load_balancer.balancer")


class Activity:
    """Client connections as a drain sees them: idle (safe to close) or busy (let finish).

    One lock (a Condition) guards the three fields, so a drain sees every connection in
    exactly one state, and `wait_idle()` sleeps on it until `in_flight` reaches zero.
    An HTTP connection is idle between requests; a TCP-mode connection is always busy.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.in_flight = 0
        self.draining = False
        self._idle: set[socket.socket] = set()

    def idle(self, sock: socket.socket) -> bool:
        """`sock` waits for its next request; False if draining (close it instead)."""
        with self._cond:
            if self.draining:
                return False
            self._idle.add(sock)
            return True

    def woken(self, sock: socket.socket, *, busy: bool) -> None:
        """`sock` stopped waiting: a request arrived (`busy`), or the connection ended."""
        with self._cond:
            self._idle.discard(sock)
            self.in_flight += busy

    def begin(self) -> bool:
        """A connection busy from the start (TCP mode); False if draining."""
        with self._cond:
            if self.draining:
                return False
            self.in_flight += 1
            return True

    def finished(self) -> None:
        with self._cond:
            self.in_flight -= 1
            self._cond.notify_all()

    def start_draining(self) -> list[socket.socket] | None:
        """Take no more work; returns the idle connections to close (None if already draining)."""
        with self._cond:
            if self.draining:
                return None
            self.draining = True  # from now on every response says "Connection: close"
            return list(self._idle)

    def wait_idle(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.in_flight == 0, timeout)


class ConnectionSlots:
    """Counts client connections against a cap read afresh each time (a reload may change it).

    The lock guards both counters; `refused` only ever grows (shown on /stats).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.open = 0
        self.refused = 0

    def take(self, limit: int | None) -> bool:
        with self._lock:
            if limit is not None and self.open >= limit:
                self.refused += 1
                return False
            self.open += 1
            return True

    def give_back(self) -> None:
        with self._lock:
            self.open -= 1


class LoadBalancer:
    def __init__(self, config: Config, *, clock: Clock | None = None,
                 access_log: AccessLog | None = None, probe: Probe | None = None,
                 admission: Admission | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.admission = admission
        self.access_log = access_log or AccessLog(sys.stdout, config.log_format)
        self.activity = Activity()
        self.slots = ConnectionSlots()
        self.alerts = Alerter(config.alerts, self.clock)
        self._probe = probe  # tests script health results; None: real probes
        self._random_secret = secrets.token_bytes(32)  # signs cookies unless cookie_secret is set
        self.connections = ConnectionPool(self.clock, **_connection_limits(config))
        self.router: Router[ServerPool] = Router(
            config.routes, config.default_pool, {pool.name: self._new_pool(pool, config) for pool in config.pools})
        self.proxy = HttpProxy(self) if config.mode == "http" else TcpProxy(self)
        self._tcp = ThreadedTCPServer(config.listen_host, config.listen_port, self._serve_client,
                                      name="lb")
        self.admin = admin_server(self, *config.admin) if config.admin else None
        self.started_at = self.clock.monotonic()
        self._shutdown_requested = threading.Event()

    # --- lifecycle ----------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._tcp.port

    @property
    def backends(self) -> BackendSet:
        """The default pool's servers (with no [[pool]]s and routes: all of them)."""
        return self.router.default_pool.backends

    def start(self) -> None:
        self._tcp.start()
        self.alerts.start()
        for pool in self.router.pools.values():
            pool.start()
        if self.admin is not None:
            self.admin.start()
        log.info("listening on %s:%d, %s mode; %s", self.config.listen_host, self.port,
                 self.config.mode, "; ".join(map(_describe, self.router.pools.values())))
        if self.admin is not None:
            log.info("admin on %s:%d: /stats, /metrics, /health and a dashboard at /",
                     self.config.admin[0], self.admin.port)

    def serve_forever(self) -> None:
        """Run until `request_shutdown()` (e.g. from a signal handler), then drain."""
        self.start()
        self._shutdown_requested.wait()
        self.stop()

    def request_shutdown(self) -> None:
        self._shutdown_requested.set()

    def stop(self) -> None:
        """Graceful shutdown: finish requests in flight, then close everything."""
        idle = self.activity.start_draining()
        if idle is None:
            return  # already stopped, or stopping in another thread
        log.info("draining: %d requests in flight, closing %d idle connections",
                 self.activity.in_flight, len(idle))
        self._tcp.stop_accepting()
        for sock in idle:
            shutdown_socket(sock)  # wakes its thread, which sees the drain and exits
        if not self.activity.wait_idle(self.config.timeouts.drain):
            log.warning("drain timeout: cutting %d requests short", self.activity.in_flight)
            if isinstance(self.proxy, TcpProxy):
                self.proxy.close_all()  # a tunnel never goes idle by itself
        for pool in self.router.pools.values():
            pool.stop()
        self._tcp.shutdown()
        self.connections.close_all()
        if self.admin is not None:
            self.admin.stop()
        self.alerts.stop()
        log.info("stopped")

    def _serve_client(self, sock: socket.socket, addr: tuple) -> None:
        """One accepted connection: the proxy serves it if a slot is free."""
        if not self.slots.take(self.config.max_connections):
            log.warning("refusing %s: %d client connections is the limit (limits.max_connections)",
                        addr[0], self.config.max_connections)
            self.proxy.refuse(sock)
            return
        try:
            self.proxy.serve(sock, addr)
        finally:
            self.slots.give_back()

    # --- reload -------------------------------------------------------------------

    def apply(self, config: Config) -> None:
        """Switch to `config`. The caller (reload.py) runs one reload at a time and has
        checked that nothing changed that needs a restart.

        Pools that stay are reconfigured in place; new ones start; removed ones stop
        checking. Removed servers get no new requests, and those in flight finish on
        them. A request takes its pool from the router once, so it is served by a pool
        of the old configuration or of the new one, never by a mix.
        """
        old_pools = self.router.pools
        pools = {}
        for pool_config in config.pools:
            pool = old_pools.get(pool_config.name)
            if pool is None:
                pool = self._new_pool(pool_config, config)
                pool.start()
                log.info("pool %s added: %s", pool.name, _describe(pool))
            else:
                self._retire(pool, pool.reconfigure(pool_config, self._secret(config)))
            pools[pool.name] = pool
        self.connections.configure(**_connection_limits(config))
        self.alerts.config = config.alerts
        self.config = config
        self.router = Router(config.routes, config.default_pool, pools)
        for name, pool in old_pools.items():
            if name not in pools:
                pool.stop()
                self._retire(pool, list(pool.backends))
                log.info("pool %s removed", name)

    def _retire(self, pool: ServerPool, backends: list[Backend]) -> None:
        for backend in backends:
            backend.retired = True
            self.connections.discard(backend)
            log.info("backend %s removed from pool %s: %d requests in flight finish there, "
                     "no new ones go there", backend.name, pool.name, backend.stats.copy()["active"])

    def _new_pool(self, pool: PoolConfig, config: Config) -> ServerPool:
        return ServerPool(pool, self.clock, secret=self._secret(config), alerts=self.alerts,
                          probe=self._probe)

    def _secret(self, config: Config) -> bytes:
        return config.cookie_secret.encode() if config.cookie_secret else self._random_secret

    # --- what the admin port shows ------------------------------------------------

    def report(self) -> dict[str, Any]:
        return {
            "mode": self.config.mode,
            "listen": f"{self.config.listen_host}:{self.port}",
            "uptime_seconds": round(self.clock.monotonic() - self.started_at, 3),
            "draining": self.activity.draining,
            "in_flight": self.activity.in_flight,
            "client_connections": self.slots.open,
            "refused_connections": self.slots.refused,
            "default_pool": self.config.default_pool,
            "pools": {name: pool.report() for name, pool in self.router.pools.items()},
        }


def _connection_limits(config: Config) -> dict[str, Any]:
    timeouts = config.timeouts
    return {"connect_timeout": timeouts.connect, "read_timeout": timeouts.read,
            "idle_timeout": timeouts.pool_idle, "max_idle": config.pool_size}


def _describe(pool: ServerPool) -> str:
    servers = ", ".join(b.name + (" (backup)" if b.backup else "") for b in pool.backends)
    return f"{pool.name}: {pool.config.algorithm} over {servers}"
