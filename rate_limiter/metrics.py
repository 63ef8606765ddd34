"""Counters for what the limiter decided, in Prometheus's text format, at /metrics.

Where it sits: admission counts every decision here; `metrics_server()` serves the text
on an admin port (common/adminhttp.py: separate from the public one, so clients cannot
read it); the monitor (rate_limiter/monitor.py) and Prometheus poll it, and
`common.prometheus.parse` reads the format back.

    ratelimit_requests_total{policy="per-ip",result="allowed"} 1520
    ratelimit_requests_total{policy="per-ip",result="limited"} 37
    ratelimit_requests_total{policy="login",result="shadow_limited"} 4   (dry-run: would limit)
    ratelimit_store_errors_total{policy="per-ip"} 2
    ratelimit_decision_seconds_bucket{le="0.001"} 1490   (a histogram over all requests)
    ratelimit_breaker_state{state="open"} 0

Decision latency is per request, not per policy: all of a request's checks go to the
store in one round trip, so they share one latency.
"""

from __future__ import annotations

import bisect
import itertools
import threading
from collections import Counter

from common.adminhttp import AdminHTTPServer, Page
from common.prometheus import CONTENT_TYPE, family
from rate_limiter.breaker import CircuitBreaker, State

RESULTS = ("allowed", "limited", "shadow_limited")
# Seconds: from an in-process decision (~10 us) to a store at its timeout.
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class Metrics:
    def __init__(self, breaker: CircuitBreaker | None = None,
                 buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.breaker = breaker  # its state is read when the metrics are rendered
        self.buckets = buckets
        self._lock = threading.Lock()  # guards every field below
        self._results: Counter[tuple[str, str]] = Counter()      # (policy, result)
        self._store_errors: Counter[str] = Counter()             # policy
        self._latency = [0] * (len(buckets) + 1)                 # the last one is +Inf
        self._latency_sum = 0.0

    def count(self, policy: str, result: str) -> None:
        with self._lock:
            self._results[policy, result] += 1

    def count_store_error(self, policy: str) -> None:
        with self._lock:
            self._store_errors[policy] += 1

    def observe_latency(self, seconds: float) -> None:
        with self._lock:
            self._latency[bisect.bisect_left(self.buckets, seconds)] += 1
            self._latency_sum += seconds

    def render(self) -> str:
        with self._lock:
            results = sorted(self._results.items())
            errors = sorted(self._store_errors.items())
            latency, latency_sum = list(self._latency), self._latency_sum
        out = family("ratelimit_requests_total", "counter", "Requests decided, per policy and result.",
                     (("", {"policy": policy, "result": result}, n) for (policy, result), n in results))
        out += family("ratelimit_store_errors_total", "counter", "Checks the store could not decide.",
                      (("", {"policy": policy}, n) for policy, n in errors))
        cumulative = list(itertools.accumulate(latency))
        bounds = [*map(repr, self.buckets), "+Inf"]
        out += family("ratelimit_decision_seconds", "histogram",
                      "Time to decide one request (all its policies).",
                      [*(("_bucket", {"le": bound}, n) for bound, n in zip(bounds, cumulative)),
                       ("_sum", {}, latency_sum), ("_count", {}, cumulative[-1])])
        if self.breaker is not None:
            current = self.breaker.state
            out += family("ratelimit_breaker_state", "gauge", "The store circuit breaker's state (1 = current).",
                          (("", {"state": state.value}, int(state is current)) for state in State))
        return "".join(out)


def metrics_server(metrics: Metrics, host: str, port: int) -> AdminHTTPServer:
    """GET /metrics on the admin port; anything else is 404."""
    return AdminHTTPServer(host, port, {"/metrics": lambda: Page(metrics.render(), CONTENT_TYPE)},
                           name="metrics")
