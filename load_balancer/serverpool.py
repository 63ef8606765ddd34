"""A pool: one named group of servers with its own algorithm, health checks and persistence.

Where it sits: the balancer (balancer.py) keeps one `ServerPool` per pool in the
config, the router (routing.py) sends each request to one, and the proxy (proxy.py,
tcp.py) calls `pick()` once per attempt. A pool puts together what the other modules
define: its servers and their snapshot (backends.py, with slow start), its algorithm
(strategies.py), its health checks (health.py, one thread per pool), its persistence
(sticky.py) and its counters (stats.py). A reload calls `reconfigure()`, which changes
the pool in place, so servers that stay keep their state, counters and connections.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from common.clock import Clock
from load_balancer import sticky, strategies
from load_balancer.alerts import Alerter
from load_balancer.backends import Backend, BackendSet, Snapshot
from load_balancer.config import PoolConfig
from load_balancer.health import HealthMonitor, Probe
from load_balancer.stats import PoolStats, server_report
from load_balancer.strategies import Done, RequestInfo


@dataclass(frozen=True)
class Pick:
    backend: Backend
    done: Done  # call once when the request (or TCP connection) is over
    headers: tuple[tuple[str, str], ...] = ()  # for the client's response: a Set-Cookie


class ServerPool:
    def __init__(self, config: PoolConfig, clock: Clock, *, secret: bytes,
                 alerts: Alerter | None = None, probe: Probe | None = None) -> None:
        self.name = config.name
        self.config = config
        self.clock = clock
        self.secret = secret
        self.stats = PoolStats()
        listener = partial(alerts.server_changed, config.name) if alerts is not None else None
        self.backends = BackendSet(config.backends, clock, slow_start=config.slow_start,
                                   on_change=listener)
        self.strategy = strategies.create(config.algorithm, config.hash_key)
        self.health = HealthMonitor(self.backends, config.health, clock, probe)
        self.persistence = self._persistence(config, secret)

    def start(self) -> None:
        self.health.start()

    def stop(self) -> None:
        self.health.stop()

    def pick(self, snapshot: Snapshot, request: RequestInfo) -> Pick:
        """The pinned server if the client has one in `snapshot`, else the algorithm's pick."""
        if self.persistence is not None:
            pinned = self.persistence.server_for(request, snapshot)
            if pinned is not None:
                return Pick(pinned, self.strategy.track(pinned))
        backend, done = self.strategy.pick(snapshot, request)
        cookie = self.persistence.stick(request, backend) if self.persistence is not None else None
        return Pick(backend, done, (("Set-Cookie", cookie),) if cookie else ())

    def reconfigure(self, config: PoolConfig, secret: bytes) -> list[Backend]:
        """Apply a reload; returns the servers it removed (their requests in flight finish).

        The strategy and the persistence are rebuilt only when their settings change:
        a new round-robin would restart at the first server, a new stick table would
        forget every client.
        """
        removed = self.backends.update(config.backends, config.slow_start)
        if (config.algorithm, config.hash_key) != (self.config.algorithm, self.config.hash_key):
            self.strategy = strategies.create(config.algorithm, config.hash_key)
        if (config.sticky, secret) != (self.config.sticky, self.secret):
            self.persistence = self._persistence(config, secret)
        self.health.reconfigure(config.health)
        self.config, self.secret = config, secret
        return removed

    def report(self) -> dict[str, Any]:
        """This pool for /stats: settings, what it serves from, counters, every server."""
        now = self.clock.monotonic()
        snapshot = self.backends.current()
        requests, responses = self.stats.copy()
        serving = ("nobody" if not snapshot.servers
                   else "backups" if snapshot.backups_active else "primaries")
        return {
            "algorithm": self.config.algorithm,
            "sticky": self.config.sticky.mode if self.config.sticky else None,
            "health_check": self.config.health.check if self.config.health.active else "passive",
            "serving": serving,
            "requests": requests,
            "responses": responses,
            "servers": {backend.name: server_report(backend, snapshot.weight(backend), now)
                        for backend in self.backends},
        }

    def _persistence(self, config: PoolConfig, secret: bytes) -> sticky.Persistence | None:
        if config.sticky is None:
            return None
        return sticky.create(config.sticky, pool=config.name, secret=secret, clock=self.clock)
