"""The six rate-limiting algorithms, as pure functions of (state, now, cost).

Where it sits: a store (rate_limiter/stores.py) keeps one small state per key and asks
an algorithm for the next state and the decision. The memory store calls `step()`
below under its lock; the Redis store runs the Lua twin of `step()` in
rate_limiter/scripts/<name>.lua, so both stores decide exactly alike. Nothing here
reads a clock or touches a socket: time is an argument, which is what lets the tests
replay a burst second by second without sleeping.

| name             | state                          | memory per key | shape of what it admits             |
|------------------|--------------------------------|----------------|-------------------------------------|
| token-bucket     | tokens, last update            | O(1)           | bursts up to `burst`, then `rate`   |
| leaky-bucket     | water level, last update       | O(1)           | the same as a meter; as a queue it  |
|                  |                                |                | delays instead of refusing (nginx)  |
| fixed-window     | count, window end              | O(1)           | `limit` per window, 2x at a border  |
| sliding-log      | every admitted request's time  | O(limit)       | exact: never > limit in any window  |
| sliding-window   | window start, two counts       | O(1)           | a weighted estimate of the log      |
| gcra             | theoretical arrival time (TAT) | O(1)           | token bucket in one number          |

Every algorithm answers with a `Decision` (allowed, limit, remaining, reset_after,
retry_after, plus delay for the leaky queue). Times are seconds as floats. Refused
requests never consume quota: a client hammering at a closed door recovers as soon as
it slows down. A request costing more than the whole quota can never pass; its
retry_after is infinite.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

# Time is known to the microsecond (Redis's TIME resolution), and float sums of
# timestamps near 1.7e9 are off by up to ~1e-7 s, which turns 3 tokens into
# 2.9999997. So every quantity derived from time gets one microsecond's worth of
# slack: `RESOLUTION * per_second` units for something that changes by `per_second`
# units a second. The Lua scripts use the same rule (scripts/prelude.lua).
RESOLUTION = 1e-6
INF = math.inf


@dataclass(frozen=True)
class Limit:
    """`rate` requests per `period` seconds; buckets also hold up to `burst` at once."""

    rate: int
    period: float
    burst: int | None = None  # None: the same as rate

    def __post_init__(self) -> None:
        if self.rate < 1 or self.period <= 0 or (self.burst is not None and self.burst < 1):
            raise ValueError(f"invalid limit {self}")

    @property
    def capacity(self) -> int:
        return self.rate if self.burst is None else self.burst

    @property
    def per_second(self) -> float:
        return self.rate / self.period

    def __str__(self) -> str:
        period = f"{self.period:g}s"
        burst = "" if self.burst is None else f" burst {self.burst}"
        return f"{self.rate}/{period}{burst}"


class Decision(NamedTuple):
    """What one check answers (immutable). A NamedTuple rather than a frozen dataclass
    because one is built per check on the hot path, and a frozen dataclass's __init__
    (one object.__setattr__ per field) was a top cost of a decision in the profile.

    limit: the quota a client may use at once (the window's limit, or the bucket's size).
    remaining: how much of it is left after this request.
    reset_after: seconds until the quota is whole again if nothing else arrives.
    retry_after: seconds until a request of the same cost would pass (0 if allowed).
    delay: seconds the caller must hold the request before passing it on (leaky queue).
    """

    allowed: bool
    limit: int
    remaining: int
    reset_after: float
    retry_after: float
    delay: float = 0.0


class Algorithm:
    """One algorithm with its parameters. Subclasses implement `step()`.

    `step(state, now, cost)` returns (new state, decision); `None` is the state of a key
    never seen or expired. `ttl(state, now)` says how long the state matters: after it,
    the state is equivalent to `None`, so a store may forget it (and Redis does, by
    PEXPIRE). `script_args()` are the ARGV the Lua twin takes after its key.
    """

    name: ClassVar[str]
    uses_burst: ClassVar[bool] = True  # windows count `rate` per `period` and ignore burst

    def __init__(self, limit: Limit) -> None:
        self.limit = limit

    def step(self, state: Any, now: float, cost: int) -> tuple[Any, Decision]:
        raise NotImplementedError

    def ttl(self, state: Any, now: float) -> float:
        raise NotImplementedError

    def script_args(self) -> tuple:
        return (self.limit.rate, repr(float(self.limit.period)), self.limit.capacity)

    @property
    def quota(self) -> int:
        """What the Decision's `limit` says: the bucket's size, or the window's count."""
        return self.limit.capacity if self.uses_burst else self.limit.rate

    @property
    def window(self) -> float:
        """Seconds in which a spent `quota` comes back whole: the window, or the refill time."""
        return self.limit.capacity / self.limit.per_second if self.uses_burst else self.limit.period

    def __repr__(self) -> str:
        return f"{self.name}({self.limit})"


def _whole(value: float, slack: float) -> int:
    """The whole units in `value`, forgiving float residue up to `slack`."""
    return max(0, math.floor(value + slack))


# --- buckets ---------------------------------------------------------------------------


class TokenBucket(Algorithm):
    """A bucket of `burst` tokens refilled at `rate/period` per second; a request takes
    `cost` tokens or is refused. State: (tokens, time of last update)."""

    name = "token-bucket"

    def step(self, state, now, cost):
        capacity, rate = self.limit.capacity, self.limit.per_second
        tokens, last = state if state is not None else (capacity, now)
        slack = RESOLUTION * rate
        tokens = min(capacity, tokens + max(0.0, now - last) * rate)  # refill since last
        allowed = cost <= tokens + slack
        if allowed:
            tokens = max(0.0, tokens - cost)
        retry = 0.0 if allowed else INF if cost > capacity else (cost - tokens) / rate
        return (tokens, now), Decision(allowed, capacity, _whole(tokens, slack),
                                       (capacity - tokens) / rate, retry)

    def ttl(self, state, now):
        return (self.limit.capacity - state[0]) / self.limit.per_second


class LeakyBucket(Algorithm):
    """A bucket of size `burst` leaking `rate/period` per second; a request pours `cost`
    in, and is refused if it would overflow. State: (water level, last update).

    As a *meter* it is the token bucket seen from the other side (level = burst -
    tokens). As a *queue* (nginx's limit_req with `burst`) the water is requests
    waiting: an admitted request is delayed until the water ahead of it has leaked
    out, so the upstream sees a steady `rate`. The first `delay_after` requests of a
    burst pass without waiting (nginx's `delay=`).
    """

    name = "leaky-bucket"
    MODES = ("meter", "queue")

    def __init__(self, limit: Limit, mode: str = "meter", delay_after: int = 0) -> None:
        super().__init__(limit)
        if mode not in self.MODES:
            raise ValueError(f"leaky-bucket mode must be one of {self.MODES}, got {mode!r}")
        self.mode = mode
        self.delay_after = delay_after

    def step(self, state, now, cost):
        capacity, rate = self.limit.capacity, self.limit.per_second
        level, last = state if state is not None else (0.0, now)
        slack = RESOLUTION * rate
        level = max(0.0, level - max(0.0, now - last) * rate)  # leak since last
        allowed = level + cost <= capacity + slack
        delay = 0.0
        if allowed:
            if self.mode == "queue":
                delay = max(0.0, level - self.delay_after) / rate
            level += cost
        retry = 0.0 if allowed else INF if cost > capacity else (level + cost - capacity) / rate
        return (level, now), Decision(allowed, capacity, _whole(capacity - level, slack), level / rate,
                                      retry, delay)

    def ttl(self, state, now):
        return state[0] / self.limit.per_second

    def script_args(self):
        return (*super().script_args(), self.mode, self.delay_after)


class GCRA(Algorithm):
    """Generic Cell Rate Algorithm (ATM networks; redis-cell, Stripe): a token bucket in
    one number. Requests are due every T = period/rate seconds; the state is the
    Theoretical Arrival Time of the next one. A request may arrive up to burst*T early.
    State: TAT.
    """

    name = "gcra"

    def step(self, state, now, cost):
        interval = self.limit.period / self.limit.rate
        window = self.limit.capacity * interval  # how far ahead of schedule one may be
        tat = max(state if state is not None else now, now)
        new_tat = tat + cost * interval
        allow_at = new_tat - window
        if now + RESOLUTION >= allow_at:
            tat = new_tat
            allowed, retry = True, 0.0
        else:
            allowed = False
            retry = INF if cost > self.limit.capacity else allow_at - now
        remaining = _whole((window - (tat - now)) / interval, RESOLUTION / interval)
        return tat, Decision(allowed, self.limit.capacity, remaining, tat - now, retry)

    def ttl(self, state, now):
        return state - now


# --- windows ---------------------------------------------------------------------------


class FixedWindow(Algorithm):
    """At most `rate` per window of `period` seconds. A key's window opens with its first
    counted request (like `INCR` + `EXPIRE` in Redis), so windows of different keys do
    not all reset at the same instant. Its flaw: `rate` at the end of one window and
    `rate` more at the start of the next, twice the limit within a moment.
    State: (count, window end).
    """

    name = "fixed-window"
    uses_burst = False

    def step(self, state, now, cost):
        limit = self.limit.rate
        count, end = state if state is not None and now < state[1] else (0, None)
        allowed = count + cost <= limit
        if allowed:
            count += cost
            if end is None:
                end = now + self.limit.period
        left = 0.0 if end is None else end - now
        retry = 0.0 if allowed else INF if cost > limit else left
        new_state = None if end is None else (count, end)
        return new_state, Decision(allowed, limit, limit - count, left, retry)

    def ttl(self, state, now):
        return 0.0 if state is None else state[1] - now


class SlidingLog(Algorithm):
    """Exact: remember when every admitted unit was, and count those in the last
    `period` seconds. Memory grows with the limit (one entry per admitted request,
    up to `rate` per key), which is the price of exactness.
    State: a deque of (time, cost), oldest first, and their total cost. The one
    impurity in this module: the deque is updated in place, because copying a log of
    `rate` entries on every request would cost O(limit); the store's lock makes it safe.
    """

    name = "sliding-log"
    uses_burst = False

    def step(self, state, now, cost):
        limit, period = self.limit.rate, self.limit.period
        log, total = state if state is not None else (deque(), 0)
        while log and log[0][0] <= now - period:  # entries older than the window leave
            total -= log.popleft()[1]
        allowed = total + cost <= limit
        if allowed:
            log.append((now, cost))
            total += cost
        retry = 0.0
        if not allowed:
            retry = INF if cost > limit else self._time_until_free(log, total + cost - limit, now)
        reset = log[-1][0] + period - now if log else 0.0
        return (log, total), Decision(allowed, limit, limit - total, reset, retry)

    def _time_until_free(self, log, needed: int, now: float) -> float:
        """When will `needed` units have left the window? Walk from the oldest entry."""
        freed = 0
        for when, cost in log:
            freed += cost
            if freed >= needed:
                return when + self.limit.period - now
        raise AssertionError("unreachable: the log holds more than `needed`")

    def ttl(self, state, now):
        log = state[0]
        return log[-1][0] + self.limit.period - now if log else 0.0


class SlidingWindow(Algorithm):
    """The sliding log's estimate in O(1): keep counts for the current and the previous
    window, and weigh the previous one by how much of it the sliding window still
    overlaps (Cloudflare's scheme). It assumes the previous window's requests were
    spread evenly. Windows start at the key's first request, like the fixed window.
    State: (current window start, previous count, current count).
    """

    name = "sliding-window"
    uses_burst = False

    def step(self, state, now, cost):
        limit, period = self.limit.rate, self.limit.period
        start, previous, current = state if state is not None else (now, 0, 0)
        elapsed = now - start
        if elapsed >= period:  # the window moved on by one or more whole periods
            periods = math.floor(elapsed / period)
            previous = current if periods == 1 else 0
            current = 0
            start += periods * period
        weight = 1 - (now - start) / period  # share of the previous window still inside
        estimate = previous * weight + current
        slack = RESOLUTION * self.limit.per_second
        allowed = estimate + cost <= limit + slack
        if allowed:
            current += cost
            estimate += cost
        retry = 0.0 if allowed else self._retry_after(start, previous, current, now, cost)
        # Quota is whole once both counts have slid out: the current one takes a period
        # longer, as it becomes the previous one first.
        reset = start + (2 if current else 1) * period - now if previous or current else 0.0
        return (start, previous, current), Decision(allowed, limit, _whole(limit - estimate, slack),
                                                    reset, retry)

    def _retry_after(self, start, previous, current, now, cost) -> float:
        limit, period = self.limit.rate, self.limit.period
        room = limit - cost
        if room < 0:
            return INF
        # Still in this window: previous * (1 - x/period) + current <= room, for x = t - start.
        if previous and current <= room:
            x = period * (1 - (room - current) / previous)
            return max(0.0, start + x - now)
        # In the next window, the current count decays instead.
        x = period * (1 - room / current)
        return start + period + x - now

    def ttl(self, state, now):
        start, previous, current = state
        return start + (2 if current else 1) * self.limit.period - now


ALGORITHMS: dict[str, type[Algorithm]] = {
    cls.name: cls for cls in (TokenBucket, LeakyBucket, FixedWindow, SlidingLog, SlidingWindow, GCRA)
}
"""Name (as written in config and flags) -> class: the one registration table."""

WINDOW_ALGORITHMS = frozenset(name for name, cls in ALGORITHMS.items() if not cls.uses_burst)


def create(name: str, limit: Limit, **options) -> Algorithm:
    try:
        cls = ALGORITHMS[name]
    except KeyError:
        raise ValueError(f"unknown algorithm {name!r}; choose one of {', '.join(ALGORITHMS)}") from None
    return cls(limit, **options)
