"""Alerts: telling someone that a pool is in trouble, by log line, command or webhook.

Where it sits: every pool's `BackendSet` reports each server's up/down change together
with what it did to the pool (`backends.PoolChange`); the `Alerter` turns those into
alerts:

    no-server   the pool lost its last server: its requests get 503      ERROR
    backups     every primary is down and the backups serve              WARNING
    recovered   a primary serves again after backups (or nobody) did     INFO
    flapping    one server changed state `flap_changes` times within     WARNING
                `flap_window` seconds (reported once per burst)

Each alert is always one log line, `ALERT no-server pool=api server=10.0.0.2:80: ...`,
greppable and stable. If configured, it also runs a command (the alert as JSON on
stdin and as `LB_ALERT_*` environment variables) and POSTs the same JSON to a
webhook. Those run on a thread of their own, one alert after another, so the health
thread that noticed the change never waits for a slow pager; a failed delivery is
logged and not retried.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import queue
import subprocess
import threading
from collections import deque
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Callable
from urllib.parse import urlsplit

from common.clock import Clock
from load_balancer.backends import Backend, PoolChange
from load_balancer.config import AlertConfig

log = logging.getLogger("load_balancer.alerts")

DELIVERY_TIMEOUT = 10.0  # seconds a command or webhook may take
FLAPPING = "flapping"
LEVELS = {PoolChange.NO_SERVER.value: logging.ERROR, PoolChange.BACKUPS.value: logging.WARNING,
          PoolChange.RECOVERED.value: logging.INFO, FLAPPING: logging.WARNING}


@dataclass(frozen=True)
class Alert:
    kind: str            # no-server, backups, recovered or flapping
    pool: str
    server: str          # the server whose change raised it
    message: str
    time: float          # wall clock

    def payload(self) -> dict:
        fields = asdict(self)
        fields["time"] = datetime.fromtimestamp(self.time, timezone.utc).isoformat(timespec="milliseconds")
        return fields


class DeliveryFailed(Exception):
    """A command exited with a non-zero status, or a webhook answered other than 2xx."""


Deliver = Callable[[AlertConfig, Alert], None]


def run_command(config: AlertConfig, alert: Alert) -> None:
    env = {**os.environ, "LB_ALERT_KIND": alert.kind, "LB_ALERT_POOL": alert.pool,
           "LB_ALERT_SERVER": alert.server, "LB_ALERT_MESSAGE": alert.message}
    result = subprocess.run(config.command, input=json.dumps(alert.payload()), text=True, env=env,
                            capture_output=True, timeout=DELIVERY_TIMEOUT)
    if result.returncode != 0:
        last_line = (result.stderr.strip().splitlines() or [""])[-1]
        raise DeliveryFailed(f"exit status {result.returncode} {last_line}".rstrip())


def post_webhook(config: AlertConfig, alert: Alert) -> None:
    url = urlsplit(config.webhook)
    connection = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    conn = connection(url.hostname, url.port, timeout=DELIVERY_TIMEOUT)
    try:
        conn.request("POST", (url.path or "/") + (f"?{url.query}" if url.query else ""),
                     json.dumps(alert.payload()).encode(), {"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    if not 200 <= response.status < 300:
        raise DeliveryFailed(f"status {response.status}")


class Alerter:
    def __init__(self, config: AlertConfig, clock: Clock, *,
                 command: Deliver = run_command, webhook: Deliver = post_webhook) -> None:
        self.config = config  # replaced whole by a reload
        self.clock = clock
        self._command = command
        self._webhook = webhook
        self._lock = threading.Lock()  # guards the two flap dictionaries
        self._changes: dict[tuple[str, str], deque[float]] = {}  # (pool, server) -> change times
        self._flap_reported: dict[tuple[str, str], float] = {}   # (pool, server) -> when
        self._queue: queue.Queue[Alert | None] = queue.Queue()
        self._thread = threading.Thread(target=self._deliver_all, name="lb-alerts", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Deliver what is queued, then stop."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(DELIVERY_TIMEOUT)

    def flush(self) -> None:
        """Wait until every alert raised so far has been delivered (for tests)."""
        self._queue.join()

    # --- raising ------------------------------------------------------------------

    def server_changed(self, pool: str, backend: Backend, change: PoolChange | None) -> None:
        """A `BackendSet` listener: one server went up or down, with this effect on its pool."""
        if change is PoolChange.NO_SERVER:
            self.alert(change.value, pool, backend.name,
                       f"no server is up ({backend.name} was the last): requests get 503")
        elif change is PoolChange.BACKUPS:
            self.alert(change.value, pool, backend.name,
                       f"every primary is down ({backend.name} was the last): serving from backups")
        elif change is PoolChange.RECOVERED:
            self.alert(change.value, pool, backend.name, f"{backend.name} is up: primaries serve again")
        changes = self._flapping(pool, backend.name)
        if changes:
            self.alert(FLAPPING, pool, backend.name, f"{backend.name} changed state {changes} times "
                                                     f"within {self.config.flap_window:g}s")

    def alert(self, kind: str, pool: str, server: str, message: str) -> None:
        log.log(LEVELS[kind], "ALERT %s pool=%s server=%s: %s", kind, pool, server, message)
        if self.config.command or self.config.webhook:
            self._queue.put(Alert(kind, pool, server, message, self.clock.time()))

    def _flapping(self, pool: str, server: str) -> int:
        """Record one change; the number of recent changes if that makes a new burst, else 0."""
        now = self.clock.monotonic()
        window = self.config.flap_window
        key = (pool, server)
        with self._lock:
            changes = self._changes.setdefault(key, deque())
            changes.append(now)
            while now - changes[0] > window:
                changes.popleft()
            reported = self._flap_reported.get(key)
            if len(changes) < self.config.flap_changes or (reported is not None and now - reported <= window):
                return 0
            self._flap_reported[key] = now
            return len(changes)

    # --- delivering ---------------------------------------------------------------

    def _deliver_all(self) -> None:
        while (alert := self._queue.get()) is not None:
            try:
                self._deliver(alert)
            finally:
                self._queue.task_done()
        self._queue.task_done()

    def _deliver(self, alert: Alert) -> None:
        config = self.config
        for name, wanted, deliver in (("command", config.command, self._command),
                                      ("webhook", config.webhook, self._webhook)):
            if not wanted:
                continue
            try:
                deliver(config, alert)
            except (OSError, subprocess.SubprocessError, http.client.HTTPException, DeliveryFailed) as err:
                log.warning("alert %s pool=%s: %s failed: %s", alert.kind, alert.pool, name, err)
