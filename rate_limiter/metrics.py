"""Counters for what the limiter decided, in Prometheus's text format, at /metrics.

Where it sits: admission counts every decision here; `MetricsServer` serves the text on
an admin port (separate from the public one, so clients cannot read it); the monitor
(rate_limiter/monitor.py) and Prometheus poll it. `parse()` reads the format back, so
the writer and the one reader we ship live side by side.

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
import re
import socket
import threading
from collections import Counter

from common.http1 import (NEED_DATA, Data, EndOfMessage, Headers, HTTPError, Request,
                          RequestParser, Response, serialize_head)
from common.tcpserver import ThreadedTCPServer
from rate_limiter.breaker import CircuitBreaker, State

RESULTS = ("allowed", "limited", "shadow_limited")
# Seconds: from an in-process decision (~10 us) to a store at its timeout.
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


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
        out = ["# HELP ratelimit_requests_total Requests decided, per policy and result.\n",
               "# TYPE ratelimit_requests_total counter\n"]
        out += [f"ratelimit_requests_total{{policy={_quote(policy)},result=\"{result}\"}} {n}\n"
                for (policy, result), n in results]
        out += ["# HELP ratelimit_store_errors_total Checks the store could not decide.\n",
                "# TYPE ratelimit_store_errors_total counter\n"]
        out += [f"ratelimit_store_errors_total{{policy={_quote(policy)}}} {n}\n" for policy, n in errors]
        out += ["# HELP ratelimit_decision_seconds Time to decide one request (all its policies).\n",
                "# TYPE ratelimit_decision_seconds histogram\n"]
        cumulative = 0
        for bound, n in zip([*map(repr, self.buckets), "+Inf"], latency):
            cumulative += n
            out.append(f'ratelimit_decision_seconds_bucket{{le="{bound}"}} {cumulative}\n')
        out.append(f"ratelimit_decision_seconds_sum {latency_sum!r}\n")
        out.append(f"ratelimit_decision_seconds_count {cumulative}\n")
        if self.breaker is not None:
            current = self.breaker.state
            out += ["# HELP ratelimit_breaker_state The store circuit breaker's state (1 = current).\n",
                    "# TYPE ratelimit_breaker_state gauge\n"]
            out += [f'ratelimit_breaker_state{{state="{state.value}"}} {int(state is current)}\n'
                    for state in State]
        return "".join(out)


def _quote(value: str) -> str:
    """A label value: in double quotes, with backslash, quote and newline escaped."""
    return '"' + value.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n") + '"'


_SAMPLE = re.compile(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}

Sample = tuple[str, tuple[tuple[str, str], ...]]  # (name, sorted labels)


def parse(text: str) -> dict[Sample, float]:
    """Prometheus text -> {(name, ((label, value), ...)): value}. Comments are skipped."""
    samples: dict[Sample, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.fullmatch(line)
        if match is None:
            raise ValueError(f"not a metrics line: {line!r}")
        name, labels, value = match.groups()
        pairs = tuple(sorted((key, re.sub(r"\\.", lambda m: _UNESCAPE.get(m.group(), m.group()), raw))
                             for key, raw in _LABEL.findall(labels or "")))
        samples[name, pairs] = float(value)
    return samples


class MetricsServer:
    """GET /metrics on the admin port; anything else is 404."""

    def __init__(self, metrics: Metrics, host: str, port: int) -> None:
        self.metrics = metrics
        self._tcp = ThreadedTCPServer(host, port, self._serve, name="metrics")

    @property
    def port(self) -> int:
        return self._tcp.port

    def start(self) -> None:
        self._tcp.start()

    def stop(self) -> None:
        self._tcp.shutdown()

    def _serve(self, sock: socket.socket, addr: tuple) -> None:
        sock.settimeout(30)
        parser = RequestParser()
        try:
            while (request := _next_request(sock, parser)) is not None:
                sock.sendall(self._answer(request))
                if not request.keep_alive:
                    return
        except HTTPError as err:
            sock.sendall(_response(err.status, f"{err}\n", keep_alive=False))
        except OSError:
            return  # the client went away

    def _answer(self, request: Request) -> bytes:
        if request.target.split("?", 1)[0] != "/metrics" or request.method not in ("GET", "HEAD"):
            return _response(404, "try GET /metrics\n", keep_alive=request.keep_alive)
        body = self.metrics.render()
        return _response(200, body, keep_alive=request.keep_alive, content_type=CONTENT_TYPE,
                         head_only=request.method == "HEAD")


def _next_request(sock: socket.socket, parser: RequestParser) -> Request | None:
    """The next request head, with its body (if any) read and dropped."""
    request = None
    while True:
        event = parser.next_event()
        if event is NEED_DATA:
            parser.feed(sock.recv(65536))
        elif isinstance(event, Request):
            request = event
        elif isinstance(event, Data):
            continue
        elif isinstance(event, EndOfMessage):
            return request
        else:
            return None  # the client closed between requests


def _response(status: int, body: str, *, keep_alive: bool, content_type: str = "text/plain; charset=utf-8",
              head_only: bool = False) -> bytes:
    data = body.encode()
    headers = Headers([("Content-Type", content_type), ("Content-Length", str(len(data))),
                       ("Connection", "keep-alive" if keep_alive else "close")])
    return serialize_head(Response(status, headers=headers)) + (b"" if head_only else data)
