"""Balancing algorithms: which backend gets the next request.

One method each, `pick(snapshot, request) -> (backend, done)`: choose from the
snapshot's servers (never empty: the proxy answers 503 first) and return a `done`
callback the proxy calls once when the request is over. Counting strategies
(least-connections, two random choices) increment in `pick` and decrement in `done`.
No I/O, no blocking: each keeps its small state under its own lock. `STRATEGIES` maps
the `algorithm` setting's names to the classes; docs/load-balancer.md compares them.
"""

from __future__ import annotations

import hashlib
import math
import random
import threading
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Protocol

if TYPE_CHECKING:  # backends.py imports config.py, which imports this table
    from load_balancer.backends import Backend, Snapshot

Done = Callable[[], None]


@dataclass(frozen=True)
class RequestInfo:
    """What a strategy may base its choice on."""
    client_ip: str
    method: str = "GET"
    target: str = "/"


class Strategy(Protocol):
    def pick(self, snapshot: Snapshot, request: RequestInfo) -> tuple[Backend, Done]: ...


STRATEGIES: dict[str, type[Strategy]] = {}


def register(name: str) -> Callable[[type], type]:
    def add(cls: type) -> type:
        STRATEGIES[name] = cls
        return cls
    return add


def create(name: str) -> Strategy:
    return STRATEGIES[name]()


def _nothing() -> None:
    """The `done` of strategies that keep no per-request state."""


@register("round-robin")
class RoundRobin:
    """Each server in turn, ignoring weights: over any N x servers requests, exactly even."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next = 0  # guarded by _lock

    def pick(self, snapshot: Snapshot, request: RequestInfo) -> tuple[Backend, Done]:
        with self._lock:
            turn = self._next
            self._next += 1
        return snapshot.servers[turn % len(snapshot.servers)], _nothing


@register("weighted-round-robin")
class SmoothWeightedRoundRobin:
    """nginx's smooth weighted round-robin: shares follow weights, picks interleave.

    Every pick, each server's `current` grows by its weight; the largest wins and is
    pushed back by the total weight. Weights 5:1:1 give a a b a c a a, not a a a a a b c,
    so no server gets a burst.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: dict[Backend, int] = {}  # guarded by _lock

    def pick(self, snapshot: Snapshot, request: RequestInfo) -> tuple[Backend, Done]:
        with self._lock:
            total = 0
            best = None
            for backend in snapshot.servers:
                self._current[backend] = self._current.get(backend, 0) + backend.weight
                total += backend.weight
                if best is None or self._current[backend] > self._current[best]:
                    best = backend
            self._current[best] -= total
        return best, _nothing


class _CountingStrategy:
    """Base for strategies that compare the requests each server has in flight.

    The count is taken in `pick` under the lock, together with the choice; counting
    later would let a burst of simultaneous picks all see the same idle server.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight: Counter[Backend] = Counter()  # guarded by _lock

    def load(self, backend: Backend) -> float:
        """In-flight requests per unit of weight. Caller holds `_lock`."""
        return self._in_flight[backend] / backend.weight

    def _start(self, backend: Backend) -> Done:
        """Caller holds `_lock`."""
        self._in_flight[backend] += 1

        def done() -> None:
            with self._lock:
                self._in_flight[backend] -= 1
        return done


@register("least-connections")
class LeastConnections(_CountingStrategy):
    """The server with the fewest requests in flight per unit of weight.

    Ties (typically: several idle servers) go round-robin, starting one further each
    time, so light traffic still spreads instead of always hitting the first server.
    """

    def __init__(self) -> None:
        super().__init__()
        self._rotation = 0  # guarded by _lock

    def pick(self, snapshot: Snapshot, request: RequestInfo) -> tuple[Backend, Done]:
        servers = snapshot.servers
        with self._lock:
            start = self._rotation % len(servers)
            self._rotation += 1
            best = min(servers[start:] + servers[:start], key=self.load)  # first minimum wins
            return best, self._start(best)


@register("random-two-choices")
class RandomTwoChoices(_CountingStrategy):
    """Two servers at random, then the less loaded of the two ("power of two choices").

    Almost as even as least-connections, but no scan of every server and, with several
    balancers, no herd all rushing to the one server that looks idle.
    """

    def __init__(self, rng: random.Random | None = None) -> None:
        super().__init__()
        self._rng = rng or random.Random()  # guarded by _lock (Random is not thread-safe to share)

    def pick(self, snapshot: Snapshot, request: RequestInfo) -> tuple[Backend, Done]:
        servers = snapshot.servers
        with self._lock:
            if len(servers) == 1:
                best = servers[0]
            else:
                first, second = self._rng.sample(servers, 2)
                best = first if self.load(first) <= self.load(second) else second
            return best, self._start(best)


@register("ip-hash")
class IPHash:
    """The same client IP always reaches the same server, as long as that server is up.

    Rendezvous hashing (highest random weight): every server gets a pseudo-random score
    for the client, scaled by its weight, and the highest score wins. When a server goes
    down only its own clients move (each to its runner-up); everyone else stays put. A
    modulo hash would reshuffle nearly every client instead.
    """

    def pick(self, snapshot: Snapshot, request: RequestInfo) -> tuple[Backend, Done]:
        key = request.client_ip.encode()
        return max(snapshot.servers, key=lambda backend: _score(key, backend)), _nothing


def _score(key: bytes, backend: Backend) -> float:
    """Weighted rendezvous score: weight / -ln(u) for a hash u uniform in (0, 1)."""
    digest = hashlib.blake2b(key + b"|" + backend.name.encode(), digest_size=8).digest()
    uniform = (int.from_bytes(digest, "big") + 1) / (2**64 + 1)
    return backend.weight / -math.log(uniform)
