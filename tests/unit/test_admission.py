"""Admission: verdicts, headers, several policies, shadow mode, store outages, metrics."""

from __future__ import annotations

import logging

import pytest

from common.clock import FakeClock
from common.http1 import Headers, Request
from common.prometheus import parse
from rate_limiter.admission import RateLimitAdmission
from rate_limiter.algorithms import Limit, create
from rate_limiter.breaker import CircuitBreaker, GuardedStore
from rate_limiter.policies import Policy, PolicySet, RequestInfo, Route
from tests.unit.test_breaker import FlakyStore


def make(*policies: Policy, failure_threshold: int = 1):
    clock = FakeClock()
    store = FlakyStore(clock)
    slept: list[float] = []
    admission = RateLimitAdmission(PolicySet(policies), GuardedStore(
        store, CircuitBreaker(clock, failure_threshold=failure_threshold, reset_timeout=5)),
        clock=clock, sleep=slept.append)
    return admission, store, clock, slept


def get(path: str = "/", peer: str = "198.51.100.1") -> RequestInfo:
    return RequestInfo("GET", path, Headers(), peer)


def headers(verdict) -> dict[str, str]:
    return dict(verdict.admit.headers)


def per_ip(limit: str = "3/10", name: str = "per-ip", algorithm: str = "fixed-window", **options) -> Policy:
    rate, period = map(float, limit.split("/"))
    return Policy(name, create(algorithm, Limit(int(rate), period)), **options)


def metric(admission, name: str, **labels: str) -> float:
    return parse(admission.metrics.render()).get((name, tuple(sorted(labels.items()))), 0)


# --- one policy -------------------------------------------------------------------------------

def test_an_allowed_request_carries_the_ratelimit_headers():
    admission, *_ = make(per_ip("3/10"))
    verdict = admission.decide(get())
    assert verdict.admit.allowed
    assert headers(verdict) == {"RateLimit-Policy": '"per-ip";q=3;w=10',
                                "RateLimit": '"per-ip";r=2;t=10',
                                "X-RateLimit-Limit": "3", "X-RateLimit-Remaining": "2",
                                "X-RateLimit-Reset": "10"}


def test_a_refused_request_is_429_with_retry_after():
    admission, _, clock, _ = make(per_ip("3/10"))
    for _ in range(3):
        admission.decide(get())
    clock.advance(4)
    verdict = admission.decide(get())
    assert not verdict.admit.allowed and verdict.admit.status == 429
    assert headers(verdict)["Retry-After"] == "6"
    assert headers(verdict)["RateLimit"] == '"per-ip";r=0;t=6'
    assert "policy per-ip allows 3 per 10" in verdict.admit.reason


def test_a_token_bucket_policy_window_is_its_refill_time():
    admission, *_ = make(Policy("b", create("token-bucket", Limit(10, 1.0, 20))))
    assert headers(admission.decide(get()))["RateLimit-Policy"] == '"b";q=20;w=2'


def test_a_request_no_policy_applies_to_passes_without_headers():
    admission, *_ = make(per_ip(route=Route("/api/*")))
    verdict = admission.decide(get("/home"))
    assert verdict.admit.allowed and verdict.admit.headers == ()


# --- several policies -------------------------------------------------------------------------

def test_all_policies_must_pass_and_the_one_refusing_longest_is_reported():
    admission, *_ = make(per_ip("100/1", name="burst"), per_ip("2/60", name="hourly"),
                         per_ip("2/30", name="half"))
    admission.decide(get())
    admission.decide(get())
    verdict = admission.decide(get())
    assert verdict.admit.status == 429
    assert headers(verdict)["RateLimit"].startswith('"hourly"')
    assert headers(verdict)["Retry-After"] == "60"
    assert headers(verdict)["RateLimit-Policy"] == '"burst";q=100;w=1, "hourly";q=2;w=60, "half";q=2;w=30'


def test_when_all_pass_the_one_with_least_left_is_reported():
    admission, *_ = make(per_ip("100/1", name="wide"), per_ip("5/60", name="narrow"))
    assert headers(admission.decide(get()))["X-RateLimit-Remaining"] == "4"


def test_shadow_policies_count_and_log_but_never_refuse(caplog):
    caplog.set_level(logging.INFO, logger="rate_limiter.admission")
    admission, *_ = make(per_ip("1/10", name="trial", shadow=True))
    verdicts = [admission.decide(get()) for _ in range(3)]
    assert all(v.admit.allowed and v.admit.headers == () for v in verdicts)
    assert metric(admission, "ratelimit_requests_total", policy="trial", result="shadow_limited") == 2
    assert "shadow policy trial would limit GET /" in caplog.text


# --- the leaky queue ----------------------------------------------------------------------------

def test_a_queued_request_is_held_for_its_delay_before_it_passes():
    queue = Policy("q", create("leaky-bucket", Limit(10, 1.0, 5), mode="queue"))
    admission, _, _, slept = make(queue)
    request = Request("GET", "/", Headers([("Host", "x")]))
    for _ in range(3):
        assert admission(request, "198.51.100.1").allowed
    assert slept == pytest.approx([0.1, 0.2])  # the first passes at once


# --- store outages --------------------------------------------------------------------------------

@pytest.mark.parametrize("on_error, allowed, status", [("allow", True, 429), ("deny", False, 503)])
def test_when_the_store_fails_each_policy_fails_open_or_closed(on_error, allowed, status):
    admission, store, *_ = make(per_ip(on_store_error=on_error))
    store.down = True
    verdict = admission.decide(get())
    assert verdict.admit.allowed is allowed
    if not allowed:
        assert verdict.admit.status == status
        assert headers(verdict)["Retry-After"] == "5"  # when the breaker will probe again
    assert metric(admission, "ratelimit_store_errors_total", policy="per-ip") == 1


def test_a_local_fallback_keeps_limiting_during_an_outage():
    admission, store, *_ = make(per_ip("2/10", on_store_error="local"))
    store.down = True
    assert [admission.decide(get()).admit.allowed for _ in range(3)] == [True, True, False]


def test_limiting_resumes_when_the_store_comes_back():
    admission, store, clock, _ = make(per_ip("2/100", on_store_error="allow"))
    store.down = True
    assert all(admission.decide(get()).admit.allowed for _ in range(10))
    store.down = False
    clock.advance(5)  # the breaker's reset timeout: the next request probes
    assert [admission.decide(get()).admit.allowed for _ in range(3)] == [True, True, False]


def test_a_failing_shadow_policy_never_denies():
    admission, store, *_ = make(per_ip(on_store_error="deny", shadow=True))
    store.down = True
    assert admission.decide(get()).admit.allowed


# --- metrics --------------------------------------------------------------------------------------

def test_metrics_count_each_result_per_policy_and_the_latency():
    admission, *_ = make(per_ip("1/10"))
    for _ in range(3):
        admission.decide(get())
    assert metric(admission, "ratelimit_requests_total", policy="per-ip", result="allowed") == 1
    assert metric(admission, "ratelimit_requests_total", policy="per-ip", result="limited") == 2
    assert metric(admission, "ratelimit_decision_seconds_count") == 3
    assert metric(admission, "ratelimit_breaker_state", state="closed") == 1


def test_metric_label_values_are_escaped_and_parse_back():
    admission, *_ = make()
    admission.metrics.count('a"b\\c', "allowed")
    text = admission.metrics.render()
    assert 'policy="a\\"b\\\\c"' in text
    assert metric(admission, "ratelimit_requests_total", policy='a"b\\c', result="allowed") == 1
