"""maxmemory eviction: Redis's approximated LRU and LFU, and the eight policies.

Under an LRU or LFU policy every key carries a 24-bit *access stamp* (Redis keeps it in
the `lru` field of each robj, for every policy; we keep it in a typed column next to the
keyspace's dense arrays, see densedict.StampedDict, and only under the policies that
read it, because finding a key's column slot costs a Python int per key). What the
stamp holds depends on the policy family:

* LRU: the LRU clock when the key was last touched: Unix seconds modulo 2**24
  (LRU_CLOCK, resolution 1 s, wraps every ~194 days; `idle_ms` handles one wrap).
* LFU: 16 bits of "minutes" (last decrement time) and an 8-bit *logarithmic* counter:
  each access increments it with probability 1/((counter - 5) * lfu-log-factor + 1),
  so 255 means "about a million hits" at the default factor 10; it loses one point per
  `lfu-decay-time` minutes without access. New keys start at 5 (LFU_INIT_VAL) so they
  are not evicted before they have had a chance to be read.

Eviction does not sort the keyspace. Before a write command that may grow memory, while
`used_memory` is over `maxmemory`, it samples `maxmemory-samples` keys per database
(from all keys or only those with a TTL), merges them into a 16-entry *pool* of the best
candidates seen so far, ordered by "idle score" (idle time, 255 - frequency, or time to
expire), and deletes the best one. The pool carries good candidates across rounds,
which makes 5 samples behave remarkably close to true LRU (docs/eviction.md plots it).
"""

from __future__ import annotations

import bisect
import random
from typing import TYPE_CHECKING, Callable

from redis_clone import errors

if TYPE_CHECKING:
    from common.clock import Clock
    from redis_clone.config import Config
    from redis_clone.keyspace import Database, Keyspace

LRU_CLOCK_MAX = (1 << 24) - 1    # the lru field is 24 bits
LRU_CLOCK_RESOLUTION_MS = 1000
LFU_INIT_VAL = 5
LFU_COUNTER_MAX = 255
LFU_MINUTES_MAX = 65535          # the 16-bit "last decrement time" in minutes
EVPOOL_SIZE = 16
IDLE_MAX = (1 << 64) - 1         # volatile-ttl scores ULLONG_MAX - deadline

LFU_POLICIES = frozenset({"allkeys-lfu", "volatile-lfu"})
STAMPED_POLICIES = LFU_POLICIES | {"allkeys-lru", "volatile-lru"}  # the ones that read access stamps
POLICIES = ("volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
            "allkeys-lru", "allkeys-lfu", "allkeys-random", "noeviction")


class AccessClock:
    """Makes and refreshes the per-key access stamps (Redis's lru field).

    `refresh()` runs on every key lookup, reads included. Reads run under the shared
    lock, several at a time: the stamp is an int stored into an array slot, which the
    GIL makes atomic; two readers racing only lose one LFU increment, as in Redis.
    """

    def __init__(self, clock: "Clock", rng: random.Random | None = None) -> None:
        self._clock = clock
        self._random = (rng or random.Random()).random
        now = clock.time

        # The hot paths, every lookup and every new key under an LRU policy: one call
        # and one clock reading, no attribute lookups (Unix seconds, as LRU_CLOCK()).
        def lru_refresh(stamp: int) -> int:
            return int(now()) & LRU_CLOCK_MAX

        def lru_new_stamp() -> int:
            return int(now()) & LRU_CLOCK_MAX

        self._lru_refresh, self._lru_new_stamp = lru_refresh, lru_new_stamp
        self.lfu = False          # the policy family; configure() keeps it current
        self.log_factor = 10
        self.decay_time = 1

    @property
    def lfu(self) -> bool:
        return self._lfu

    @lfu.setter
    def lfu(self, on: bool) -> None:
        self._lfu = on
        # refresh() and new_stamp() are instance attributes chosen here, rather than a
        # branch on every access.
        self.refresh = self._lfu_refresh if on else self._lru_refresh
        self.new_stamp = self._lfu_new_stamp if on else self._lru_new_stamp

    def configure(self, config: "Config") -> None:
        """Follow maxmemory-policy, lfu-log-factor, lfu-decay-time (after CONFIG SET)."""
        self.lfu = config.get("maxmemory-policy") in LFU_POLICIES
        self.log_factor = config.get_int("lfu-log-factor")
        self.decay_time = config.get_int("lfu-decay-time")

    # --- LRU ---------------------------------------------------------------------

    def lru_clock(self) -> int:
        return int(self._clock.time()) & LRU_CLOCK_MAX

    def idle_ms(self, stamp: int) -> int:
        """estimateObjectIdleTime: milliseconds since the stamp, across one wrap."""
        now = self.lru_clock()
        if now >= stamp:
            return (now - stamp) * LRU_CLOCK_RESOLUTION_MS
        return (now + (LRU_CLOCK_MAX - stamp)) * LRU_CLOCK_RESOLUTION_MS

    # --- LFU ---------------------------------------------------------------------

    def minutes(self) -> int:
        return (self._clock.time_ms() // 60000) & LFU_MINUTES_MAX

    def log_incr(self, counter: int) -> int:
        """LFULogIncr: the more hits a key has, the less likely the next one counts."""
        if counter == LFU_COUNTER_MAX:
            return counter
        base = max(counter - LFU_INIT_VAL, 0)
        if self._random() < 1.0 / (base * self.log_factor + 1):
            counter += 1
        return counter

    def decayed_counter(self, stamp: int) -> int:
        """LFUDecrAndReturn: the counter less one per decay period since its time."""
        counter = stamp & 255
        if not self.decay_time:
            return counter
        now, then = self.minutes(), stamp >> 8
        elapsed = now - then if now >= then else LFU_MINUTES_MAX - then + now
        periods = elapsed // self.decay_time
        return max(counter - periods, 0)

    # --- stamps ------------------------------------------------------------------

    # new_stamp() -> a new object's lru field (createObject): `_lru_new_stamp` (see
    # __init__) or this, as the `lfu` setter chose.

    def _lfu_new_stamp(self) -> int:
        return self.minutes() << 8 | LFU_INIT_VAL

    # refresh(stamp) -> the stamp after one access (lookupKey's LRU_CLOCK() or
    # updateLFU): `_lru_refresh` (see __init__) or this, as the `lfu` setter chose.

    def _lfu_refresh(self, stamp: int) -> int:
        return self.minutes() << 8 | self.log_incr(self.decayed_counter(stamp))

    def idle_score(self, stamp: int) -> int:
        """Higher = better eviction candidate: idle time (LRU) or 255 - frequency (LFU)."""
        if self.lfu:
            return LFU_COUNTER_MAX - self.decayed_counter(stamp)
        return self.idle_ms(stamp)


def _score(entry: tuple[int, int, bytes]) -> int:
    return entry[0]


class EvictionPool:
    """Redis's EVPOOL: up to 16 (score, db, key) candidates, ascending by score, so the
    best candidate is the last. A full pool only takes keys better than its worst."""

    def __init__(self, size: int = EVPOOL_SIZE) -> None:
        self.size = size
        self.entries: list[tuple[int, int, bytes]] = []

    def __len__(self) -> int:
        return len(self.entries)

    def offer(self, score: int, db_index: int, key: bytes) -> None:
        entries = self.entries
        if any(entry[2] == key and entry[1] == db_index for entry in entries):
            return  # already a candidate (sampling may pick a key twice)
        if len(entries) == self.size:
            if score <= entries[0][0]:
                return
            del entries[0]  # make room by dropping the worst candidate
        # Before the first entry scoring the same or more, as Redis inserts: ties are
        # broken by arrival, never by key name.
        bisect.insort_left(entries, (score, db_index, key), key=_score)

    def pop_best(self) -> tuple[int, int, bytes] | None:
        return self.entries.pop() if self.entries else None


class Evictor:
    """Frees memory before DENYOOM commands; caller holds the keyspace write lock."""

    def __init__(self, keyspace: "Keyspace", config: "Config",
                 rng: random.Random | None = None) -> None:
        self._keyspace = keyspace
        # maxmemory, maxmemory-policy, maxmemory-samples: read on every write, so kept
        # here by configure() rather than looked up in the configuration each time.
        self.configure(config)
        self._rng = rng or random.Random()
        self.pool = EvictionPool()
        self._next_db = 0  # random policies walk the databases round robin
        self.peak = 0      # the highest used_memory seen, for INFO's used_memory_peak

    def peak_memory(self) -> int:
        """used_memory_peak. Sampled by the server cron (hz times a second, as Redis
        samples it in serverCron), before each DENYOOM command under a maxmemory limit,
        and whenever INFO or MEMORY STATS asks: it may miss a brief high."""
        self.peak = max(self.peak, self._keyspace.used_memory)
        return self.peak

    def configure(self, config: "Config") -> None:
        """Follow maxmemory and maxmemory-*, and the access stamps' lfu-* (at startup
        and after each CONFIG SET)."""
        self.maxmemory = config.get_int("maxmemory")
        self.policy = config.get("maxmemory-policy")
        self.samples = config.get_int("maxmemory-samples")
        self._keyspace.access.configure(config)
        # Per-key access stamps cost memory (densedict.py): kept only when read.
        self._keyspace.track_access(self.policy in STAMPED_POLICIES)

    def make_room(self, *, refuse: bool = True) -> None:
        """performEvictions: evict until used_memory <= maxmemory, or raise -OOM
        (when `refuse`; after a write has run it is too late to refuse it).

        The dispatcher calls it before *and* after each DENYOOM command. Redis only
        does the first, so its used_memory overshoots by the last write until the next
        command; evicting afterwards too keeps used_memory within maxmemory between
        commands whenever the policy finds something to evict."""
        self._keyspace.settle_memory()
        used = self._keyspace.used_memory
        if used > self.peak:
            self.peak = used
        maxmemory = self.maxmemory
        if not maxmemory or used <= maxmemory:
            return
        policy = self.policy
        if policy == "noeviction":
            if refuse:
                raise errors.Refused(errors.OOM)
            return
        pick = self._pick_random if policy.endswith("random") else self._pick_from_pool
        volatile = policy.startswith("volatile")
        while self._keyspace.used_memory > maxmemory:
            victim = pick(volatile, policy)
            if victim is None:  # nothing left that the policy may evict
                if refuse:
                    raise errors.Refused(errors.OOM)
                return
            db, key = victim
            db.evict(key)

    def _tables(self, db: "Database", volatile: bool):
        return db.expires if volatile else db.data

    def _pick_random(self, volatile: bool, policy: str) -> tuple["Database", bytes] | None:
        dbs = self._keyspace.dbs
        for _ in range(len(dbs)):
            db = dbs[self._next_db]
            self._next_db = (self._next_db + 1) % len(dbs)
            item = self._tables(db, volatile).random_item(self._rng)
            if item is not None:
                return db, item[0]
        return None

    def _pick_from_pool(self, volatile: bool, policy: str) -> tuple["Database", bytes] | None:
        score = self._scorer(policy)
        dbs = self._keyspace.dbs
        while True:
            sampled = False
            for db in dbs:
                if self._tables(db, volatile):
                    sampled = True
                    self.populate(db, volatile, score)
            if not sampled and not self.pool:
                return None
            # Best first; skip ghosts (candidates deleted since they were pooled).
            while (entry := self.pool.pop_best()) is not None:
                _, index, key = entry
                db = dbs[index]
                if key in self._tables(db, volatile):
                    return db, key
            if not sampled:
                return None

    def populate(self, db: "Database", volatile: bool,
                 score: Callable[["Database", bytes], int]) -> None:
        """evictionPoolPopulate: sample maxmemory-samples keys into the pool."""
        table = self._tables(db, volatile)
        samples = min(self.samples, len(table))
        for _ in range(samples):
            key, _ = table.random_item(self._rng)
            self.pool.offer(score(db, key), db.index, key)

    def _scorer(self, policy: str) -> Callable[["Database", bytes], int]:
        access = self._keyspace.access
        if policy == "volatile-ttl":
            return lambda db, key: IDLE_MAX - db.expires[key]
        return lambda db, key: access.idle_score(db.data.stamp(key))
