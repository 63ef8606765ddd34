"""A hash table whose entries also sit in dense arrays: O(1) lookup *and* O(1) sampling.

Redis needs to pick random keys all the time: RANDOMKEY, the active-expiry cycle (sample
20 keys with a TTL), eviction (sample `maxmemory-samples` keys). Its own `dict` can do
that because Redis can peek into hash buckets; a Python `dict` cannot, and
`random.choice(list(d))` is O(n).

So each database keeps `key -> slot` in a dict and the keys and values in two parallel
lists. Deleting swaps the last entry into the freed slot ("swap-remove"), so the lists
stay dense and a random slot is always a live entry.

The same layout gives SCAN a *stateless* cursor with Redis's guarantee (every key present
for the whole iteration is returned at least once). SCAN walks the slots downwards, from
the top towards 0, and the cursor is "the slots below this are still to do". Entries only
ever move *down* (the last one fills a hole), and new keys are appended at the top, in
the part already walked. So a key that was still to do can never move into the part
already done; at worst an already-returned key moves down and is returned twice, which
SCAN's contract allows.
"""

from __future__ import annotations

import random
from array import array
from typing import Iterator


class DenseDict:
    __slots__ = ("_slot", "_keys", "_values")

    def __init__(self) -> None:
        self._slot: dict[bytes, int] = {}
        self._keys: list[bytes] = []
        self._values: list[object] = []

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: bytes) -> bool:
        return key in self._slot

    def __iter__(self) -> Iterator[bytes]:
        """Iterate over a snapshot of the keys (safe against concurrent modification)."""
        return iter(self._keys[:])

    def get(self, key: bytes, default=None):
        slot = self._slot.get(key)
        return default if slot is None else self._values[slot]

    def __getitem__(self, key: bytes):
        return self._values[self._slot[key]]

    def __setitem__(self, key: bytes, value) -> None:
        slot = self._slot.get(key)
        if slot is None:
            self._slot[key] = len(self._keys)
            self._keys.append(key)
            self._values.append(value)
        else:
            self._values[slot] = value

    def pop(self, key: bytes, default=None):
        slot = self._slot.pop(key, None)
        if slot is None:
            return default
        value = self._values[slot]
        last_key, last_value = self._keys.pop(), self._values.pop()
        if slot < len(self._keys):  # the removed entry was not the last: fill its hole
            self._keys[slot] = last_key
            self._values[slot] = last_value
            self._slot[last_key] = slot
        return value

    def clear(self) -> None:
        self._slot.clear()
        self._keys.clear()
        self._values.clear()

    def items(self) -> list[tuple[bytes, object]]:
        return list(zip(self._keys, self._values))

    def random_item(self, rng: random.Random = random) -> tuple[bytes, object] | None:
        if not self._keys:
            return None
        slot = rng.randrange(len(self._keys))
        return self._keys[slot], self._values[slot]

    def scan(self, cursor: int, count: int) -> tuple[int, list[bytes]]:
        """Up to `count` slots below `cursor` (0 = start); returns (next cursor, keys).

        A returned cursor of 0 means the iteration is complete.
        """
        top = len(self._keys) if cursor == 0 else min(cursor, len(self._keys))
        bottom = max(0, top - max(count, 1))
        return bottom, self._keys[bottom:top][::-1]


class StampedDict(DenseDict):
    """A DenseDict with a 32-bit unsigned *stamp* per entry, for the keyspace's
    LRU/LFU access data (see eviction.py). The stamps live in an `array('I')` parallel
    to the keys and values, moved along on swap-remove: 4 bytes per key and no Python
    object, where a per-key int would cost 28. New entries stored with plain
    `d[key] = value` (loading a snapshot) get stamp 0; `put()` gives one."""

    __slots__ = ("_stamps",)

    def __init__(self) -> None:
        super().__init__()
        self._stamps = array("I")

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

    def __setitem__(self, key: bytes, value) -> None:
        slot = self._slot.get(key)
        if slot is None:
            self._append(key, value, 0)
        else:
            self._values[slot] = value

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
        slot = self._slot.get(key)
        if slot is None:
            return default
        stamps = self._stamps
        last = stamps.pop()
        if slot < len(stamps):  # the same swap-remove as the keys and values
            stamps[slot] = last
        return super().pop(key, default)

    def clear(self) -> None:
        super().clear()
        del self._stamps[:]
