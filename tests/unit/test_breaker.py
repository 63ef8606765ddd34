"""The circuit breaker and the store behind it, driven by a fake clock."""

from __future__ import annotations

import logging

import pytest

from common.clock import FakeClock
from rate_limiter.algorithms import Limit, create
from rate_limiter.breaker import CircuitBreaker, GuardedStore, State
from rate_limiter.stores import Check, MemoryStore, StoreError


class FlakyStore:
    """A memory store that can be switched off, and counts the calls it gets."""

    def __init__(self, clock: FakeClock) -> None:
        self.inner = MemoryStore(clock)
        self.down = False
        self.calls = 0

    def decide(self, checks):
        self.calls += 1
        if self.down:
            raise StoreError("connect to 127.0.0.1:6379: Connection refused")
        return self.inner.decide(checks)

    def close(self):
        pass


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def flaky(clock):
    return FlakyStore(clock)


@pytest.fixture
def guarded(clock, flaky):
    return GuardedStore(flaky, CircuitBreaker(clock, failure_threshold=3, reset_timeout=5.0))


CHECK = [Check(create("gcra", Limit(100, 1.0)), "k")]


def test_a_healthy_store_answers_through_a_closed_breaker(guarded):
    assert guarded.decide(CHECK)[0].allowed
    assert guarded.breaker.state is State.CLOSED


def test_failures_below_the_threshold_keep_asking_the_store(guarded, flaky):
    flaky.down = True
    assert guarded.decide(CHECK) is None
    assert guarded.decide(CHECK) is None
    assert guarded.breaker.state is State.CLOSED and flaky.calls == 2


def test_the_threshold_opens_the_circuit_and_the_store_is_left_alone(guarded, flaky):
    flaky.down = True
    for _ in range(3):
        guarded.decide(CHECK)
    assert guarded.breaker.state is State.OPEN
    for _ in range(100):
        assert guarded.decide(CHECK) is None  # decided at once...
    assert flaky.calls == 3                    # ...without a single call to the dead store


def test_a_success_resets_the_count_of_consecutive_failures(guarded, flaky):
    for down in (True, True, False, True, True):
        flaky.down = down
        guarded.decide(CHECK)
    assert guarded.breaker.state is State.CLOSED


def test_after_the_reset_timeout_one_probe_goes_through_and_recovery_closes(guarded, flaky, clock):
    flaky.down = True
    for _ in range(3):
        guarded.decide(CHECK)
    clock.advance(4.9)
    assert guarded.decide(CHECK) is None and flaky.calls == 3
    assert guarded.breaker.retry_after() == pytest.approx(0.1)
    clock.advance(0.1)
    flaky.down = False
    assert guarded.decide(CHECK)[0].allowed      # the probe
    assert guarded.breaker.state is State.CLOSED and flaky.calls == 4


def test_a_failed_probe_opens_the_circuit_for_another_timeout(guarded, flaky, clock):
    flaky.down = True
    for _ in range(3):
        guarded.decide(CHECK)
    clock.advance(5)
    assert guarded.decide(CHECK) is None          # the probe fails
    assert guarded.breaker.state is State.OPEN and flaky.calls == 4
    assert guarded.breaker.retry_after() == pytest.approx(5)


def test_while_half_open_only_the_probe_reaches_the_store(clock):
    breaker = CircuitBreaker(clock, failure_threshold=1, reset_timeout=1)
    breaker.record_failure(StoreError("down"))
    clock.advance(1)
    assert breaker.acquire() is True              # the probe
    assert breaker.state is State.HALF_OPEN
    assert breaker.acquire() is False             # everyone else, until it reports back
    breaker.record_success()
    assert breaker.acquire() is True


def test_every_transition_is_logged(guarded, flaky, clock, caplog):
    caplog.set_level(logging.WARNING, logger="rate_limiter.breaker")
    flaky.down = True
    for _ in range(3):
        guarded.decide(CHECK)
    clock.advance(5)
    flaky.down = False
    guarded.decide(CHECK)
    transitions = [record.getMessage() for record in caplog.records]
    assert [t.split(":")[0] for t in transitions] == ["store circuit closed -> open",
                                                      "store circuit open -> half-open",
                                                      "store circuit half-open -> closed"]
    assert "Connection refused" in transitions[0]


def test_an_unexpected_error_still_counts_as_a_failure(clock):
    class Broken:
        def decide(self, checks):
            raise RuntimeError("bug")

    guarded = GuardedStore(Broken(), CircuitBreaker(clock, failure_threshold=1))
    with pytest.raises(RuntimeError):
        guarded.decide(CHECK)
    assert guarded.breaker.state is State.OPEN
