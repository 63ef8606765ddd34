"""Server and pool counters, and the three views the admin port renders from one report."""

from __future__ import annotations

from common.clock import FakeClock
from common.prometheus import parse
from load_balancer.admin import dashboard, metrics
from load_balancer.config import BackendConfig, PoolConfig
from load_balancer.health import CheckResult
from load_balancer.serverpool import ServerPool
from load_balancer.stats import WINDOW, PoolStats, ServerStats


def test_server_counters_follow_started_finished_and_forwarded():
    stats = ServerStats()
    stats.started()
    stats.started()
    stats.finished(0.010)
    stats.forwarded(ok=True)
    stats.forwarded(ok=False)
    stats.retried()
    stats.connected()
    counters = stats.copy()
    assert {key: counters[key] for key in ("active", "connections", "requests", "errors", "retries")} == {
        "active": 1, "connections": 1, "requests": 2, "errors": 1, "retries": 1}
    assert (counters["latency_count"], counters["latency_sum"]) == (1, 0.010)


def test_latency_percentiles_are_nearest_rank_over_recent_attempts():
    stats = ServerStats()
    for ms in range(1, 101):  # 1 ms .. 100 ms
        stats.started()
        stats.finished(ms / 1000)
    assert stats.copy()["quantiles"] == {0.5: 0.051, 0.9: 0.091, 0.99: 0.1}
    for _ in range(WINDOW):  # a full window of fast answers pushes the slow ones out
        stats.started()
        stats.finished(0.001)
    assert set(stats.copy()["quantiles"].values()) == {0.001}
    assert stats.copy()["latency_count"] == 100 + WINDOW  # the totals never forget


def test_no_latency_yet_means_no_percentiles():
    assert ServerStats().copy()["quantiles"] == {}


def test_pool_responses_are_counted_by_status_class():
    stats = PoolStats()
    for status in (200, 204, 304, 404, 503, None):  # None: a TCP connection
        stats.count(status)
    assert stats.copy() == (6, {"2xx": 2, "3xx": 1, "4xx": 1, "5xx": 1})


# --- the views ------------------------------------------------------------------------------


def sample_report() -> dict:
    """A report as LoadBalancer.report() builds it, around one pool with some traffic."""
    clock = FakeClock()
    pool = ServerPool(PoolConfig("web<1>", (BackendConfig("10.0.0.1", 80), BackendConfig("10.0.0.2", 80, 2))),
                      clock, secret=b"s" * 32)
    a, b = pool.backends.backends
    for _ in range(3):
        a.stats.started()
        a.stats.finished(0.002)
        pool.health.record_forward(a, ok=True)
        pool.stats.count(200)
    pool.health.record_check(b, CheckResult(False, "Connection refused"))
    pool.backends.set_up(b, False, "test")
    clock.advance(1.5)
    return {"mode": "http", "listen": "127.0.0.1:8080", "uptime_seconds": 12.0, "draining": False,
            "in_flight": 0, "default_pool": "web<1>", "pools": {"web<1>": pool.report()}}


def test_a_pool_report_has_every_server_with_its_counters():
    pool = sample_report()["pools"]["web<1>"]
    assert (pool["requests"], pool["responses"], pool["serving"]) == (3, {"2xx": 3}, "primaries")
    a, b = pool["servers"]["10.0.0.1:80"], pool["servers"]["10.0.0.2:80"]
    assert (a["state"], a["requests"], a["errors"], a["active"], a["latency_ms"]["p99"]) == ("up", 3, 0, 0, 2.0)
    assert (b["state"], b["weight"], b["last_check"]) == (
        "down", 2, {"ok": False, "detail": "Connection refused", "seconds_ago": 1.5})


def labels(**pairs: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(pairs.items()))  # as `parse` keys them


def test_prometheus_metrics_carry_the_same_numbers():
    samples = parse(metrics(sample_report()))
    a = {"pool": "web<1>", "server": "10.0.0.1:80"}
    assert samples["lb_server_requests_total", labels(**a)] == 3
    assert samples["lb_server_up", labels(pool="web<1>", server="10.0.0.2:80")] == 0
    assert samples["lb_server_latency_seconds", labels(**a, quantile="0.99")] == 0.002
    assert samples["lb_server_latency_seconds_count", labels(**a)] == 3
    assert samples["lb_pool_responses_total", labels(pool="web<1>", code="2xx")] == 3
    assert samples["lb_pool_serving", labels(pool="web<1>", **{"from": "primaries"})] == 1


def test_the_dashboard_refreshes_itself_and_escapes_names():
    page = dashboard(sample_report())
    assert "<meta http-equiv='refresh' content='2'>" in page
    assert "pool web&lt;1&gt;" in page and "web<1>" not in page
    assert "<tr class='down'><td>10.0.0.2:80</td>" in page
