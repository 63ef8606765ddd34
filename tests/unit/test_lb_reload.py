"""What a reload keeps, changes and refuses, without sockets: pools reconfigured in place."""

from __future__ import annotations

import pytest

from common.clock import FakeClock
from load_balancer.config import BackendConfig, PoolConfig, from_mapping
from load_balancer.health import CheckResult
from load_balancer.reload import needs_restart
from load_balancer.serverpool import ServerPool
from load_balancer.strategies import RequestInfo

A, B, C = (BackendConfig("127.0.0.1", port) for port in (9001, 9002, 9003))
BASE = {"listen": "127.0.0.1:8080", "backend": [{"address": "127.0.0.1:9001"}]}


def make_pool(*servers: BackendConfig, **settings) -> ServerPool:
    return ServerPool(PoolConfig("web", servers, **settings), FakeClock(), secret=b"s" * 32)


def test_servers_that_stay_keep_their_object_state_and_counters():
    pool = make_pool(A, B)
    a, b = pool.backends.backends
    pool.backends.set_up(b, False, "test")
    a.stats.forwarded(ok=True)
    removed = pool.reconfigure(PoolConfig("web", (B, C, BackendConfig("127.0.0.1", 9001, weight=5))),
                               b"s" * 32)
    assert removed == []
    kept_b, c, kept_a = pool.backends.backends
    assert (kept_a, kept_b) == (a, b)
    assert (a.weight, a.stats.requests, b.up, c.up) == (5, 1, False, True)
    assert pool.backends.snapshot.servers == (c, a)


def test_removed_servers_are_returned_and_leave_the_snapshot_and_the_health_checks():
    pool = make_pool(A, B)
    a, b = pool.backends.backends
    assert pool.reconfigure(PoolConfig("web", (A,)), b"s" * 32) == [b]
    assert pool.backends.snapshot.servers == (a,)
    pool.health.record_check(b, CheckResult(False, "late answer"))  # a probe still in flight: ignored
    pool.health.record_forward(b, ok=False, detail="a request still in flight")
    assert pool.backends.snapshot.servers == (a,)


def test_the_strategy_is_kept_unless_its_settings_change():
    pool = make_pool(A, B, C)
    strategy = pool.strategy
    first = pool.pick(pool.backends.current(), RequestInfo("10.0.0.1")).backend
    pool.reconfigure(PoolConfig("web", (A, B, C)), b"s" * 32)
    assert pool.strategy is strategy  # round-robin carries on where it was...
    assert pool.pick(pool.backends.current(), RequestInfo("10.0.0.1")).backend is not first
    pool.reconfigure(PoolConfig("web", (A, B, C), "least-connections"), b"s" * 32)
    assert pool.strategy is not strategy  # ...and a new algorithm starts fresh


@pytest.mark.parametrize("change, setting", [
    ({"listen": "127.0.0.1:9090"}, "listen"),
    ({"mode": "tcp"}, "mode"),
    ({"admin": "127.0.0.1:8081"}, "admin"),
    ({"log_format": "json"}, "log_format"),
    ({"rate_limit": {"policy": [{"name": "p", "limit": "5/second"}]}}, "rate_limit"),
])
def test_settings_bound_to_the_process_need_a_restart(change, setting):
    assert needs_restart(from_mapping(BASE), from_mapping({**BASE, **change})) == setting


def test_pools_routes_and_timeouts_can_change_while_running():
    new = {**BASE, "backend": [{"address": "127.0.0.1:9002"}], "algorithm": "least-connections",
           "pool": [{"name": "api", "backend": [{"address": "127.0.0.1:9101"}]}],
           "route": [{"pool": "api", "path_prefix": "/api/"}], "timeouts": {"read": 5}}
    assert needs_restart(from_mapping(BASE), from_mapping(new)) is None
