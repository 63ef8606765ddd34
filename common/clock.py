"""Time as a dependency: every component that needs "now" takes a Clock.

Expiry, rate-limit windows and health-check intervals are all functions of time. Code
that calls `time.time()` directly can only be tested by sleeping, which makes tests
slow and flaky. Instead each component receives a clock: `SystemClock` in production,
`FakeClock` in tests, where a test moves time forward with `advance()` and observes the
result immediately.

Two readings, as in the OS: `time()` is wall-clock seconds since the epoch (what TTLs
and EXPIREAT are expressed in) and `monotonic()` never goes backwards (what durations
and timeouts should be measured with).
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float: ...
    def monotonic(self) -> float: ...

    def time_ms(self) -> int:
        """Wall-clock milliseconds since the epoch (Redis's mstime())."""
        ...


class SystemClock:
    """The real clocks of the operating system."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def time_ms(self) -> int:
        return time.time_ns() // 1_000_000


class FakeClock:
    """A clock that moves only when told to. Thread-safe; both readings advance together."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._lock = threading.Lock()
        self._now = start
        self._mono = 0.0

    def time(self) -> float:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def time_ms(self) -> int:
        with self._lock:
            return int(round(self._now * 1000))

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time does not go backwards; use set() for wall-clock jumps")
        with self._lock:
            self._now += seconds
            self._mono += seconds

    def set(self, wall_seconds: float) -> None:
        """Jump the wall clock (as NTP might); the monotonic clock is unaffected."""
        with self._lock:
            self._now = wall_seconds
