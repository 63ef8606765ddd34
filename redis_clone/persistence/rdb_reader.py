"""RDB bytes -> Python values: the reader half of the format (see rdb.py for the layout).

`RdbReader(data).entries()` walks a whole file held in memory and yields one
`(db, key, value, deadline_ms)` per key, in file order; `aux` collects the metadata
fields on the way. It reads what Redis 7.0 writes (listpacks, intsets, quicklists of
listpacks, LZF and integer-encoded strings, plain encodings) and what older versions
wrote (ziplists, quicklists of ziplists, zipmaps, text scores), and Redis 7.2's
listpack sets. Values come out as the types the keyspace holds: bytes, deque, dict,
set, ZSet.

Every problem is an `RdbError` whose message says what is wrong and where: the key and
database for a value we cannot decode or do not support (modules, streams), the byte
offset for a truncated file, both CRCs for a checksum mismatch. A structural error
found before the end is checked against the checksum too, so a corrupted file is
reported as corrupted rather than as, say, "unknown type 42".

Reading the whole file into memory first keeps the parser simple (slices of one bytes
object, no refills) and fast in Python; the price is holding the file in memory once
while loading.
"""

from __future__ import annotations

import math
import struct
from collections import deque
from typing import Callable, Iterator

from redis_clone.persistence import intset, listpack, lzf, ziplist
from redis_clone.persistence.crc64 import crc64
from redis_clone.persistence.rdb import (
    ENC_INT8, ENC_INT16, ENC_INT32, ENC_LZF, MAGIC, MAX_READABLE_VERSION, OPCODE_AUX, OPCODE_EOF,
    OPCODE_EXPIRETIME, OPCODE_EXPIRETIME_MS, OPCODE_FREQ, OPCODE_FUNCTION, OPCODE_FUNCTION2,
    OPCODE_IDLE, OPCODE_MODULE_AUX, OPCODE_RESIZEDB, OPCODE_SELECTDB, QUICKLIST_NODE_PACKED,
    QUICKLIST_NODE_PLAIN, TYPE_HASH, TYPE_HASH_LISTPACK, TYPE_HASH_ZIPLIST, TYPE_HASH_ZIPMAP,
    TYPE_LIST, TYPE_LIST_QUICKLIST, TYPE_LIST_QUICKLIST_2, TYPE_LIST_ZIPLIST, TYPE_MODULE_2,
    TYPE_SET, TYPE_SET_INTSET, TYPE_SET_LISTPACK, TYPE_STRING, TYPE_ZSET, TYPE_ZSET_2,
    TYPE_ZSET_LISTPACK, TYPE_ZSET_ZIPLIST, UNSUPPORTED_TYPES, EncodingLimits, RdbError,
    module_type_name)
from redis_clone.zset import ZSet

_DOUBLE = struct.Struct("<d")


class _Truncated(Exception):
    """A read ran past the end of the data."""


class _WrongChecksum(RdbError):
    """The whole file was read and its checksum does not match its contents."""


class RdbReader:
    def __init__(self, data: bytes, limits: EncodingLimits = EncodingLimits(), *,
                 verify_checksum: bool = True, databases: int = 16) -> None:
        self._data = data
        self._size = len(data)
        self._pos = 0
        self._limits = limits
        self._verify = verify_checksum
        self._databases = databases
        self.version = 0
        self.aux: dict[str, bytes] = {}
        self.empty_keys_skipped = 0
        self._record_start = 0  # where the record being read began, for error messages
        self._decoders: dict[int, Callable[[], object]] = {
            TYPE_LIST: lambda: deque(self._plain_strings()),
            TYPE_SET: lambda: set(self._plain_strings()),
            TYPE_ZSET: lambda: self._zset_pairs(self._text_score),
            TYPE_HASH: self._plain_hash,
            TYPE_ZSET_2: lambda: self._zset_pairs(self._binary_score),
            TYPE_HASH_ZIPMAP: lambda: _hash(ziplist.decode_zipmap(self.string())),
            TYPE_LIST_ZIPLIST: lambda: deque(ziplist.decode(self.string())),
            TYPE_SET_INTSET: lambda: {b"%d" % n for n in intset.decode(self.string())},
            TYPE_ZSET_ZIPLIST: lambda: self._zset(ziplist.decode(self.string())),
            TYPE_HASH_ZIPLIST: lambda: _hash(ziplist.decode(self.string())),
            TYPE_LIST_QUICKLIST: self._quicklist,
            TYPE_HASH_LISTPACK: lambda: _hash(listpack.decode(self.string())),
            TYPE_ZSET_LISTPACK: lambda: self._zset(listpack.decode(self.string())),
            TYPE_LIST_QUICKLIST_2: self._quicklist_2,
            TYPE_SET_LISTPACK: lambda: set(listpack.decode(self.string())),
        }

    # --- the file ------------------------------------------------------------------

    def entries(self) -> Iterator[tuple[int, bytes, object, int | None]]:
        """Every key in the file: (db index, key, value, deadline in ms or None).
        Empty collections (which Redis never keeps) are skipped and counted."""
        try:
            yield from self._records()
        except _Truncated:
            raise RdbError(f"the file is truncated: it ends at byte {self._size} in the "
                           f"middle of a record (started at byte {self._record_start})") from None
        except _WrongChecksum:
            raise
        except RdbError as err:
            if self._looks_corrupted():
                raise RdbError(f"{err} -- and the checksum does not match: the file is "
                               "corrupted") from None
            raise

    def _records(self) -> Iterator[tuple[int, bytes, object, int | None]]:
        self._header()
        db, deadline = 0, None
        while True:
            self._record_start = self._pos
            opcode = self._byte()
            if opcode < OPCODE_FUNCTION2:  # a value type: the common case, a key follows
                key = self.string()
                value = self.string() if opcode == TYPE_STRING else self._value(opcode, key, db)
                if value is not None:
                    yield db, key, value, deadline
                deadline = None
            elif opcode == OPCODE_EXPIRETIME_MS:
                deadline = int.from_bytes(self._take(8), "little", signed=True)
            elif opcode == OPCODE_EXPIRETIME:
                deadline = int.from_bytes(self._take(4), "little", signed=True) * 1000
            elif opcode == OPCODE_SELECTDB:
                db = self.length()
                if db >= self._databases:
                    raise RdbError(f"the file has keys in db {db}, but this server has "
                                   f"{self._databases} databases (see `databases`)")
            elif opcode == OPCODE_RESIZEDB:
                self.length(), self.length()  # sizing hints: nothing to pre-size here
            elif opcode == OPCODE_AUX:
                name = self.string().decode("utf-8", "replace")
                self.aux[name] = self.string()
            elif opcode == OPCODE_IDLE:
                self.length()  # LRU idle time: we keep no access clock
            elif opcode == OPCODE_FREQ:
                self._byte()   # LFU counter, likewise
            elif opcode == OPCODE_MODULE_AUX:
                raise RdbError("the file holds auxiliary data of module "
                               f"'{module_type_name(self.length())}', which this server cannot load")
            elif opcode in (OPCODE_FUNCTION, OPCODE_FUNCTION2):
                raise RdbError("the file holds Redis Functions (FUNCTION LOAD libraries), "
                               "which this server does not support")
            elif opcode == OPCODE_EOF:
                self._check_checksum()
                return

    def _header(self) -> None:
        magic, version = self._take(5), self._take(4)
        if magic != MAGIC or not version.isdigit():
            raise RdbError("not an RDB file: it does not start with REDIS and a version")
        self.version = int(version)
        if not 1 <= self.version <= MAX_READABLE_VERSION:
            raise RdbError(f"can't handle RDB format version {self.version}")

    def _check_checksum(self) -> None:
        if self.version < 5:
            return  # no checksum before RDB 5 (Redis 2.6)
        stored = int.from_bytes(self._take(8), "little")
        if not self._verify or stored == 0:  # 0: saved with rdbchecksum no
            return
        computed = crc64(memoryview(self._data)[:self._pos - 8])
        if computed != stored:
            raise _WrongChecksum(f"wrong RDB checksum: the file says {stored:016x}, its "
                                 f"contents give {computed:016x}: the file is corrupted")

    def _looks_corrupted(self) -> bool:
        """After a structural error: do the last 8 bytes, read as the checksum, fail
        to match the rest? (False when the check is off or the file has none.)"""
        if not self._verify or self._size < 8 or self.version < 5:
            return False
        stored = int.from_bytes(self._data[-8:], "little")
        return stored != 0 and crc64(memoryview(self._data)[:-8]) != stored

    # --- values --------------------------------------------------------------------

    def _value(self, value_type: int, key: bytes, db: int):
        """A value of any type but a plain string; None for an empty collection."""
        decoder = self._decoders.get(value_type)
        where = f"key '{key.decode('utf-8', 'replace')}' in db {db}"
        if decoder is None:
            kind = UNSUPPORTED_TYPES.get(value_type)
            if kind is None:
                raise RdbError(f"unknown RDB value type {value_type} for {where}")
            if value_type == TYPE_MODULE_2:
                kind += f" '{module_type_name(self.length())}'"
            raise RdbError(f"can't load {where}: it holds a {kind} (RDB type {value_type}), "
                           "which this server does not support")
        try:
            value = decoder()
        except (ValueError, RdbError) as err:  # ValueError: the blob decoders (ListpackError...)
            raise RdbError(f"can't load {where}: {err}") from None
        if not value and type(value) is not bytes:
            self.empty_keys_skipped += 1
            return None
        return value

    def _plain_strings(self) -> Iterator[bytes]:
        return (self.string() for _ in range(self.length()))

    def _plain_hash(self) -> dict:
        return {self.string(): self.string() for _ in range(self.length())}

    def _zset_pairs(self, read_score: Callable[[], float]) -> ZSet:
        count = self.length()
        pairs = [(self.string(), read_score()) for _ in range(count)]
        return self._build_zset(pairs)

    def _zset(self, flat: list[bytes]) -> ZSet:
        """Members and scores alternating, scores as text (listpack, ziplist)."""
        if len(flat) % 2:
            raise ValueError("a sorted set needs an even number of elements")
        try:
            scores = [float(text) for text in flat[1::2]]
        except ValueError:
            raise ValueError("a score is not a number") from None
        return self._build_zset(list(zip(flat[0::2], scores)))

    def _build_zset(self, pairs: list[tuple[bytes, float]]) -> ZSet:
        longest = max((len(member) for member, _ in pairs), default=0)
        zset = ZSet(compact=self._limits.zset_is_compact(len(pairs), longest))
        for member, score in pairs:
            if math.isnan(score):
                raise ValueError("a score is NaN")
            zset.add(member, score)
        return zset

    def _binary_score(self) -> float:
        return _DOUBLE.unpack(self._take(8))[0]

    def _text_score(self) -> float:
        """RDB before version 8: a length byte, with 253/254/255 for nan/inf/-inf."""
        size = self._byte()
        special = {253: math.nan, 254: math.inf, 255: -math.inf}
        if size in special:
            return special[size]
        return float(self._take(size))  # a ValueError names the key, see _value()

    def _quicklist(self) -> deque:
        """Redis 3.2 to 6.2: a count of nodes, each a ziplist."""
        items: deque = deque()
        for _ in range(self.length()):
            items.extend(ziplist.decode(self.string()))
        return items

    def _quicklist_2(self) -> deque:
        """Redis 7.0: a count of nodes, each a container kind then a listpack (PACKED)
        or a single large element (PLAIN)."""
        items: deque = deque()
        for _ in range(self.length()):
            container = self.length()
            blob = self.string()
            if container == QUICKLIST_NODE_PLAIN:
                items.append(blob)
            elif container == QUICKLIST_NODE_PACKED:
                items.extend(listpack.decode(blob))
            else:
                raise ValueError(f"unknown quicklist node container {container}")
        return items

    # --- primitives ----------------------------------------------------------------

    def _byte(self) -> int:
        pos = self._pos
        if pos >= self._size:
            raise _Truncated
        self._pos = pos + 1
        return self._data[pos]

    def _take(self, count: int) -> bytes:
        start, end = self._pos, self._pos + count
        if end > self._size:
            raise _Truncated
        self._pos = end
        return self._data[start:end]

    def length(self) -> int:
        first = self._byte()
        kind = first >> 6
        if kind == 0:
            return first
        if kind == 1:
            return (first & 0x3F) << 8 | self._byte()
        if first == 0x80:
            return int.from_bytes(self._take(4), "big")
        if first == 0x81:
            return int.from_bytes(self._take(8), "big")
        raise RdbError(f"invalid length encoding 0x{first:02x} at byte {self._pos - 1}")

    def string(self) -> bytes:
        """A string: raw (length + bytes), an integer, or LZF-compressed."""
        data, pos = self._data, self._pos
        if pos >= self._size:
            raise _Truncated
        first = data[pos]
        if first < 0x40:  # the common case, a short raw string, inline
            end = pos + 1 + first
            if end > self._size:
                raise _Truncated
            self._pos = end
            return data[pos + 1:end]
        if first < 0xC0:
            return self._take(self.length())
        self._pos = pos + 1
        encoding = first & 0x3F
        if encoding == ENC_INT8:
            return b"%d" % int.from_bytes(self._take(1), "little", signed=True)
        if encoding == ENC_INT16:
            return b"%d" % int.from_bytes(self._take(2), "little", signed=True)
        if encoding == ENC_INT32:
            return b"%d" % int.from_bytes(self._take(4), "little", signed=True)
        if encoding == ENC_LZF:
            packed_size, size = self.length(), self.length()
            try:
                return lzf.decompress(self._take(packed_size), size)
            except lzf.LZFError as err:
                raise RdbError(f"invalid LZF-compressed string at byte {pos}: {err}") from None
        raise RdbError(f"unknown string encoding {encoding} at byte {pos}")


def _hash(flat: list[bytes]) -> dict:
    if len(flat) % 2:
        raise ValueError("a hash needs an even number of elements")
    return dict(zip(flat[0::2], flat[1::2]))
