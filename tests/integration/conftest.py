"""Fixtures for the load balancer's integration tests: backends and balancers on port 0."""

from __future__ import annotations

import io

import pytest

from load_balancer.accesslog import AccessLog
from load_balancer.balancer import LoadBalancer
from load_balancer.config import from_mapping
from tests.integration.helpers import FALL, INTERVAL, RISE, TestBackend


@pytest.fixture
def backends():
    started: list[TestBackend] = []

    def start(*names: str) -> list[TestBackend]:
        new = [TestBackend(name) for name in names]
        started.extend(new)
        return new

    start.track = started.append  # for restarted backends
    yield start
    for backend in started:
        backend.kill()


@pytest.fixture
def balancer():
    started: list[LoadBalancer] = []

    def start(*entries: dict, health: dict | None = None, timeouts: dict | None = None,
              **settings) -> LoadBalancer:
        """Top-level backends `entries` (none: the settings hold [[pool]]s) checked fast."""
        default_pool = {"backend": list(entries),
                        "health": {"path": "/health", "interval": INTERVAL, "timeout": 0.5,
                                   "rise": RISE, "fall": FALL, **(health or {})}} if entries else {}
        raw = {"listen": "127.0.0.1:0", **default_pool,
               "timeouts": {"connect": 1.0, "read": 5.0, "drain": 5.0, **(timeouts or {})},
               **settings}
        lb = LoadBalancer(from_mapping(raw), access_log=AccessLog(io.StringIO()))
        lb.start()
        started.append(lb)
        return lb

    yield start
    for lb in started:
        lb.stop()
