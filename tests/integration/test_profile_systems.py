"""perf/profile_systems.py: the deterministic costs it records, on real sockets."""

from __future__ import annotations

import json

from perf import lb_bench, profile_systems


def test_one_proxied_request_costs_bytecodes_and_calls_in_the_proxy_thread():
    backends, ports = lb_bench.start_backends(2)
    try:
        costs = profile_systems.balancer_costs(ports)
    finally:
        lb_bench.stop_backends(backends)
    assert 1000 < costs["bytecodes_per_request"] < 50_000
    assert costs["calls_per_request"] > 50
    assert any(name.startswith("proxy.py:") for name in costs["top_functions"])


def test_limiter_decisions_are_costed_for_every_store_and_algorithm():
    with profile_systems.redis_clone() as url:
        costs = profile_systems.limiter_costs(url)
    assert len(costs) == 2 * 6
    redis, memory = costs["redis (our clone) gcra"], costs["memory gcra"]
    assert redis["bytecodes"] > memory["bytecodes"] > 0  # the network client costs more than a step


def test_recorded_costs_keep_the_other_label_and_other_figures(tmp_path):
    path = tmp_path / "costs.json"
    profile_systems.record(path, "before", {"limiter": {"x": 2, "req_s": 10}})
    profile_systems.record(path, "after", {"limiter": {"x": 1}})
    profile_systems.record(path, "before", {"limiter": {"x": 3}})
    limiter = json.loads(path.read_text())["limiter"]
    assert (limiter["before"], limiter["after"]) == ({"x": 3, "req_s": 10}, {"x": 1})
    assert limiter["method"] == profile_systems.METHOD["limiter"]
