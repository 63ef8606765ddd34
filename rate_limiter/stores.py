"""Where limiter state lives: in this process, or in Redis shared by every gateway.

Where it sits: policies (rate_limiter/policies.py) hand a store a batch of `Check`s,
one per policy that applies to a request, and get one `Decision` per check. A store
is chosen by URI scheme, as in the `limits` library: `memory://` or
`redis://[:password@]host:port/db`.

* `MemoryStore` keeps each key's state in a dict and runs the algorithm's pure
  `step()` under one lock. Each step is a few float operations, so one lock is cheaper
  than a lock per key; state past its TTL is dropped as it is met and swept in order.
* `RedisStore` runs the algorithm's Lua twin (rate_limiter/scripts/<name>.lua) with
  EVALSHA: read, decide and write happen in one atomic script, so concurrent gateways
  can never both spend the last token (the lost update of GET-then-SET). The script
  reads Redis's clock (TIME), never ours. All checks of a request go in one pipeline,
  one round trip. Keys look like `rl:{<policy key>}:<algorithm>`: the braces are a
  Redis Cluster hash tag, so the keys of one limiter (the sliding log has two) live in
  the same slot, and the script may touch them together.

Why .lua files and not strings in this module: they read as Lua with an editor's help,
the docs quote them, and `redis-cli --eval rate_limiter/scripts/gcra.lua k , 1 10 1 5`
runs one by hand (after the prelude's helpers are pasted in front, which the store does).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, NamedTuple, Protocol

from common.clock import Clock, SystemClock
from common.resp import ErrorReply
from common.resp_client import RedisClient, RedisConnectionError, RedisURL, Script
from rate_limiter.algorithms import ALGORITHMS, Algorithm, Decision

SCRIPT_DIR = Path(__file__).with_name("scripts")
KEY_PREFIX = "rl"
# Companion keys per algorithm, after the state key itself ("" suffix): the sliding
# log names its members from a counter.
EXTRA_KEYS = {"sliding-log": (":seq",)}


class StoreError(Exception):
    """The store could not decide (unreachable, too slow, or it answered an error)."""


class Check(NamedTuple):
    algorithm: Algorithm
    key: str
    cost: int = 1


class Store(Protocol):
    def decide(self, checks: list[Check]) -> list[Decision]:
        """One decision per check, in order; raises StoreError if none could be made."""
        ...

    def close(self) -> None: ...


class RateLimiter:
    """The one-line interface: `RateLimiter(algorithm, store).allow(key, cost=1)`."""

    def __init__(self, algorithm: Algorithm, store: Store) -> None:
        self.algorithm = algorithm
        self.store = store

    def allow(self, key: str, cost: int = 1) -> Decision:
        return self.store.decide([Check(self.algorithm, key, cost)])[0]


# --- memory ----------------------------------------------------------------------------


class MemoryStore:
    """Thread-safe in-process state. Time is the clock's monotonic reading."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        self._lock = threading.Lock()  # guards _states; held only while stepping, no I/O
        # (algorithm name, key) -> (state, expires at). Every write moves its key to the
        # end, so the front holds the entries written longest ago: the sweep starts there.
        self._states: OrderedDict[tuple[str, str], tuple[Any, float]] = OrderedDict()

    def decide(self, checks: list[Check]) -> list[Decision]:
        now = self.clock.monotonic()
        with self._lock:
            decisions = [self._step(check, now) for check in checks]
            self._sweep(now)
        return decisions

    def _step(self, check: Check, now: float) -> Decision:  # caller holds _lock
        name = (check.algorithm.name, check.key)
        entry = self._states.pop(name, None)
        state = entry[0] if entry is not None and entry[1] > now else None
        state, decision = check.algorithm.step(state, now, check.cost)
        if state is not None:
            self._states[name] = (state, now + check.algorithm.ttl(state, now))
        return decision

    def _sweep(self, now: float, budget: int = 8) -> None:  # caller holds _lock
        """Drop up to `budget` expired entries from the front: O(1) per decision.

        The front is the least recently written entry, usually the first to expire;
        when it is not (a longer TTL), the sweep stops and `_step` still ignores any
        expired entry it meets, so correctness never depends on the sweep.
        """
        for _ in range(budget):
            if not self._states:
                return
            name, (_, expires) = next(iter(self._states.items()))
            if expires > now:
                return
            del self._states[name]

    def __len__(self) -> int:
        return len(self._states)

    def close(self) -> None:
        pass  # nothing to release: the state dies with the process


# --- Redis -----------------------------------------------------------------------------


def load_scripts() -> dict[str, Script]:
    """Each algorithm's Lua source, with the shared prelude in front."""
    prelude = (SCRIPT_DIR / "prelude.lua").read_text()
    return {name: Script(prelude + (SCRIPT_DIR / f"{name}.lua").read_text(), name)
            for name in ALGORITHMS}


def redis_keys(algorithm: Algorithm, key: str) -> list[str]:
    """`rl:{<key>}:<algorithm>` and its companions; `{...}` is the Cluster hash tag."""
    base = f"{KEY_PREFIX}:{{{key}}}:{algorithm.name}"
    return [base] + [base + suffix for suffix in EXTRA_KEYS.get(algorithm.name, ())]


class RedisStore:
    def __init__(self, client: RedisClient) -> None:
        self.client = client
        self.scripts = load_scripts()

    def decide(self, checks: list[Check]) -> list[Decision]:
        calls = [(self.scripts[check.algorithm.name], redis_keys(check.algorithm, check.key),
                  [check.cost, *check.algorithm.script_args()]) for check in checks]
        try:
            replies = self.client.eval_many(calls)
        except RedisConnectionError as err:
            raise StoreError(str(err)) from err
        return [_decision(check.algorithm, reply) for check, reply in zip(checks, replies)]

    def close(self) -> None:
        self.client.close()


def _decision(algorithm: Algorithm, reply) -> Decision:
    """The script's five fields (see prelude.lua) as a Decision."""
    if isinstance(reply, ErrorReply):
        raise StoreError(f"{algorithm.name} script failed: {reply}")
    try:
        allowed, remaining, reset_after, retry_after, delay = reply
        return Decision(bool(allowed), algorithm.quota, int(remaining), float(reset_after),
                        float(retry_after), float(delay))
    except (TypeError, ValueError) as err:
        raise StoreError(f"{algorithm.name} script answered {reply!r}") from err


# --- choosing one by URI -----------------------------------------------------------------


STORES: dict[str, Callable[[str, Clock, float], Store]] = {
    "memory": lambda uri, clock, timeout: MemoryStore(clock),
    "redis": lambda uri, clock, timeout: RedisStore(
        RedisClient.from_url(uri, connect_timeout=timeout, timeout=timeout)),
}
"""URI scheme -> factory(uri, clock, timeout). Factories do no I/O: Redis is first
contacted by the first decision."""


def check_uri(uri: str) -> None:
    """Raise ValueError saying what is wrong with a store URI."""
    scheme, separator, rest = uri.partition("://")
    if scheme not in STORES or not separator:
        raise ValueError(f"unknown store {uri!r}; expected "
                         + " or ".join(f"{name}://..." for name in STORES))
    if scheme == "memory" and rest.strip("/"):
        raise ValueError(f"memory:// takes no host or path, got {uri!r}")
    if scheme == "redis":
        RedisURL.parse(uri)


def open_store(uri: str, *, clock: Clock | None = None, timeout: float = 0.1) -> Store:
    """`memory://` or `redis://[[user]:password@]host[:port][/db]`; `timeout` bounds
    every network wait, in seconds."""
    check_uri(uri)
    return STORES[uri.partition("://")[0]](uri, clock or SystemClock(), timeout)
