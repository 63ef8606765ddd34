"""Balancing algorithms: which backend gets the next request.

One method each, `pick(snapshot, request) -> (backend, done)`: choose from the
snapshot's servers (never empty: the proxy answers 503 first) and return a `done`
callback the proxy calls once when the request is over. Counting strategies
(least-connections, two random choices) increment in `pick` and decrement in `done`;
`track(backend)` counts a request that persistence (sticky.py) placed without a pick.
Weights come from `snapshot.weight(backend)`, which is lower than the configured
weight while a server warms up (slow start, backends.py). No I/O, no blocking: each
keeps its small state under its own lock. `STRATEGIES` maps the `algorithm` setting's
names to the classes; docs/load-balancer.md compares them.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from common.http1 import Headers

if TYPE_CHECKING:  # backends.py imports config.py, which imports this table
    from load_balancer.backends import Backend, Snapshot

Done = Callable[[], None]


@dataclass(frozen=True)
class RequestInfo:
    """What a strategy may base its choice on. In TCP mode only `client_ip` is known."""
    client_ip: str
    method: str = "GET"
    target: str = "/"
    headers: Headers = field(default_factory=Headers, compare=False)  # Headers is not hashable


def _nothing() -> None:
    """The `done` of strategies that keep no per-request state."""


class Strategy:
    """The interface, and the defaults of strategies that count nothing."""

    keyed = False  # True: takes the `hash_key` setting (see `request_key`)

    def pick(self, snapshot: Snapshot, request: RequestInfo) -> tuple[Backend, Done]:
        raise NotImplementedError

    def track(self, backend: Backend) -> Done:
        """Count a request sent to `backend` without `pick` (a sticky session)."""
        return _nothing


STRATEGIES: dict[str, type[Strategy]] = {}


def register(name: str) -> Callable[[type], type]:
    def add(cls: type) -> type:
        STRATEGIES[name] = cls
        return cls
    return add


def create(name: str, hash_key: str = "ip") -> Strategy:
    cls = STRATEGIES[name]
    return cls(request_key(hash_key)) if cls.keyed else cls()


# --- what a hashing strategy hashes -------------------------------------------------

KeyFunction = Callable[[RequestInfo], "str | None"]
HASH_KEYS = ("ip", "uri", "header:NAME", "cookie:NAME")


def request_key(spec: str) -> KeyFunction:
    """`ip`, `uri`, `header:NAME` or `cookie:NAME` -> a function giving the key of a request.

    None means the request has no such key (the header or cookie is missing).
    """
    kind, colon, name = spec.partition(":")
    if spec == "ip":
        return lambda request: request.client_ip
    if spec == "uri":
        return lambda request: request.target  # path and query, like nginx's $request_uri
    if kind == "header" and colon and name:
        return lambda request: request.headers.get(name)
    if kind == "cookie" and colon and name:
        return lambda request: request.headers.cookie(name)
    raise ValueError(f"expected one of {', '.join(HASH_KEYS)}, got {spec!r}")


def _hash64(text: str) -> int:
    """A well-mixed 64-bit hash, the same in every process (unlike Python's hash())."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


# --- the algorithms -----------------------------------------------------------------


@register("round-robin")
class RoundRobin(Strategy):
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
class SmoothWeightedRoundRobin(Strategy):
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
                weight = snapshot.weight(backend)
                self._current[backend] = self._current.get(backend, 0) + weight
                total += weight
                if best is None or self._current[backend] > self._current[best]:
                    best = backend
            self._current[best] -= total
        return best, _nothing


class _CountingStrategy(Strategy):
    """Base for strategies that compare the requests each server has in flight.

    The count is taken in `pick` under the lock, together with the choice; counting
    later would let a burst of simultaneous picks all see the same idle server.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight: Counter[Backend] = Counter()  # guarded by _lock

    def load(self, backend: Backend, snapshot: Snapshot) -> float:
        """In-flight requests per unit of weight. Caller holds `_lock`."""
        return self._in_flight[backend] / snapshot.weight(backend)

    def track(self, backend: Backend) -> Done:
        with self._lock:
            return self._start(backend)

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
            rotated = servers[start:] + servers[:start]
            best = min(rotated, key=lambda backend: self.load(backend, snapshot))  # first minimum wins
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
                best = first if self.load(first, snapshot) <= self.load(second, snapshot) else second
            return best, self._start(best)


@register("ip-hash")
class IPHash(Strategy):
    """The same client IP always reaches the same server, as long as that server is up.

    Rendezvous hashing (highest random weight): every server gets a pseudo-random score
    for the client, scaled by its weight, and the highest score wins. When a server goes
    down only its own clients move (each to its runner-up); everyone else stays put. A
    modulo hash would reshuffle nearly every client instead.
    """

    def pick(self, snapshot: Snapshot, request: RequestInfo) -> tuple[Backend, Done]:
        key = request.client_ip
        return max(snapshot.servers, key=lambda b: _score(key, b, snapshot.weight(b))), _nothing


def _score(key: str, backend: Backend, weight: float) -> float:
    """Weighted rendezvous score: weight / -ln(u) for a hash u uniform in (0, 1)."""
    uniform = (_hash64(f"{key}|{backend.name}") + 1) / (2**64 + 1)
    return weight / -math.log(uniform)


@register("consistent-hash")
class ConsistentHash(Strategy):
    """A hash ring with virtual nodes (Karger et al. 1997; libketama's layout).

    Each server owns `vnodes x weight` points on a ring of 2**64 positions, placed by
    hashing "name#i". A key goes to the owner of the first point at or after its own
    hash, wrapping around. Removing a server hands only its arcs to the next points
    clockwise, so about 1/N of the keys move; everyone else keeps their server, which
    keeps caches warm. Many points per server make the arcs, and so the shares, even.

    The key is the `hash_key` setting: the client IP, the URI, a header or a cookie.
    Requests without one (a missing header) are spread round-robin. The ring is built
    once per set of servers and reused until a health change or reload alters it.
    """

    keyed = True
    VNODES = 160  # points per unit of weight; ketama uses 160 too

    def __init__(self, key: KeyFunction = request_key("ip"), vnodes: int = VNODES) -> None:
        self.key = key
        self.vnodes = vnodes
        self._keyless = RoundRobin()
        self._lock = threading.Lock()
        self._built_for: tuple = ()  # guarded by _lock, with the two lists below
        self._points: list[int] = []  # sorted ring positions
        self._owners: list[Backend] = []  # _owners[i] owns _points[i]

    def pick(self, snapshot: Snapshot, request: RequestInfo) -> tuple[Backend, Done]:
        key = self.key(request)
        if key is None:
            return self._keyless.pick(snapshot, request)
        points, owners = self._ring(snapshot)
        i = bisect.bisect_left(points, _hash64(key)) % len(points)  # past the last point: wrap
        return owners[i], _nothing

    def _ring(self, snapshot: Snapshot) -> tuple[list[int], list[Backend]]:
        members = tuple((backend, backend.weight) for backend in snapshot.servers)
        with self._lock:
            if members != self._built_for:
                ring = sorted(((_hash64(f"{backend.name}#{i}"), backend)
                               for backend, weight in members for i in range(self.vnodes * weight)),
                              key=lambda point: point[0])
                self._points = [point for point, _ in ring]
                self._owners = [backend for _, backend in ring]
                self._built_for = members
            return self._points, self._owners
