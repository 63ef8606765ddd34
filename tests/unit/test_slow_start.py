"""Slow start: a recovered server's weight ramps up over time, driven by a FakeClock."""

from __future__ import annotations

from collections import Counter

import pytest

from common.clock import FakeClock
from load_balancer.backends import MIN_SLOW_START_SHARE, BackendSet
from load_balancer.config import BackendConfig
from load_balancer.strategies import LeastConnections, RequestInfo, SmoothWeightedRoundRobin

SLOW_START = 10.0
A = BackendConfig("127.0.0.1", 9001)
B = BackendConfig("127.0.0.1", 9002)
REQUEST = RequestInfo("10.0.0.1")


def recovered_pair(slow_start: float = SLOW_START) -> tuple[FakeClock, BackendSet]:
    """Two servers of weight 1; the second has just come back up."""
    clock = FakeClock()
    backends = BackendSet([A, B], clock, slow_start=slow_start)
    b = backends.backends[1]
    backends.set_up(b, False, "test")
    clock.advance(60)
    backends.set_up(b, True, "test")
    return clock, backends


def share_of_b(backends: BackendSet, picks: int = 1000) -> float:
    strategy, b = SmoothWeightedRoundRobin(), backends.backends[1]
    counts = Counter(strategy.pick(backends.current(), REQUEST)[0] for _ in range(picks))
    return counts[b] / picks


def test_the_weight_ramps_linearly_from_almost_nothing_to_the_configured_weight():
    clock, backends = recovered_pair()
    b = backends.backends[1]
    weights = []
    for _ in range(6):
        weights.append(backends.effective_weight(b, clock.monotonic()))
        clock.advance(SLOW_START / 4)
    assert weights == [MIN_SLOW_START_SHARE, 0.25, 0.5, 0.75, 1, 1]


def test_the_ramp_shows_in_the_distribution_of_requests():
    clock, backends = recovered_pair()
    came_up = clock.monotonic()
    shares = []
    for progress in (0.1, 0.5, 1.0):  # effective weight p against 1: a share of p / (1 + p)
        clock.advance(came_up + SLOW_START * progress - clock.monotonic())
        shares.append(share_of_b(backends))
    assert shares == pytest.approx([0.1 / 1.1, 0.5 / 1.5, 0.5], abs=0.01)


def test_least_connections_also_holds_a_warming_server_back():
    clock, backends = recovered_pair()
    clock.advance(SLOW_START / 4)
    strategy = LeastConnections()
    held = Counter(strategy.pick(backends.current(), REQUEST)[0] for _ in range(50))  # none finish
    a, b = backends.backends
    assert held[a] == 40 and held[b] == 10  # in flight per unit of weight: 40/1 = 10/0.25


def test_servers_up_since_the_start_take_their_full_share_at_once():
    backends = BackendSet([A, B], FakeClock(), slow_start=SLOW_START)
    assert backends.current() is backends.snapshot  # nothing ramping: no new snapshot either
    assert share_of_b(backends) == 0.5


def test_without_slow_start_a_recovered_server_takes_its_full_share_at_once():
    _, backends = recovered_pair(slow_start=0)
    assert share_of_b(backends) == 0.5


def test_a_server_added_by_a_reload_warms_up_too():
    clock = FakeClock()
    backends = BackendSet([A], clock, slow_start=SLOW_START)
    backends.update([A, B], SLOW_START)
    clock.advance(SLOW_START / 2)
    assert share_of_b(backends) == pytest.approx(0.5 / 1.5, abs=0.01)
