"""Keyspace -> RDB bytes: the writer half of the format (see rdb.py for the layout).

`RdbWriter` streams a file: `start()` writes the header and AUX fields, `database()`
one database, `finish()` the end marker and the checksum. Output is buffered and
handed to the file 1 MiB at a time, the CRC-64 being updated as each chunk leaves, so
memory stays flat however big the dataset is.

How each Python value is written, and why:

    bytes       STRING: an integer if it spells one that fits 32 bits, LZF-compressed
                if longer than 20 bytes and that saves 4 bytes, raw otherwise
    deque       LIST_QUICKLIST_2: the elements cut into listpack nodes the size
                `list-max-listpack-size` asks for (8 KiB by default)
    dict        HASH_LISTPACK when within hash-max-listpack-entries/-value, else HASH
    set         SET_INTSET when all members are integers and there are at most
                set-max-intset-entries of them, else SET
    ZSet        ZSET_LISTPACK when within zset-max-listpack-entries/-value, else ZSET_2

Those are the choices Redis makes for its in-memory encodings, so a file we write uses
the encodings Redis itself would have used for the same data (not byte for byte: LZF
output and list node boundaries may differ). The writer never touches a lock, a clock
or a logger: it may run in a forked child (see snapshots.py), where any lock another
thread held at fork time stays held forever.
"""

from __future__ import annotations

import struct
import time
from collections import deque
from typing import BinaryIO, Iterable, Mapping

from redis_clone.persistence import intset, listpack, lzf
from redis_clone.persistence.crc64 import crc64
from redis_clone.persistence.rdb import (
    ENC_INT8, ENC_INT16, ENC_INT32, ENC_LZF, MAGIC, OPCODE_AUX, OPCODE_EOF,
    OPCODE_EXPIRETIME_MS, OPCODE_RESIZEDB, OPCODE_SELECTDB, QUICKLIST_NODE_PACKED, RDB_VERSION,
    TYPE_HASH, TYPE_HASH_LISTPACK, TYPE_LIST_QUICKLIST_2, TYPE_SET, TYPE_SET_INTSET, TYPE_STRING,
    TYPE_ZSET_2, TYPE_ZSET_LISTPACK, EncodingLimits, RdbError, string_to_int64)
from redis_clone.zset import ZSet

FLUSH_AT = 1 << 20
COMPRESS_ABOVE = 20          # Redis does not try LZF on strings of 20 bytes or fewer
COMPRESSION_MIN_GAIN = 4     # ... and keeps the result only if it saves 4 bytes
# list-max-listpack-size -1..-5: the largest listpack a quicklist node may hold.
NODE_BYTES = {-1: 4096, -2: 8192, -3: 16384, -4: 32768, -5: 65536}
NODE_SAFETY_BYTES = 8192     # with a count limit, nodes still stay under 8 KiB
LISTPACK_OVERHEAD = 7        # header and end byte

_DOUBLE = struct.Struct("<d")
_EXPIRE_PREFIX = bytes((OPCODE_EXPIRETIME_MS,))
_STRING_TYPE = bytes((TYPE_STRING,))


def _length_slow(n: int) -> bytes:
    if n < 64:
        return bytes((n,))
    if n < 16384:
        return bytes((0x40 | n >> 8, n & 0xFF))
    if n <= 0xFFFFFFFF:
        return b"\x80" + n.to_bytes(4, "big")
    return b"\x81" + n.to_bytes(8, "big")


_SMALL_LENGTHS = tuple(_length_slow(n) for n in range(16384))  # the common case, precomputed


def encode_length(n: int) -> bytes:
    return _SMALL_LENGTHS[n] if n < 16384 else _length_slow(n)


def encode_string(data: bytes, compress: bool = True) -> bytes:
    """A string as rdbSaveRawString writes it: integer, LZF or raw."""
    size = len(data)
    if size <= 11:
        value = string_to_int64(data)
        if value is not None:
            if -128 <= value <= 127:
                return bytes((0xC0 | ENC_INT8,)) + value.to_bytes(1, "little", signed=True)
            if -32768 <= value <= 32767:
                return bytes((0xC0 | ENC_INT16,)) + value.to_bytes(2, "little", signed=True)
            if -(1 << 31) <= value < 1 << 31:
                return bytes((0xC0 | ENC_INT32,)) + value.to_bytes(4, "little", signed=True)
    elif compress and size > COMPRESS_ABOVE:
        packed = lzf.compress(data, size - COMPRESSION_MIN_GAIN)
        if packed is not None:
            return (bytes((0xC0 | ENC_LZF,)) + encode_length(len(packed)) + encode_length(size)
                    + packed)
    return (_SMALL_LENGTHS[size] if size < 16384 else _length_slow(size)) + data


def score_text(score: float) -> bytes:
    """How a score sits in a listpack: an integer when it is one, else text that
    strtod() reads back to the same double ("1.5", "inf", "1e+20")."""
    if score.is_integer() and abs(score) < 1 << 63:
        return b"%d" % score
    return repr(score).encode()


class RdbWriter:
    """Writes one RDB file to a binary file object; see the module docstring."""

    def __init__(self, file: BinaryIO, limits: EncodingLimits = EncodingLimits(), *,
                 compression: bool = True, checksum: bool = True, key_delay: float = 0.0) -> None:
        self._file = file
        self._key_delay = key_delay  # seconds to sleep per key: rdb-key-save-delay, for tests
        self._limits = limits
        self._compress = compression
        self._checksum = checksum
        self._buffer = bytearray()
        self._crc = 0
        self._encoders = {deque: self._list, dict: self._hash, set: self._set, ZSet: self._zset}

    # --- the file's structure ------------------------------------------------------

    def start(self, aux: Mapping[str, bytes]) -> None:
        self._buffer += MAGIC + b"%04d" % RDB_VERSION
        for name, value in aux.items():
            self._buffer.append(OPCODE_AUX)
            self._buffer += encode_string(name.encode(), False)
            self._buffer += encode_string(value, self._compress)

    def database(self, index: int, items: Iterable[tuple[bytes, object]],
                 deadlines: Mapping[bytes, int], size: int) -> None:
        """One database: `items` are its (key, value) pairs, `deadlines` the expiry
        (ms) of those that have one, `size` how many items there are."""
        if not size:
            return  # Redis writes nothing at all for an empty database
        out = self._buffer
        out.append(OPCODE_SELECTDB)
        out += encode_length(index)
        out.append(OPCODE_RESIZEDB)
        out += encode_length(size) + encode_length(len(deadlines))
        compress, encoders, get_deadline = self._compress, self._encoders, deadlines.get
        for key, value in items:
            deadline = get_deadline(key)
            if deadline is not None:
                out += _EXPIRE_PREFIX + deadline.to_bytes(8, "little", signed=True)
            if type(value) is bytes:  # the hot path: most keys are strings
                out += _STRING_TYPE + encode_string(key, compress) + encode_string(value, compress)
            else:
                encoder = encoders.get(type(value))
                if encoder is None:
                    raise RdbError(f"cannot save key {key!r}: no RDB encoding for "
                                   f"{type(value).__name__}")
                value_type, payload = encoder(value)
                out.append(value_type)
                out += encode_string(key, compress) + payload
            if self._key_delay:
                time.sleep(self._key_delay)
            if len(out) >= FLUSH_AT:
                self._flush()
                out = self._buffer

    def finish(self) -> None:
        self._buffer.append(OPCODE_EOF)
        self._flush()
        self._file.write(self._crc.to_bytes(8, "little") if self._checksum else bytes(8))

    def _flush(self) -> None:
        if self._checksum:
            self._crc = crc64(self._buffer, self._crc)
        self._file.write(self._buffer)
        self._buffer = bytearray()

    # --- collections: each returns (type byte, encoded value) ----------------------

    def _blob(self, data: bytes) -> bytes:
        return encode_string(data, self._compress)

    def _list(self, items: deque) -> tuple[int, bytes]:
        nodes = list(self._quicklist_nodes(items))
        packed = encode_length(QUICKLIST_NODE_PACKED)
        return TYPE_LIST_QUICKLIST_2, encode_length(len(nodes)) + b"".join(
            packed + self._blob(listpack.join(node)) for node in nodes)

    def _quicklist_nodes(self, items: Iterable[bytes]) -> Iterable[list[bytes]]:
        """Cut a list into nodes (lists of listpack entries) the way Redis's quicklist
        fills them: by listpack size (fill < 0), or by element count with an 8 KiB
        safety limit (fill > 0). An element bigger than the limit gets a node of its own."""
        fill = self._limits.list_max_listpack_size
        max_bytes = NODE_BYTES[max(fill, -5)] if fill < 0 else NODE_SAFETY_BYTES
        max_count = fill if fill > 0 else None
        node: list[bytes] = []
        node_bytes = LISTPACK_OVERHEAD
        for item in items:
            encoded = listpack.entry(item)
            if node and (node_bytes + len(encoded) > max_bytes or len(node) == max_count):
                yield node
                node, node_bytes = [], LISTPACK_OVERHEAD
            node.append(encoded)
            node_bytes += len(encoded)
        if node:
            yield node

    def _hash(self, fields: dict) -> tuple[int, bytes]:
        limits = self._limits
        if len(fields) <= limits.hash_max_entries and all(
                len(f) <= limits.hash_max_value and len(v) <= limits.hash_max_value
                for f, v in fields.items()):
            flat = [item for pair in fields.items() for item in pair]
            return TYPE_HASH_LISTPACK, self._blob(listpack.encode(flat))
        compress = self._compress
        return TYPE_HASH, encode_length(len(fields)) + b"".join(
            encode_string(field, compress) + encode_string(value, compress)
            for field, value in fields.items())

    def _set(self, members: set) -> tuple[int, bytes]:
        if len(members) <= self._limits.set_max_intset_entries:
            numbers = [string_to_int64(member) for member in members]
            if None not in numbers:
                return TYPE_SET_INTSET, self._blob(intset.encode(numbers))
        compress = self._compress
        return TYPE_SET, encode_length(len(members)) + b"".join(
            encode_string(member, compress) for member in members)

    def _zset(self, zset: ZSet) -> tuple[int, bytes]:
        limits = self._limits
        if limits.zset_is_compact(len(zset), max((len(m) for m, _ in zset), default=0)):
            flat = [item for member, score in zset for item in (member, score_text(score))]
            return TYPE_ZSET_LISTPACK, self._blob(listpack.encode(flat))
        compress = self._compress
        return TYPE_ZSET_2, encode_length(len(zset)) + b"".join(
            encode_string(member, compress) + _DOUBLE.pack(score) for member, score in zset)
