"""Hash tables that also allow O(1) random sampling and a stateless SCAN cursor.

Redis needs to pick random keys all the time: RANDOMKEY, the active-expiry cycle (sample
20 keys with a TTL), eviction (sample `maxmemory-samples` keys). Its own `dict` can do
that because Redis can peek into hash buckets; a Python `dict` cannot, and
`random.choice(list(d))` is O(n). So both tables here keep, beside the dict, the keys
in a list that can be indexed at random.

`DenseDict` (every database by default, TTLs, sorted-set scores) is the compact one:
`key -> value` in a dict plus that list, 8 bytes per key. Deleting a key leaves its
list entry behind as a *stale* entry: finding its position would need a key -> position
map, which costs a Python int object (32 bytes) per key. Sampling skips stale entries
(draws again), SCAN filters them out, and once more than half the list is stale it is
rebuilt from the dict in O(n), which is O(1) amortised over the deletions that made
it stale.

`StampedDict` (a database under an LRU or LFU `maxmemory-policy`) keeps a 32-bit access
stamp per key in an `array('I')`, and updating a key's stamp on every read needs that
key's position: it pays for a `key -> slot` map, with keys, values and stamps in
parallel dense arrays, and deleting swaps the last entry into the freed slot
("swap-remove"), so every slot is always a live entry. The keyspace switches between
the two when the policy changes (eviction.py): memory for access data is only spent
when something uses it.

Both give SCAN a *stateless* cursor with Redis's guarantee (every key present for the
whole iteration is returned at least once). SCAN walks the list downwards, from the top
towards 0, and the cursor is "the positions below this are still to do". Entries only
ever move *down* (swap-remove fills a hole with the last entry; a rebuild keeps the
order and drops stale entries), and new keys are appended at the top, in the part
already walked. So a key still to do can never move into the part already done; at
worst a key already returned moves down and is returned twice, which SCAN allows.
"""

from __future__ import annotations

import random
from array import array
from typing import Iterator

STALE_SLACK = 16  # a list this much longer than twice the live keys is rebuilt


class DenseDict:
    """key -> value with O(1) sampling; no per-key access data (see module docstring).

    A key deleted and added again is appended again, so the list may hold an older,
    stale copy of a live key; the *last* copy is the live one. `list(dict)` gives
    exactly the last copies in list order, because a dict iterates in order of (last)
    insertion: that is why a rebuild keeps the SCAN guarantee.
    """

    __slots__ = ("_values", "_keys")

    def __init__(self) -> None:
        self._values: dict[bytes, object] = {}
        self._keys: list[bytes] = []   # every live key at least once, plus stale entries

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, key: bytes) -> bool:
        return key in self._values

    def __iter__(self) -> Iterator[bytes]:
        """Iterate over a snapshot of the keys (safe against concurrent modification)."""
        return iter(list(self._values))

    def get(self, key: bytes, default=None):
        return self._values.get(key, default)

    def __getitem__(self, key: bytes):
        return self._values[key]

    def __setitem__(self, key: bytes, value) -> None:
        values = self._values
        if key not in values:
            self._keys.append(key)
        values[key] = value

    def put(self, key: bytes, value, access=None) -> object:
        """Store `value`; return the value it replaces, or None. (`access` is for
        StampedDict's stamps: this table keeps none.)"""
        old = self._values.get(key)
        if old is None:
            self._keys.append(key)
        self._values[key] = value
        return old

    def get_touched(self, key: bytes, refresh=None):
        """get(): this table keeps no access stamp to refresh (see StampedDict)."""
        return self._values.get(key)

    def pop(self, key: bytes, default=None):
        values = self._values
        if key not in values:
            return default  # every SET pops its key's TTL: usually there is none
        value = values.pop(key)
        if len(self._keys) > 2 * len(values) + STALE_SLACK:
            self._keys = list(values)  # drop stale entries; order kept (module docstring)
        return value

    def clear(self) -> None:
        self._values.clear()
        self._keys = []

    def items(self) -> list[tuple[bytes, object]]:
        return list(self._values.items())

    def random_item(self, rng: random.Random = random) -> tuple[bytes, object] | None:
        values, keys = self._values, self._keys
        if not values:
            return None
        # At least half the list is live (pop() rebuilds it otherwise): about two
        # draws on average, however the keys came and went.
        while True:
            key = keys[rng.randrange(len(keys))]
            value = values.get(key)
            if value is not None:
                return key, value

    def scan(self, cursor: int, count: int) -> tuple[int, list[bytes]]:
        """Up to `count` positions below `cursor` (0 = start); returns (next cursor,
        live keys among them). A returned cursor of 0 means the iteration is complete."""
        keys, values = self._keys, self._values
        top = len(keys) if cursor == 0 else min(cursor, len(keys))
        bottom = max(0, top - max(count, 1))
        # dict.fromkeys: a key deleted and re-added may sit in the batch twice.
        return bottom, [key for key in dict.fromkeys(keys[bottom:top][::-1]) if key in values]


class StampedDict:
    """key -> value with a 32-bit unsigned *stamp* per key, for the keyspace's LRU/LFU
    access data (see eviction.py), and O(1) sampling by swap-remove (module docstring).
    New entries stored with plain `d[key] = value` (loading a snapshot) get stamp 0;
    `put()` gives one."""

    __slots__ = ("_slot", "_keys", "_values", "_stamps")

    def __init__(self) -> None:
        self._slot: dict[bytes, int] = {}
        self._keys: list[bytes] = []
        self._values: list[object] = []
        self._stamps = array("I")

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: bytes) -> bool:
        return key in self._slot

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._keys[:])

    def get(self, key: bytes, default=None):
        slot = self._slot.get(key)
        return default if slot is None else self._values[slot]

    def __getitem__(self, key: bytes):
        return self._values[self._slot[key]]

    def __setitem__(self, key: bytes, value) -> None:
        slot = self._slot.get(key)
        if slot is None:
            self._append(key, value, 0)
        else:
            self._values[slot] = value

    def put(self, key: bytes, value, access) -> object:
        """Store `value`; return the value it replaces, or None. A new entry gets the
        stamp `access.new_stamp()`, a replaced one `access.refresh(its stamp)`: an
        overwrite counts as an access and keeps the key's LFU history, as in Redis."""
        slot = self._slot.get(key)
        if slot is None:
            self._append(key, value, access.new_stamp())
            return None
        old = self._values[slot]
        self._values[slot] = value
        self._stamps[slot] = access.refresh(self._stamps[slot])
        return old

    def _append(self, key: bytes, value, stamp: int) -> None:
        self._slot[key] = len(self._keys)
        self._keys.append(key)
        self._values.append(value)
        self._stamps.append(stamp)

    def get_touched(self, key: bytes, refresh) -> object:
        """get(), and replace the entry's stamp with refresh(old stamp)."""
        slot = self._slot.get(key)
        if slot is None:
            return None
        stamps = self._stamps
        stamps[slot] = refresh(stamps[slot])
        return self._values[slot]

    def stamp(self, key: bytes) -> int:
        return self._stamps[self._slot[key]]

    def set_stamp(self, key: bytes, stamp: int) -> None:
        self._stamps[self._slot[key]] = stamp

    def pop(self, key: bytes, default=None):
        slot = self._slot.pop(key, None)
        if slot is None:
            return default
        keys, values, stamps = self._keys, self._values, self._stamps
        value = values[slot]
        last_key, last_value, last_stamp = keys.pop(), values.pop(), stamps.pop()
        if slot < len(keys):  # the removed entry was not the last: fill its hole
            keys[slot], values[slot], stamps[slot] = last_key, last_value, last_stamp
            self._slot[last_key] = slot
        return value

    def clear(self) -> None:
        self._slot.clear()
        self._keys.clear()
        self._values.clear()
        del self._stamps[:]

    def items(self) -> list[tuple[bytes, object]]:
        return list(zip(self._keys, self._values))

    def random_item(self, rng: random.Random = random) -> tuple[bytes, object] | None:
        if not self._keys:
            return None
        slot = rng.randrange(len(self._keys))
        return self._keys[slot], self._values[slot]

    def scan(self, cursor: int, count: int) -> tuple[int, list[bytes]]:
        """As DenseDict.scan; here every position holds a live key."""
        top = len(self._keys) if cursor == 0 else min(cursor, len(self._keys))
        bottom = max(0, top - max(count, 1))
        return bottom, self._keys[bottom:top][::-1]
