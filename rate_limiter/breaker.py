"""A circuit breaker in front of the store, so an outage costs nothing per request.

Where it sits: admission (rate_limiter/admission.py) asks `GuardedStore.decide()`;
it answers the store's decisions, or None when the store cannot be used right now, and
each policy's `on_store_error` then decides alone: `allow` (fail open), `deny` (fail
closed: 503 with Retry-After) or `local` (an in-memory limiter on this node).

Without a breaker, every request during an outage waits out the store's timeout; with
many requests in flight that is a pile-up, and the dead store sets the site's latency.
The breaker counts consecutive failures:

    closed --(failure_threshold failures in a row)--> open
    open   --(reset_timeout passed)--> half-open: the next request probes the store
    half-open --(probe succeeds)--> closed        --(probe fails)--> open again

While open, and for everyone but the probe while half-open, no request touches the
store: the decision is made at once. Recovery needs no operator. Every transition is
logged. Time comes from the injected clock, so the tests drive it without sleeping.
"""

from __future__ import annotations

import enum
import logging
import threading

from common.clock import Clock
from rate_limiter.algorithms import Decision
from rate_limiter.stores import Check, Store, StoreError

log = logging.getLogger("rate_limiter.breaker")


class State(enum.Enum):
    CLOSED = "closed"          # the store is used
    OPEN = "open"              # the store is skipped until reset_timeout has passed
    HALF_OPEN = "half-open"    # one probe is on its way


class CircuitBreaker:
    def __init__(self, clock: Clock, *, failure_threshold: int = 3, reset_timeout: float = 5.0,
                 name: str = "store") -> None:
        self.clock = clock
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self.name = name
        self._lock = threading.Lock()  # guards the three fields below
        self._state = State.CLOSED
        self._failures = 0             # consecutive, while closed
        self._opened_at = 0.0          # monotonic

    @property
    def state(self) -> State:
        return self._state

    def acquire(self) -> bool:
        """May this caller use the store now? While half-open, only one caller may."""
        with self._lock:
            if self._state is State.CLOSED:
                return True
            if self._state is State.OPEN and self.clock.monotonic() - self._opened_at >= self.reset_timeout:
                self._transition(State.HALF_OPEN, "probing the store")
                return True
            return False

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            if self._state is not State.CLOSED:
                self._transition(State.CLOSED, "the store answered again")

    def record_failure(self, error: Exception) -> None:
        with self._lock:
            self._failures += 1
            if self._state is State.HALF_OPEN or (self._state is State.CLOSED
                                                  and self._failures >= self.failure_threshold):
                self._opened_at = self.clock.monotonic()
                self._transition(State.OPEN, f"{error}; deciding without it for "
                                             f"{self.reset_timeout:g} s")

    def retry_after(self) -> float:
        """Seconds until the breaker lets a probe through (0 if it would now)."""
        with self._lock:
            if self._state is not State.OPEN:
                return 0.0
            return max(0.0, self._opened_at + self.reset_timeout - self.clock.monotonic())

    def _transition(self, state: State, why: str) -> None:  # caller holds _lock
        log.warning("%s circuit %s -> %s: %s", self.name, self._state.value, state.value, why)
        self._state = state


class GuardedStore:
    """A store behind a breaker: its decisions, or None when it cannot answer now."""

    def __init__(self, store: Store, breaker: CircuitBreaker) -> None:
        self.store = store
        self.breaker = breaker

    def decide(self, checks: list[Check]) -> list[Decision] | None:
        if not self.breaker.acquire():
            return None  # open: decided at once, nobody waits for a dead store
        try:
            decisions = self.store.decide(checks)
        except StoreError as err:
            self.breaker.record_failure(err)
            return None
        except BaseException as err:  # a bug must not leave a probe half-open forever
            self.breaker.record_failure(err)
            raise
        self.breaker.record_success()
        return decisions

    def close(self) -> None:
        self.store.close()
