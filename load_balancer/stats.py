"""Live counters per server and per pool: what the admin listener's /stats reports.

Where it sits: every `Backend` carries a `ServerStats` and every pool a `PoolStats`;
request threads (proxy.py, tcp.py), the health monitor and the connection pool update
them, and load_balancer/admin.py renders them as JSON, HTML or Prometheus text. Each
object has its own lock, held only to add a number or copy them all out.

What the server counters mean (HTTP mode / TCP mode):

    active       requests in flight now / connections open now
    connections  TCP connections opened to it (keep-alive reuse keeps this below requests)
    requests     forwards with an outcome: answered, or failed / connections made or refused
    errors       failed forwards: refused, reset, timed out, not HTTP / refused connects
    retries      forwards that failed here and were tried again (elsewhere, or on a
                 new connection when a pooled one had gone stale)
    latency      per attempt, from picking the server to the last response byte /
                 the time to connect

Latency percentiles come from the last `WINDOW` attempts (recent behaviour, bounded
memory), while `_sum`/`_count` are cumulative, as Prometheus summaries expect.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # a Backend holds its ServerStats
    from load_balancer.backends import Backend

WINDOW = 1024
QUANTILES = (0.5, 0.9, 0.99)


@dataclass(frozen=True)
class LastCheck:
    ok: bool
    detail: str  # "status 200", "Connection refused", "+PONG"
    at: float    # monotonic time of the check


class ServerStats:
    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards every field below
        self.active = 0
        self.connections = 0
        self.requests = 0
        self.errors = 0
        self.retries = 0
        self.latency_sum = 0.0
        self.latency_count = 0
        self._recent: deque[float] = deque(maxlen=WINDOW)
        self.last_check: LastCheck | None = None

    def started(self) -> None:
        with self._lock:
            self.active += 1

    def finished(self, seconds: float) -> None:
        with self._lock:
            self.active -= 1
            self.latency_sum += seconds
            self.latency_count += 1
            self._recent.append(seconds)

    def forwarded(self, *, ok: bool) -> None:
        with self._lock:
            self.requests += 1
            self.errors += not ok

    def connected(self) -> None:
        with self._lock:
            self.connections += 1

    def retried(self) -> None:
        with self._lock:
            self.retries += 1

    def checked(self, ok: bool, detail: str, at: float) -> None:
        self.last_check = LastCheck(ok, detail, at)  # one reference assignment: no lock needed

    def copy(self) -> dict[str, Any]:
        """Every counter, read together, and the QUANTILES of recent latencies (seconds)."""
        with self._lock:
            counters = {"active": self.active, "connections": self.connections,
                        "requests": self.requests, "errors": self.errors, "retries": self.retries,
                        "latency_sum": self.latency_sum, "latency_count": self.latency_count}
            recent = sorted(self._recent)
        # Nearest rank: the smallest sample with at least q of the samples at or below it.
        counters["quantiles"] = {q: recent[min(len(recent) - 1, int(q * len(recent)))]
                                 for q in QUANTILES} if recent else {}
        return counters


def quantile_name(q: float) -> str:
    """0.99 -> "p99"."""
    return f"p{round(q * 100)}"


def server_report(backend: Backend, weight: float, now: float) -> dict[str, Any]:
    """One server as /stats shows it; `weight` is its effective weight (slow start)."""
    counters = backend.stats.copy()
    check = backend.stats.last_check
    return {
        "state": "up" if backend.up else "down",
        "backup": backend.backup,
        "weight": backend.weight,
        "effective_weight": round(weight, 3),
        **{name: counters[name] for name in ("active", "connections", "requests", "errors", "retries")},
        "last_check": None if check is None else {
            "ok": check.ok, "detail": check.detail, "seconds_ago": round(now - check.at, 3)},
        "latency_ms": {quantile_name(q): round(seconds * 1000, 3)
                       for q, seconds in counters["quantiles"].items()},
        "latency_seconds_sum": counters["latency_sum"],
        "latency_count": counters["latency_count"],
    }


class PoolStats:
    """What happened to the requests routed to one pool, by response status class."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards both fields
        self.requests = 0
        self.responses: Counter[str] = Counter()  # "2xx" -> count; TCP mode counts none

    def count(self, status: int | None) -> None:
        """One request (or TCP connection) done; `status` is what the client got, if HTTP."""
        with self._lock:
            self.requests += 1
            if status is not None:
                self.responses[f"{status // 100}xx"] += 1

    def copy(self) -> tuple[int, dict[str, int]]:
        with self._lock:
            return self.requests, dict(sorted(self.responses.items()))
