"""The servers behind the balancer, whether each is up, and the snapshot `pick()` reads.

Health decisions (health.py) change a backend's state through `BackendSet.set_up`,
which then builds a new immutable `Snapshot` of the servers that may take traffic and
publishes it with one reference assignment. Request threads read it without a lock, so
a pick never waits for a health update (the grpc-go picker design). Failover lives in
the snapshot too: the primaries that are up, or, only when none is, the backups that are.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Iterable, Iterator

from load_balancer.config import BackendConfig

log = logging.getLogger("load_balancer.backends")


class Backend:
    """One upstream server: its address and weight (fixed) and its live state.

    `up` is written only by `BackendSet.set_up` (holding the set's lock) and read
    anywhere. The counters are for the operator's log lines; `_lock` guards them.
    Backends compare by identity, so they can key the strategies' dictionaries.
    """

    def __init__(self, config: BackendConfig) -> None:
        self.host = config.host
        self.port = config.port
        self.name = config.address
        self.weight = config.weight
        self.backup = config.backup
        self.up = True  # optimistic start, as nginx and HAProxy do
        self.requests = 0
        self.failures = 0
        self._lock = threading.Lock()

    def count(self, *, failed: bool) -> None:
        """Record one forwarded request (or attempt) and whether it failed."""
        with self._lock:
            self.requests += 1
            self.failures += failed

    def __repr__(self) -> str:
        return f"<Backend {self.name} {'up' if self.up else 'down'}{' backup' if self.backup else ''}>"


@dataclass(frozen=True)
class Snapshot:
    """The servers a request may be sent to right now. Never changes once built."""
    servers: tuple[Backend, ...]
    backups_active: bool = False

    def excluding(self, tried: Iterable[Backend]) -> Snapshot:
        """The same snapshot minus servers that already failed this request."""
        skip = set(tried)
        return Snapshot(tuple(b for b in self.servers if b not in skip), self.backups_active)


class BackendSet:
    def __init__(self, configs: Iterable[BackendConfig]) -> None:
        self.backends: tuple[Backend, ...] = tuple(Backend(config) for config in configs)
        self._lock = threading.Lock()  # serializes state changes and snapshot rebuilds
        self.snapshot = self._build()

    def __iter__(self) -> Iterator[Backend]:
        return iter(self.backends)

    def set_up(self, backend: Backend, up: bool, reason: str) -> bool:
        """Mark `backend` up or down; returns False when it already was. Logs the change."""
        with self._lock:
            if backend.up == up:
                return False
            backend.up = up
            before = self.snapshot
            self.snapshot = self._build()  # readers see the old or the new one, never half
            after = self.snapshot
        level = logging.INFO if up else logging.WARNING
        log.log(level, "backend %s is %s: %s (%d requests, %d failed so far); %s",
                backend.name, "UP" if up else "DOWN", reason, backend.requests,
                backend.failures, self._summary(after))
        if after.backups_active and after.servers and not (before.backups_active and before.servers):
            log.warning("no primary backend is up: failing over to backups %s", _names(after.servers))
        elif before.backups_active and not after.backups_active:
            log.warning("primary backend is back: backups %s stand by again",
                        _names(b for b in self.backends if b.backup))
        if not after.servers:
            log.error("no backend is up: every request gets 503 until one recovers")
        return True

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
