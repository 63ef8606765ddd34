"""Every algorithm under a fake clock: limits, burst capacity, refill, window borders.

The limiter is the real thing (RateLimiter over a MemoryStore); only time is fake, so
"ten seconds later" is one `clock.advance(10)` and nothing sleeps.
"""

from __future__ import annotations

import math

import pytest

from common.clock import FakeClock
from rate_limiter.algorithms import ALGORITHMS, WINDOW_ALGORITHMS, Limit, create
from rate_limiter.stores import MemoryStore, RateLimiter


def make(name: str, rate: int, period: float, burst: int | None = None, **options):
    clock = FakeClock()
    return RateLimiter(create(name, Limit(rate, period, burst), **options), MemoryStore(clock)), clock


def admitted(limiter: RateLimiter, attempts: int, key: str = "k", cost: int = 1) -> int:
    return sum(limiter.allow(key, cost).allowed for _ in range(attempts))


def test_the_table_names_the_six_algorithms():
    assert sorted(ALGORITHMS) == ["fixed-window", "gcra", "leaky-bucket", "sliding-log",
                                  "sliding-window", "token-bucket"]
    assert WINDOW_ALGORITHMS == {"fixed-window", "sliding-log", "sliding-window"}


def test_unknown_algorithm_names_the_choices():
    with pytest.raises(ValueError, match="token-bucket"):
        create("leaky", Limit(1, 1))


# --- what every algorithm shares ---------------------------------------------------------

@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_a_fresh_key_admits_the_whole_quota_then_refuses(name):
    limiter, _ = make(name, 5, 1.0)
    decisions = [limiter.allow("k") for _ in range(6)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0]
    assert all(d.limit == 5 for d in decisions)
    assert decisions[-1].retry_after > 0 and decisions[0].retry_after == 0


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_keys_are_independent(name):
    limiter, _ = make(name, 2, 1.0)
    assert admitted(limiter, 5, key="a") == 2
    assert admitted(limiter, 5, key="b") == 2


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_refused_requests_do_not_consume_quota(name):
    limiter, clock = make(name, 4, 1.0)
    assert admitted(limiter, 4) == 4
    refused = limiter.allow("k")
    assert admitted(limiter, 100) == 0  # hammering the closed door...
    clock.advance(refused.retry_after)
    assert limiter.allow("k").allowed   # ...does not push the reopening back


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_retry_after_is_exactly_when_the_next_request_passes(name):
    limiter, clock = make(name, 10, 2.0)
    assert admitted(limiter, 10) == 10
    wait = limiter.allow("k").retry_after
    clock.advance(wait - 0.001)
    assert not limiter.allow("k").allowed
    clock.advance(0.001)
    assert limiter.allow("k").allowed


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_a_request_costing_more_than_the_quota_can_never_pass(name):
    limiter, _ = make(name, 5, 1.0)
    decision = limiter.allow("k", cost=6)
    assert not decision.allowed and decision.retry_after == math.inf
    assert limiter.allow("k", cost=5).allowed  # and it consumed nothing


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_cost_counts_as_that_many_requests(name):
    limiter, _ = make(name, 10, 1.0)
    assert limiter.allow("k", cost=7).remaining == 3
    assert not limiter.allow("k", cost=4).allowed
    assert limiter.allow("k", cost=3).allowed


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_state_is_forgotten_once_the_quota_is_whole_again(name):
    clock = FakeClock()
    store = MemoryStore(clock)
    limiter = RateLimiter(create(name, Limit(3, 1.0)), store)
    last = [limiter.allow(f"client-{i}") for i in range(50)][-1]
    assert len(store) == 50
    clock.advance(last.reset_after + 0.001)
    limiter.allow("someone-else")  # each decision sweeps a few expired entries
    for _ in range(10):
        limiter.allow("someone-else")
    assert len(store) == 1
    assert limiter.allow("client-0").remaining == 2  # a fresh start


# --- token bucket --------------------------------------------------------------------------

def test_token_bucket_admits_the_burst_at_once_then_the_rate():
    limiter, clock = make("token-bucket", 10, 1.0, burst=20)
    assert admitted(limiter, 30) == 20          # the bucket starts full
    clock.advance(0.5)
    assert admitted(limiter, 30) == 5           # 10 tokens/s for half a second
    clock.advance(0.1)
    assert admitted(limiter, 30) == 1


def test_token_bucket_never_fills_beyond_its_burst():
    limiter, clock = make("token-bucket", 10, 1.0, burst=20)
    admitted(limiter, 20)
    clock.advance(3600)
    assert admitted(limiter, 100) == 20


def test_token_bucket_reports_refill_times():
    limiter, clock = make("token-bucket", 10, 1.0, burst=20)
    admitted(limiter, 20)
    refused = limiter.allow("k")
    assert refused.retry_after == pytest.approx(0.1)   # one token every 100 ms
    assert refused.reset_after == pytest.approx(2.0)   # 20 tokens to refill


# --- leaky bucket --------------------------------------------------------------------------

def test_leaky_meter_admits_like_a_token_bucket():
    meter, meter_clock = make("leaky-bucket", 10, 1.0, burst=20)
    bucket, bucket_clock = make("token-bucket", 10, 1.0, burst=20)
    for step in (0, 0.05, 0.3, 1.0, 0.0, 2.5):
        meter_clock.advance(step)
        bucket_clock.advance(step)
        assert admitted(meter, 25) == admitted(bucket, 25)


def test_leaky_queue_delays_a_burst_to_the_rate_instead_of_refusing():
    limiter, _ = make("leaky-bucket", 10, 1.0, burst=5, mode="queue")
    decisions = [limiter.allow("k") for _ in range(6)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False]  # the queue holds 5
    assert [d.delay for d in decisions[:5]] == pytest.approx([0, 0.1, 0.2, 0.3, 0.4])


def test_leaky_queue_passes_the_first_delay_after_requests_at_once():
    limiter, _ = make("leaky-bucket", 10, 1.0, burst=5, mode="queue", delay_after=2)
    delays = [limiter.allow("k").delay for _ in range(5)]
    assert delays == pytest.approx([0, 0, 0, 0.1, 0.2])


def test_leaky_queue_drains_at_the_rate():
    limiter, clock = make("leaky-bucket", 10, 1.0, burst=5, mode="queue")
    admitted(limiter, 5)
    clock.advance(0.2)                         # two have left the queue
    decision = limiter.allow("k")
    assert decision.allowed and decision.delay == pytest.approx(0.3)


def test_leaky_bucket_rejects_an_unknown_mode():
    with pytest.raises(ValueError, match="mode"):
        create("leaky-bucket", Limit(1, 1), mode="drip")


# --- GCRA ------------------------------------------------------------------------------------

def test_gcra_spaces_requests_one_interval_apart_after_the_burst():
    limiter, clock = make("gcra", 10, 1.0, burst=3)
    assert admitted(limiter, 10) == 3
    for _ in range(5):
        refused = limiter.allow("k")
        assert refused.retry_after == pytest.approx(0.1)
        clock.advance(0.1)
        assert admitted(limiter, 10) == 1


def test_gcra_tells_how_far_ahead_of_schedule_the_client_is():
    limiter, clock = make("gcra", 10, 1.0, burst=10)
    assert limiter.allow("k", cost=4).reset_after == pytest.approx(0.4)
    clock.advance(0.4)
    assert limiter.allow("k").remaining == 9


# --- windows and their borders -------------------------------------------------------------

def _border_burst(name: str) -> tuple[int, int]:
    """100 per 10 s: one request at t=0 opens the window, 99 more at t=9.9, then a
    burst at t=10.0. How many pass at 9.9 and at 10.0?"""
    limiter, clock = make(name, 100, 10.0)
    assert limiter.allow("k").allowed
    clock.advance(9.9)
    late = admitted(limiter, 200)
    clock.advance(0.1)
    return late, admitted(limiter, 200)


def test_fixed_window_lets_twice_the_limit_through_at_its_border():
    late, early = _border_burst("fixed-window")
    assert (late, early) == (99, 100)  # 199 requests within 0.1 s under a "100 per 10 s" limit


def test_sliding_log_never_exceeds_the_limit_in_any_window():
    late, early = _border_burst("sliding-log")
    assert (late, early) == (99, 1)  # only the request from t=0 has left the window


def test_sliding_window_smooths_the_border_burst():
    late, early = _border_burst("sliding-window")
    assert late == 99
    assert early == 0  # the previous window still weighs 100 * (1 - 0/10)


def test_fixed_window_resets_a_period_after_it_opened():
    limiter, clock = make("fixed-window", 3, 10.0)
    clock.advance(5)
    first = limiter.allow("k")
    assert first.reset_after == 10.0
    admitted(limiter, 5)
    clock.advance(9.999)
    assert not limiter.allow("k").allowed
    clock.advance(0.001)
    assert admitted(limiter, 5) == 3


def test_sliding_log_frees_units_as_they_age_out():
    limiter, clock = make("sliding-log", 3, 10.0)
    for _ in range(3):
        limiter.allow("k")
        clock.advance(1)
    refused = limiter.allow("k")                # at t=3; the first entry leaves at t=10
    assert refused.retry_after == pytest.approx(7)
    assert refused.reset_after == pytest.approx(9)  # the newest (t=2) leaves at t=12
    clock.advance(7)
    assert admitted(limiter, 5) == 1


def test_sliding_window_weighs_the_previous_window_by_its_overlap():
    limiter, clock = make("sliding-window", 10, 10.0)
    assert admitted(limiter, 10) == 10
    clock.advance(15)                           # halfway into the next window
    assert admitted(limiter, 10) == 5           # 10 * 0.5 still counts
    clock.advance(10)                           # the first window has slid out and
    assert admitted(limiter, 10) == 7           # the second one's 5 weigh 2.5: 7 fit


def test_sliding_window_forgets_after_two_idle_windows():
    limiter, clock = make("sliding-window", 10, 10.0)
    admitted(limiter, 10)
    clock.advance(20)
    assert admitted(limiter, 20) == 10
