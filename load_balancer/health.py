"""Health checks: deciding when a backend is down and when it may come back.

Evidence comes from active checks (a thread probes every backend each `interval`) and
passive ones (the proxy reports every forward). `fall` failed checks in a row take a
server down and `rise` good ones bring it back, so neither a lost packet nor one lucky
answer flips it (HAProxy's rise/fall); `passive_fails` failed forwards in a row take it
down at once. Without active checks, a server downed passively gets traffic again
after one `interval` (nginx's fail_timeout). Decisions go to `BackendSet.set_up`; time
comes from a Clock, so tests drive `run_due_checks()` directly.

Probes, by the `check` setting (`PROBES`): `http` sends `GET <path>` and wants a status
in `expect`; `connect` only opens a TCP connection (any TCP service); `redis` sends
`PING` and wants `+PONG`, so a Redis that accepts connections but is still loading
its data, or wants a password, counts as down.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Callable

from common.clock import Clock
from common.http1 import (NEED_DATA, ConnectionClosed, Headers, HTTPError, Request, Response,
                          ResponseParser, serialize_head)
from common.resp import Status
from common.resp_client import Connection, RedisConnectionError, RedisURL
from load_balancer.backends import Backend, BackendSet
from load_balancer.config import HealthConfig
from load_balancer.pool import UpstreamConnection

log = logging.getLogger("load_balancer.health")


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    detail: str  # "status 200", "connection refused", "timed out after 1.0s"


Probe = Callable[[Backend], CheckResult]


@dataclass
class _Record:
    """Consecutive results for one backend. Guarded by `HealthMonitor._lock`."""
    successes: int = 0
    failures: int = 0
    failed_forwards: int = 0
    next_check: float = 0.0   # monotonic time of the next active check
    down_since: float = 0.0


class HealthMonitor:
    """Turns check results and forward reports into up/down decisions, per backend."""

    def __init__(self, backends: BackendSet, config: HealthConfig, clock: Clock,
                 probe: Probe | None = None) -> None:
        self.backends = backends
        self.config = config
        self.clock = clock
        self._given_probe = probe  # tests script results; otherwise the config's kind
        self.probe = probe or PROBES[config.check](config)
        self._lock = threading.Lock()  # guards the records; never held during a probe
        self._records = {backend: _Record() for backend in backends}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lb-health", daemon=True)

    # --- the thread -----------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def reconfigure(self, config: HealthConfig) -> None:
        """After a reload: the new settings, and a record for every server now in the set.

        Servers that stayed keep their counts; new ones are checked at the next turn.
        """
        self.probe = self._given_probe or PROBES[config.check](config)
        with self._lock:
            self.config = config
            self._records = {backend: self._records.get(backend) or _Record()
                             for backend in self.backends}

    def _run(self) -> None:
        while not self._stop.is_set():
            self._stop.wait(self.run_due_checks())

    def run_due_checks(self) -> float:
        """Check every backend whose turn has come; return the seconds until the next turn.

        Probes run one after another in this thread, so a round with many silent
        backends takes up to `timeout` each; keep timeout x backends below interval.
        """
        now = self.clock.monotonic()
        with self._lock:
            due = [b for b, record in self._records.items() if record.next_check <= now]
            for backend in due:
                self._records[backend].next_check = now + self.config.interval
        for backend in due:
            if self.config.active:
                self.record_check(backend, self.probe(backend))
            else:
                self._readmit_after_fail_timeout(backend, now)
        with self._lock:
            next_turn = min(record.next_check for record in self._records.values())
        return max(0.0, next_turn - self.clock.monotonic())

    # --- evidence -------------------------------------------------------------------

    def record_check(self, backend: Backend, result: CheckResult) -> None:
        """One active check's result: `fall` failures in a row -> down, `rise` successes -> up."""
        backend.stats.checked(result.ok, result.detail, self.clock.monotonic())
        with self._lock:
            record = self._records.get(backend)
            if record is None:
                return  # removed by a reload while it was being probed
            if result.ok:
                record.successes += 1
                record.failures = 0
                change = not backend.up and record.successes >= self.config.rise
                reason = f"{record.successes} successful checks in a row ({result.detail})"
            else:
                record.failures += 1
                record.successes = 0
                change = backend.up and record.failures >= self.config.fall
                reason = f"{record.failures} failed checks in a row (last: {result.detail})"
            if change:
                self._set_up(backend, result.ok, reason)
        if not change:
            log.debug("check %s: %s", backend.name, result.detail)

    def record_forward(self, backend: Backend, ok: bool, detail: str = "") -> None:
        """Passive check: the proxy's report on one forwarded request (or TCP connect)."""
        backend.stats.forwarded(ok=ok)
        with self._lock:
            record = self._records.get(backend)
            if record is None:
                return  # removed by a reload; its last requests are finishing
            if ok:
                record.failed_forwards = 0
                return
            record.failed_forwards += 1
            limit = self.config.passive_fails
            if limit and backend.up and record.failed_forwards >= limit:
                self._set_up(backend, False, f"{record.failed_forwards} failed requests in a row "
                                             f"(last: {detail})")

    def _readmit_after_fail_timeout(self, backend: Backend, now: float) -> None:
        with self._lock:
            record = self._records[backend]
            if not backend.up and now - record.down_since >= self.config.interval:
                self._set_up(backend, True, f"retrying after {self.config.interval:g}s "
                                            "without active checks")

    def _set_up(self, backend: Backend, up: bool, reason: str) -> None:
        """Caller holds `_lock`; every counter restarts from the new state."""
        record = self._records[backend]
        record.successes = record.failures = record.failed_forwards = 0
        record.down_since = self.clock.monotonic()
        self.backends.set_up(backend, up, reason)


class ConnectProbe:
    """An active check for any TCP service: can a new connection be opened?"""

    def __init__(self, config: HealthConfig) -> None:
        self.config = config

    def __call__(self, backend: Backend) -> CheckResult:
        timeout = self.config.timeout
        try:
            UpstreamConnection.open(backend, connect_timeout=timeout, read_timeout=timeout).close()
        except OSError as err:
            return CheckResult(False, _describe(err, timeout))
        return CheckResult(True, "connected")


class RedisProbe:
    """An active check for Redis: `PING` on a new connection must answer `+PONG`.

    The command and reply go through the one RESP codec (common/resp.py, by way of
    common/resp_client.py), so a reply split across reads or an error reply such as
    `-LOADING` or `-NOAUTH` is read as Redis means it.
    """

    def __init__(self, config: HealthConfig) -> None:
        self.config = config

    def __call__(self, backend: Backend) -> CheckResult:
        url = RedisURL(backend.host, backend.port)
        try:
            conn = Connection(url, connect_timeout=self.config.timeout, timeout=self.config.timeout)
        except RedisConnectionError as err:
            return CheckResult(False, str(err))
        try:
            [reply] = conn.execute_many([("PING",)])
        except RedisConnectionError as err:
            return CheckResult(False, str(err))
        finally:
            conn.close()
        if isinstance(reply, Status) and reply == "PONG":
            return CheckResult(True, "+PONG")
        return CheckResult(False, f"PING answered {reply!r}")


class HttpProbe:
    """An active check: a fresh connection, `GET <path>`, and the status of the answer.

    A fresh connection (not one from the pool) tests the whole path a new client
    connection would take: accept queue, TCP handshake, the application's answer.
    """

    def __init__(self, config: HealthConfig) -> None:
        self.config = config

    def __call__(self, backend: Backend) -> CheckResult:
        timeout = self.config.timeout
        try:
            conn = UpstreamConnection.open(backend, connect_timeout=timeout, read_timeout=timeout)
        except OSError as err:
            return CheckResult(False, _describe(err, timeout))
        try:
            request = Request("GET", self.config.path or "/", Headers([
                ("Host", backend.name), ("User-Agent", "load_balancer-health-check"),
                ("Connection", "close")]))
            conn.sock.sendall(serialize_head(request))
            status = _read_status(conn)
        except (OSError, HTTPError) as err:
            return CheckResult(False, _describe(err, timeout))
        finally:
            conn.close()
        low, high = self.config.expect
        return CheckResult(low <= status <= high, f"status {status}")


def _read_status(conn: UpstreamConnection) -> int:
    parser = ResponseParser("GET")
    while True:
        event = parser.next_event()
        if event is NEED_DATA:
            parser.feed(conn.sock.recv(4096))
        elif isinstance(event, ConnectionClosed):
            raise HTTPError(502, "connection closed before a response")
        elif isinstance(event, Response) and not event.informational:
            return event.status


def _describe(err: OSError | HTTPError, timeout: float) -> str:
    if isinstance(err, TimeoutError):
        return f"timed out after {timeout:g}s"
    if isinstance(err, OSError):
        return err.strerror or str(err)
    return f"bad response: {err}"


PROBES: dict[str, Callable[[HealthConfig], Probe]] = {
    "http": HttpProbe, "connect": ConnectProbe, "redis": RedisProbe}
