"""The servers behind the balancer, whether each is up, and the snapshot `pick()` reads.

Health decisions (health.py) change a backend's state through `BackendSet.set_up`,
which then builds a new immutable `Snapshot` of the servers that may take traffic and
publishes it with one reference assignment. Request threads read it without a lock, so
a pick never waits for a health update (the grpc-go picker design). Failover lives in
the snapshot too: the primaries that are up, or, only when none is, the backups that are.

Slow start: a server that comes back up (or is added by a reload) would get its full
share at once, cold caches and all. With `slow_start` seconds set, its effective
weight grows linearly from nearly nothing to its configured weight over that time;
`current()` puts the effective weights of warming servers into the snapshot it
returns, so strategies stay pure functions of their snapshot and a FakeClock can
drive the ramp in tests.
"""

from __future__ import annotations

import enum
import logging
import threading
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Mapping

from common.clock import Clock, SystemClock
from load_balancer.config import BackendConfig
from load_balancer.stats import ServerStats

log = logging.getLogger("load_balancer.backends")

# Slow start never gives a warming server less than this share of its weight: a weight
# of zero would mean no traffic at all (and least-connections divides by it).
MIN_SLOW_START_SHARE = 0.01


class Backend:
    """One upstream server: its address, weight and role, and its live state.

    `up`, `up_since`, `weight` and `backup` are written only under the `BackendSet`'s
    lock (health changes and reloads) and read anywhere. `stats` has its own lock.
    Backends compare by identity, so they can key the strategies' dictionaries.
    """

    def __init__(self, config: BackendConfig) -> None:
        self.host = config.host
        self.port = config.port
        self.name = config.address
        self.weight = config.weight
        self.backup = config.backup
        self.up = True  # optimistic start, as nginx and HAProxy do
        self.up_since: float | None = None  # monotonic; None: up since the start (no warm-up)
        self.retired = False  # removed by a reload: finishes its requests, gets no new ones
        self.stats = ServerStats()

    def __repr__(self) -> str:
        return f"<Backend {self.name} {'up' if self.up else 'down'}{' backup' if self.backup else ''}>"


@dataclass(frozen=True)
class Snapshot:
    """The servers a request may be sent to right now. Never changes once built."""
    servers: tuple[Backend, ...]
    backups_active: bool = False
    ramping: Mapping[Backend, float] = field(default_factory=dict)  # effective weights while warming

    def weight(self, backend: Backend) -> float:
        """The weight strategies should use: lower than configured during slow start."""
        return self.ramping.get(backend, backend.weight)

    def excluding(self, tried: Iterable[Backend]) -> Snapshot:
        """The same snapshot minus servers that already failed this request."""
        if not tried:
            return self  # a request's first attempt: immutable, so no copy is needed
        skip = set(tried)
        return Snapshot(tuple(b for b in self.servers if b not in skip), self.backups_active, self.ramping)


class PoolChange(enum.Enum):
    """What one server's up/down change did to the pool as a whole (alerts.py acts on it)."""
    NO_SERVER = "no-server"   # nothing left to serve from: every request gets 503
    BACKUPS = "backups"       # every primary is down: the backups serve
    RECOVERED = "recovered"   # a primary serves again after backups or nobody did


def pool_change(before: Snapshot, after: Snapshot) -> PoolChange | None:
    if not after.servers:
        return PoolChange.NO_SERVER if before.servers else None
    if after.backups_active:
        return None if before.backups_active and before.servers else PoolChange.BACKUPS
    return PoolChange.RECOVERED if before.backups_active else None


ChangeListener = Callable[[Backend, "PoolChange | None"], None]


class BackendSet:
    def __init__(self, configs: Iterable[BackendConfig], clock: Clock | None = None, *,
                 slow_start: float = 0.0, on_change: ChangeListener | None = None) -> None:
        self.backends: tuple[Backend, ...] = tuple(Backend(config) for config in configs)
        self.clock = clock or SystemClock()
        self.slow_start = slow_start
        self.on_change = on_change  # told of every up/down change, after the new snapshot is out
        self._lock = threading.Lock()  # serializes state changes and snapshot rebuilds
        self.snapshot = self._build()

    def __iter__(self) -> Iterator[Backend]:
        return iter(self.backends)

    def current(self) -> Snapshot:
        """The snapshot to pick from now: `snapshot`, with warming servers' weights lowered."""
        snapshot = self.snapshot
        if not self.slow_start:
            return snapshot
        now = self.clock.monotonic()
        ramping = {b: weight for b in snapshot.servers if (weight := self.effective_weight(b, now)) < b.weight}
        return Snapshot(snapshot.servers, snapshot.backups_active, ramping) if ramping else snapshot

    def effective_weight(self, backend: Backend, now: float) -> float:
        """`weight x elapsed / slow_start` for a server up for less than `slow_start` seconds."""
        if not self.slow_start or backend.up_since is None:
            return backend.weight
        progress = (now - backend.up_since) / self.slow_start
        return backend.weight if progress >= 1 else backend.weight * max(progress, MIN_SLOW_START_SHARE)

    def set_up(self, backend: Backend, up: bool, reason: str) -> bool:
        """Mark `backend` up or down; returns False when it already was. Logs the change."""
        with self._lock:
            if backend.up == up:
                return False
            backend.up = up
            backend.up_since = self.clock.monotonic() if up else None
            before = self.snapshot
            self.snapshot = self._build()  # readers see the old or the new one, never half
            after = self.snapshot
        level = logging.INFO if up else logging.WARNING
        log.log(level, "backend %s is %s: %s (%d requests, %d failed so far); %s",
                backend.name, "UP" if up else "DOWN", reason, backend.stats.requests,
                backend.stats.errors, self._summary(after))
        change = pool_change(before, after)
        if change is PoolChange.BACKUPS:
            log.warning("no primary backend is up: failing over to backups %s", _names(after.servers))
        elif change is PoolChange.RECOVERED and any(b.backup for b in self.backends):
            log.warning("primary backend is back: backups %s stand by again",
                        _names(b for b in self.backends if b.backup))
        elif change is PoolChange.NO_SERVER:
            log.error("no backend is up: every request gets 503 until one recovers")
        if self.on_change is not None:
            self.on_change(backend, change)
        return True

    def update(self, configs: Iterable[BackendConfig], slow_start: float) -> list[Backend]:
        """A reload's new server list; returns the servers no longer in it.

        Servers listed before and after keep their object, so their health, counters
        and pooled connections survive the reload; only weight and role are updated.
        New servers start up, warming up first when slow start is on.
        """
        now = self.clock.monotonic()
        with self._lock:
            old = {backend.name: backend for backend in self.backends}
            listed = []
            for config in configs:
                backend = old.pop(config.address, None)
                if backend is None:
                    backend = Backend(config)
                    backend.up_since = now
                else:
                    backend.weight, backend.backup = config.weight, config.backup
                listed.append(backend)
            self.backends = tuple(listed)
            self.slow_start = slow_start
            self.snapshot = self._build()
        return list(old.values())

    def _build(self) -> Snapshot:
        """Caller holds `_lock` (or is the constructor)."""
        primaries = tuple(b for b in self.backends if b.up and not b.backup)
        if primaries:
            return Snapshot(primaries)
        return Snapshot(tuple(b for b in self.backends if b.up and b.backup), backups_active=True)

    def _summary(self, snapshot: Snapshot) -> str:
        primaries = [b for b in self.backends if not b.backup]
        up = sum(b.up for b in primaries)
        return f"{up}/{len(primaries)} primaries up, serving from {_names(snapshot.servers) or 'nobody'}"


def _names(backends: Iterable[Backend]) -> str:
    return ", ".join(b.name for b in backends)
