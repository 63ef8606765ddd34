"""Memory accounting: what each key would cost in Redis, kept as a running total.

Python cannot tell us cheaply how many bytes a key uses (sys.getsizeof is shallow and
the interpreter shares objects), and maxmemory needs a number it can compare against
before *every* write. So, like Redis's `used_memory` (the allocator's running count),
we keep a running total, and the per-key cost is a *model* of Redis's own layout on a
64-bit build with jemalloc — the same numbers `MEMORY USAGE` reports there:

    key      dictEntry (24) + the key's sds string, rounded up to a jemalloc size class
    string   int-encoded: the robj (16); up to 44 bytes: robj and sds in one "embstr"
             allocation; longer: robj + separate sds ("raw")
    list     robj + quicklist header; per element ~ its listpack entry (length + 2)
    hash     robj + dict; per field: dictEntry + bucket + two sds strings
    set      robj + dict; per member: dictEntry + bucket + one sds string
    zset     robj + dict + skiplist; per member: the set's cost + a skiplist node
    expiry   another dictEntry (24) in the `expires` table

Strings are costed exactly (they match real Redis's MEMORY USAGE byte for byte).
Containers are *estimated* the way MEMORY USAGE estimates them: measure a few elements
(SAMPLES, default 5: the first ones in iteration order) and multiply their average by
the element count. That keeps re-measuring a container after an in-place change (HSET
on a big hash) O(1), which is what lets the keyspace keep the total current on every
write (see keyspace.py). The per-element overheads are those of the hashtable
encodings, so small hashes and sets, which Redis packs into a listpack or intset, cost
more here than there. Left out: allocator fragmentation, client buffers, the server's
own baseline; `used_memory_rss` (from psutil) shows the real process next to it.
"""

from __future__ import annotations

from collections import deque
from itertools import islice

from redis_clone.persistence.rdb import string_to_int64
from redis_clone.zset import ZSet

ROBJ = 16               # struct redisObject: type, encoding, lru (24 bits), refcount, ptr
DICT_ENTRY = 24         # key pointer, value pointer (or int64 deadline), next pointer
BUCKET = 8              # one pointer in a hash table's bucket array (at load factor ~1)
DICT = 96               # struct dict with its two tables (rounded size class)
QUICKLIST = 48          # struct quicklist (40 bytes, size class 48)
QUICKLIST_NODE = 32     # struct quicklistNode, one per ~8 KiB listpack
LISTPACK_ENTRY = 2      # encoding byte + back-length for a short element
LIST_ELEMENTS_PER_NODE = 128  # how many small elements share one quicklist node (approx.)
SKIPLIST = 32           # struct zskiplist
SKIPLIST_NODE = 56      # zskiplistNode: member, score, backward, ~1.33 levels of 16 bytes
EMBSTR_MAX = 44         # OBJ_ENCODING_EMBSTR_SIZE_LIMIT
DEFAULT_SAMPLES = 5     # MEMORY USAGE's default, and what the running total uses


def size_class(n: int) -> int:
    """jemalloc's size class for an n-byte request: 8, 16, then multiples of 16 up to
    128, then four classes per doubling (160, 192, 224, 256, 320...)."""
    if n <= 8:
        return 8
    if n <= 128:
        return (n + 15) & ~15
    spacing = 1 << ((n - 1).bit_length() - 3)
    return (n + spacing - 1) & -spacing


def sds_size(length: int, *, min_header: int = 1) -> int:
    """Allocation for an sds string of `length` bytes: header (sized by the length:
    sdshdr5 for < 32 bytes, 8/16/32/64 above), the bytes, the terminating NUL."""
    if length < 32:
        header = 1
    elif length < 256:
        header = 3
    elif length < 65536:
        header = 5
    elif length < 1 << 32:
        header = 9
    else:
        header = 17
    return size_class(max(header, min_header) + length + 1)


def _key_cost(length: int) -> int:
    return DICT_ENTRY + sds_size(length)


def _string_cost(length: int) -> int:
    if length <= EMBSTR_MAX:
        return size_class(ROBJ + 3 + length + 1)  # robj + sdshdr8 + bytes + NUL, one block
    return ROBJ + sds_size(length, min_header=3)


# Every SET counts a key and a string (twice when it replaces one): the costs of the
# common short lengths are computed once, here, rather than on every write.
_TABULATED = 256
_KEY_COSTS = [_key_cost(n) for n in range(_TABULATED)]
_STRING_COSTS = [_string_cost(n) for n in range(_TABULATED)]
_INT_START = frozenset(b"-0123456789")


def key_cost(key: bytes) -> int:
    """A key's entry in the main table: the dictEntry and the key's own sds copy."""
    length = len(key)
    return _KEY_COSTS[length] if length < _TABULATED else _key_cost(length)


def string_cost(value: bytes) -> int:
    """A string value as Redis encodes it: int, embstr or raw (see OBJECT ENCODING)."""
    length = len(value)
    if length <= 20 and length and value[0] in _INT_START and string_to_int64(value) is not None:
        return ROBJ
    return _STRING_COSTS[length] if length < _TABULATED else _string_cost(length)


def _sampled_average(sizes, samples: int) -> float:
    """Average of up to `samples` element sizes (all when samples is 0), or 0."""
    taken = list(sizes if samples == 0 else islice(sizes, samples))
    return sum(taken) / len(taken) if taken else 0.0


def _list_cost(items: deque, samples: int) -> int:
    n = len(items)
    average = _sampled_average((len(item) + LISTPACK_ENTRY for item in items), samples)
    nodes = -(-n // LIST_ELEMENTS_PER_NODE)
    return ROBJ + QUICKLIST + nodes * QUICKLIST_NODE + int(average * n)


def _hash_cost(fields: dict, samples: int) -> int:
    n = len(fields)
    average = _sampled_average((sds_size(len(f)) + sds_size(len(v)) for f, v in fields.items()), samples)
    return ROBJ + DICT + n * (DICT_ENTRY + BUCKET) + int(average * n)


def _set_cost(members: set, samples: int) -> int:
    n = len(members)
    average = _sampled_average((sds_size(len(m)) for m in members), samples)
    return ROBJ + DICT + n * (DICT_ENTRY + BUCKET) + int(average * n)


def _zset_cost(zset: ZSet, samples: int) -> int:
    n = len(zset)
    average = _sampled_average((sds_size(len(m)) for m, _ in zset), samples)
    return ROBJ + DICT + SKIPLIST + n * (DICT_ENTRY + BUCKET + SKIPLIST_NODE) + int(average * n)


_CONTAINER_COSTS = {deque: _list_cost, dict: _hash_cost, set: _set_cost, ZSet: _zset_cost}


def value_cost(value, samples: int = DEFAULT_SAMPLES) -> int:
    """The modelled size of a value; containers sample `samples` elements (0: all)."""
    if type(value) is bytes:
        return string_cost(value)
    # Any other sequence (a type a test or a future module adds) is costed as a list.
    return _CONTAINER_COSTS.get(type(value), _list_cost)(value, samples)


def entry_cost(key: bytes, value, samples: int = DEFAULT_SAMPLES) -> int:
    """What MEMORY USAGE reports: the key's table entry plus its value."""
    return key_cost(key) + value_cost(value, samples)

