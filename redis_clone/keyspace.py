"""The keyspace: numbered databases of key -> value, key expiry, and the lock guarding them.

Where it sits: command handlers (`redis_clone/commands/`) read and write values through
a `Database`; the dispatcher holds `Keyspace.lock` (a readers-writer lock) around each
handler: shared for read commands, exclusive for write commands. Nothing here does I/O.

Values are plain Python objects; the *type* Redis reports comes from the Python class
(`bytes` is a Redis string; the data-type modules add lists, hashes, sets, sorted sets).

Expiry, as in Redis, happens two ways:

* *Lazily*: every lookup checks the key's deadline. A key past its deadline is reported
  missing. Write paths (running under the exclusive lock) also delete it on the spot,
  as Redis's lookupKeyWrite does. Read paths run under the *shared* lock, alongside
  other readers that may be iterating the same tables (KEYS, SCAN), so they must not
  mutate them: they only hide the key, exactly like a Redis replica does.
* *Actively*: `active_expire_cycle()`, called ~10 times a second by a background thread,
  samples 20 keys with a TTL per database, deletes the expired ones, and repeats while
  more than 25% of a sample had expired, within a time budget. That reclaims memory for
  keys nobody reads again, without ever scanning the whole keyspace.

Deadlines are absolute Unix times in milliseconds, from the injected clock.

Every change to a key goes through the write methods below, which is why they are also
where WATCH learns about changes (Redis's signalModifiedKey): each calls `_touched()`,
which marks dirty the transactions watching that key (see transactions.py). A handler
that changes a value in place (HSET on an existing hash...) must call `modified()`.

The same write methods keep `Keyspace.used_memory`, the modelled size of the dataset
(see memory.py), current: each adds or subtracts the cost of what it changed, so INFO
and the maxmemory check read it in O(1). Strings are re-costed from their bytes; a
container's cost is cached per key (`_container_costs`). Handlers call `modified()`
*before* changing a container in place, and fill a new one after `set()`, so both only
note the key; `Keyspace.settle_memory()` re-measures the noted containers, by sampling
a few elements each, when the write command ends (registry.locked). Under an LRU or
LFU maxmemory-policy every lookup also refreshes the key's access stamp (eviction.py);
the databases then keep their keys in a `StampedDict` instead of the more compact
`DenseDict` (see densedict.py for what each costs).
"""

from __future__ import annotations

import random
import threading
from typing import TYPE_CHECKING, Callable, Iterator

from common.clock import Clock, SystemClock
from common.rwlock import RWLock
from redis_clone import errors, memory
from redis_clone.blocking import BlockedClients
from redis_clone.densedict import DenseDict, StampedDict
from redis_clone.errors import RedisError
from redis_clone.eviction import AccessClock
from redis_clone.stats import Stats

if TYPE_CHECKING:
    from redis_clone.transactions import Transaction

# Python class -> the name TYPE and SCAN TYPE use. Data-type modules add theirs.
TYPE_NAMES: dict[type, str] = {bytes: "string"}

ACTIVE_EXPIRE_SAMPLE = 20          # keys sampled per round (ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP)
ACTIVE_EXPIRE_REPEAT_ABOVE = 0.25  # another round while more than this share had expired


def type_name(value: object) -> str:
    return TYPE_NAMES[type(value)]


class Database:
    """One numbered database (SELECT n). Caller holds `keyspace.lock` as noted per method."""

    def __init__(self, index: int, keyspace: "Keyspace") -> None:
        self.index = index
        self._keyspace = keyspace
        self.data = keyspace.new_table()  # key -> value (+ access stamps, see track_access)
        self.expires = DenseDict()  # key -> deadline (ms); only keys that have a TTL
        self._container_costs: dict[bytes, int] = {}  # key -> modelled cost, non-strings
        # key -> transactions WATCHing it; guarded by keyspace.watch_lock
        self.watchers: dict[bytes, set["Transaction"]] = {}

    @property
    def keyspace(self) -> "Keyspace":
        return self._keyspace

    def __len__(self) -> int:
        return len(self.data)

    def _expired(self, key: bytes) -> bool:
        deadline = self.expires.get(key)
        return deadline is not None and deadline <= self._keyspace.clock.time_ms()

    # --- reads: caller holds at least the read lock ---------------------------------

    def get(self, key: bytes, expected: type | None = None, *, count_stats: bool = True):
        """The live value of `key` or None; with `expected`, WRONGTYPE for another type.

        Counts keyspace hits and misses for INFO, as Redis's lookupKeyRead does, and
        refreshes the key's access stamp (LRU clock or LFU counter).
        """
        value = self.data.get_touched(key, self._keyspace.access.refresh)
        if value is not None and self._expired(key):
            value = None
        if count_stats:
            self._keyspace.stats.incr("keyspace_hits" if value is not None else "keyspace_misses")
        if value is not None and expected is not None and type(value) is not expected:
            raise RedisError(errors.WRONGTYPE)
        return value

    def exists(self, key: bytes) -> bool:
        return key in self.data and not self._expired(key)

    def logically_expired(self, key: bytes) -> bool:
        """Past its deadline but not reclaimed yet (a read hides it, nothing deleted it)."""
        return key in self.data and self._expired(key)

    def deadline(self, key: bytes) -> int | None:
        """The key's expiry deadline in ms, or None if it has none (or does not exist)."""
        if not self.exists(key):
            return None
        return self.expires.get(key)

    def keys(self) -> Iterator[bytes]:
        """Live keys, iterating over a snapshot."""
        now = self._keyspace.clock.time_ms()
        expires = self.expires
        for key in self.data:
            deadline = expires.get(key)
            if deadline is None or deadline > now:
                yield key

    def scan(self, cursor: int, count: int) -> tuple[int, list[bytes]]:
        """One SCAN step; see DenseDict.scan for the cursor guarantee."""
        cursor, batch = self.data.scan(cursor, count)
        return cursor, [key for key in batch if not self._expired(key)]

    def random_key(self, rng: random.Random = random) -> bytes | None:
        """A random live key: sample a few slots, then fall back to a full pass."""
        for _ in range(100):
            item = self.data.random_item(rng)
            if item is None:
                return None
            if not self._expired(item[0]):
                return item[0]
        return next(self.keys(), None)  # (almost) every key is expired but not yet reclaimed

    # --- writes: caller holds the write lock ----------------------------------------

    def lookup_for_write(self, key: bytes, expected: type | None = None):
        """Like get(), but an expired key is deleted now, and no hit/miss is counted."""
        value = self.data.get_touched(key, self._keyspace.access.refresh)
        if value is not None and self._expired(key):
            self._remove_expired(key)
            value = None
        if value is not None and expected is not None and type(value) is not expected:
            raise RedisError(errors.WRONGTYPE)
        return value

    def set(self, key: bytes, value, *, keep_ttl: bool = False) -> None:
        """Store `value`, replacing whatever was there; the old TTL goes unless keep_ttl."""
        if self._expired(key):
            # Overwriting a key that is past its deadline expires it first (so keep_ttl
            # cannot keep a dead TTL, and expired_keys counts it, as Redis's setKey does).
            self._remove_expired(key)
        old = self.data.put(key, value, self._keyspace.access)
        if old is not None:
            self._uncount(key, old)
        self._count(key, value)
        if not keep_ttl and self.expires.pop(key) is not None:
            self._keyspace.used_memory -= memory.DICT_ENTRY
        self._keyspace.dirty += 1
        self._touched(key)
        # A new value (RENAME, COPY, SORT STORE, a first LPUSH...) may be what a blocked
        # client waits for: Redis's dbAdd signals it the same way.
        self.signal_ready(key)

    def modified(self, key: bytes) -> None:
        """Note that the value at `key` was changed in place (HSET on an existing
        hash...), which set() would otherwise have counted as a change. The container
        is re-measured when the command ends (handlers call this before the change)."""
        if key in self._container_costs:
            self._keyspace.changed_containers.add((self.index, key))
        self._keyspace.dirty += 1
        self._touched(key)

    def _touched(self, key: bytes) -> None:
        """The key changed (value, TTL, existence): transactions watching it must fail."""
        if self.watchers:  # the common case, no WATCH anywhere, costs one test
            with self._keyspace.watch_lock:
                for transaction in self.watchers.get(key, ()):
                    transaction.touched((self.index, key), key in self.data)

    def signal_ready(self, key: bytes) -> None:
        """Elements were added at `key`: clients blocked on it (BLPOP, BZPOPMIN...) get
        served when the current write command ends. Cheap when nobody waits."""
        self._keyspace.blocking.signal_ready(self.index, key)

    def delete(self, key: bytes) -> bool:
        """Remove the key; False if there was no live key (an expired one still goes)."""
        if self._expired(key):
            self._remove_expired(key)
            return False
        if not self._drop(key):
            return False
        self._keyspace.dirty += 1
        self._touched(key)
        return True

    def set_deadline(self, key: bytes, deadline_ms: int) -> None:
        """Give an existing key an absolute expiry time. A deadline already in the past
        deletes the key at once, as Redis does (and it counts as a deletion, not an expiry)."""
        if deadline_ms <= self._keyspace.clock.time_ms():
            self.delete(key)
            return
        if key not in self.expires:
            self._keyspace.used_memory += memory.DICT_ENTRY
        self.expires[key] = deadline_ms
        self._keyspace.dirty += 1
        self._touched(key)

    def persist(self, key: bytes) -> bool:
        if self.exists(key) and self.expires.pop(key) is not None:
            self._keyspace.used_memory -= memory.DICT_ENTRY
            self._keyspace.dirty += 1
            self._touched(key)
            return True
        return False

    def flush(self) -> None:
        # Only watched keys that existed count as changed (touchAllWatchedKeysInDb).
        with self._keyspace.watch_lock:
            doomed = [key for key in self.watchers if key in self.data]
        self._keyspace.dirty += len(self.data)
        self._keyspace.used_memory -= self._accounted()
        self.data.clear()
        self.expires.clear()
        self._container_costs.clear()
        for key in doomed:
            self._touched(key)

    def _remove_expired(self, key: bytes) -> None:
        self._drop(key)
        self._keyspace.stats.incr("expired_keys")
        self._keyspace.dirty += 1
        self._touched(key)

    def evict(self, key: bytes) -> None:
        """Delete a key to free memory (maxmemory); counted as evicted_keys."""
        self._drop(key)
        self._keyspace.stats.incr("evicted_keys")
        self._keyspace.dirty += 1
        self._touched(key)

    # --- memory accounting (see memory.py): caller holds the write lock --------------

    def _drop(self, key: bytes) -> bool:
        """Remove the key and its TTL, and their cost; False if there was no key."""
        value = self.data.pop(key)
        if value is None:
            return False
        self._uncount(key, value)
        if self.expires.pop(key) is not None:
            self._keyspace.used_memory -= memory.DICT_ENTRY
        return True

    def _count(self, key: bytes, value) -> None:
        if type(value) is bytes:
            self._keyspace.used_memory += memory.key_cost(key) + memory.string_cost(value)
        else:
            cost = memory.entry_cost(key, value)
            self._container_costs[key] = cost
            self._keyspace.used_memory += cost
            self._keyspace.changed_containers.add((self.index, key))  # it may be filled next

    def _uncount(self, key: bytes, value) -> None:
        if type(value) is bytes:
            self._keyspace.used_memory -= memory.key_cost(key) + memory.string_cost(value)
        else:
            self._keyspace.used_memory -= self._container_costs.pop(key)

    def used_memory(self) -> int:
        """This database's modelled size measured from scratch, every container
        re-sampled: O(n). The running total is `Keyspace.used_memory`."""
        return len(self.expires) * memory.DICT_ENTRY + sum(
            memory.entry_cost(key, value) for key, value in self.data.items())

    def remeasure(self, key: bytes) -> None:
        """Re-cost a container noted as changed, if it is still there: O(samples)."""
        old_cost = self._container_costs.get(key)
        if old_cost is not None:
            cost = memory.entry_cost(key, self.data[key])
            self._container_costs[key] = cost
            self._keyspace.used_memory += cost - old_cost

    def _accounted(self) -> int:
        """What this database adds to the running total now (cached container costs)."""
        total = len(self.expires) * memory.DICT_ENTRY + sum(self._container_costs.values())
        for key, value in self.data.items():
            if type(value) is bytes:
                total += memory.key_cost(key) + memory.string_cost(value)
        return total

    def recount(self) -> None:
        """Cost (and stamp, as new) every key from scratch: after a snapshot was loaded
        straight into the tables, bypassing set()."""
        self._container_costs = {key: memory.entry_cost(key, value)
                                 for key, value in self.data.items() if type(value) is not bytes}
        self.restamp()

    def restamp(self) -> None:
        """Give every key a new key's access stamp (nothing to do without stamps)."""
        if isinstance(self.data, StampedDict):
            stamp = self._keyspace.access.new_stamp()
            for key in self.data:
                self.data.set_stamp(key, stamp)

    def expire_sample(self, rng: random.Random = random) -> tuple[int, int]:
        """One active-expiry round: check up to 20 random keys with a TTL.
        Returns (sampled, expired). Caller holds the write lock."""
        now = self._keyspace.clock.time_ms()
        sampled = min(ACTIVE_EXPIRE_SAMPLE, len(self.expires))
        expired = 0
        for _ in range(sampled):
            item = self.expires.random_item(rng)
            if item is None:
                break
            key, deadline = item
            if deadline <= now:
                self._remove_expired(key)
                expired += 1
        return sampled, expired


class Keyspace:
    """All databases, the readers-writer lock guarding them, and the change counter."""

    def __init__(self, databases: int = 16, clock: Clock | None = None,
                 stats: Stats | None = None) -> None:
        self.lock = RWLock()
        self.watch_lock = threading.Lock()  # guards WATCH bookkeeping, see transactions.py
        self.clock = clock or SystemClock()
        self.stats = stats or Stats()
        self.dirty = 0  # changes ever made; persistence counts those since the last save
        self.access = AccessClock(self.clock)  # LRU/LFU stamps; configured by ServerState
        self.stamped = False  # do the tables keep access stamps? (track_access)
        self.used_memory = 0  # the dataset's modelled size in bytes, see memory.py
        self.changed_containers: set[tuple[int, bytes]] = set()  # (db, key): containers to re-cost
        self.blocking = BlockedClients(self)  # clients waiting in BLPOP & co, see blocking.py
        self.dbs = [Database(i, self) for i in range(databases)]
        self._next_expire_db = 0  # where the next active-expiry cycle starts

    def __getitem__(self, index: int) -> Database:
        return self.dbs[index]

    def new_table(self) -> DenseDict | StampedDict:
        """An empty key -> value table of the kind the current policy needs."""
        return StampedDict() if self.stamped else DenseDict()

    def track_access(self, on: bool) -> None:
        """Keep per-key access stamps (LRU/LFU policies) or not: rebuilds every
        database's table, O(n), when that changes. The keys start with a new key's
        stamp, as Redis's keys start over when the policy switches between LRU and
        LFU. Caller holds the write lock (or no client is connected yet)."""
        if on == self.stamped:
            return
        self.stamped = on
        for db in self.dbs:
            table = self.new_table()
            for key, value in db.data.items():
                table[key] = value
            db.data = table
            db.restamp()

    def flush_all(self) -> None:
        for db in self.dbs:
            db.flush()

    def settle_memory(self) -> None:
        """Re-measure the containers changed in place since the last call, bringing
        `used_memory` up to date. Caller holds the write lock (end of a write command,
        and before the maxmemory check)."""
        while self.changed_containers:
            index, key = self.changed_containers.pop()
            self.dbs[index].remeasure(key)

    def recount_memory(self) -> None:
        """Rebuild `used_memory` from every key (after loading a snapshot): O(n)."""
        for db in self.dbs:
            db.recount()
        self.used_memory = sum(db.used_memory() for db in self.dbs)

    def active_expire_cycle(self, budget_s: float, rng: random.Random = random,
                            monotonic: Callable[[], float] | None = None) -> int:
        """Reclaim expired keys nobody touches; returns how many were deleted.

        Takes and releases the write lock once per round, so client commands interleave
        with a long cleanup instead of waiting for all of it. A cycle that runs out of
        time resumes at the next database next time (Redis's `current_db`); starting
        over at 0 would let one busy database starve all the others. Only the cron
        thread calls this, so `_next_expire_db` needs no lock.
        """
        monotonic = monotonic or self.clock.monotonic
        stop_at = monotonic() + budget_s
        total = 0
        for offset in range(len(self.dbs)):
            index = (self._next_expire_db + offset) % len(self.dbs)
            db = self.dbs[index]
            while db.expires:
                with self.lock.write():
                    sampled, expired = db.expire_sample(rng)
                total += expired
                if sampled == 0 or expired <= sampled * ACTIVE_EXPIRE_REPEAT_ABOVE:
                    break
                if monotonic() >= stop_at:
                    self._next_expire_db = (index + 1) % len(self.dbs)
                    return total
        return total
