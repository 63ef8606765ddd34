"""The RDB file format (version 10, Redis 7.0): what the bytes mean.

An RDB file is a header, a sequence of records each introduced by a one-byte opcode or
value type, an end marker and a checksum:

    "REDIS0010"                                 magic and 4-digit version
    AUX "redis-ver" "7.0.15"  AUX ...           metadata (FA key value)
    SELECTDB 0  RESIZEDB <keys> <expires>       start of database 0 (FE n, FB n m)
    [EXPIRETIME_MS <8 bytes LE>] <type> <key> <value>    one key (FC ms ...)
    ...
    EOF <8-byte little-endian CRC-64 of everything before it>   (FF crc)

Numbers that size things use the "length encoding": the two top bits of the first byte
say how long it is (00: 6 bits; 01: 14 bits; 10: a 32- or 64-bit big-endian number
follows). The fourth form, 11, is not a length but marks a *specially encoded string*:
an 8/16/32-bit little-endian integer, or an LZF-compressed blob.

Strings are a length then the bytes, or a special encoding. A value's type byte says
how the rest is laid out: plain collections are a count then their elements; compact
ones are one string holding Redis's in-memory encoding verbatim (a listpack, an intset).
"""

from __future__ import annotations

from dataclasses import dataclass

RDB_VERSION = 10            # what we write: Redis 7.0's
MAX_READABLE_VERSION = 11   # we also read Redis 7.2's files (its only new type is 20)
MAGIC = b"REDIS"

# Opcodes: records that are not keys.
OPCODE_FUNCTION2 = 245      # a Redis Function library (7.0)
OPCODE_FUNCTION = 246       # the same, in 7.0 release candidates
OPCODE_MODULE_AUX = 247     # data of a module not tied to a key
OPCODE_IDLE = 248           # LRU idle time of the next key
OPCODE_FREQ = 249           # LFU counter of the next key
OPCODE_AUX = 250            # metadata: a key and a value string
OPCODE_RESIZEDB = 251       # sizes of the database that follows: a hint for pre-sizing
OPCODE_EXPIRETIME_MS = 252  # absolute expiry of the next key, milliseconds, 8 bytes LE
OPCODE_EXPIRETIME = 253     # the same in seconds, 4 bytes LE (before RDB version 3)
OPCODE_SELECTDB = 254       # the keys that follow belong to this database
OPCODE_EOF = 255

# Value types.
TYPE_STRING = 0
TYPE_LIST = 1               # plain: count, then elements (before 3.2)
TYPE_SET = 2
TYPE_ZSET = 3               # scores as text (before 2.8 / RDB 8)
TYPE_HASH = 4
TYPE_ZSET_2 = 5             # scores as binary doubles
TYPE_MODULE = 6             # pre-GA modules
TYPE_MODULE_2 = 7
TYPE_HASH_ZIPMAP = 9        # Redis 2.4 and earlier
TYPE_LIST_ZIPLIST = 10
TYPE_SET_INTSET = 11
TYPE_ZSET_ZIPLIST = 12
TYPE_HASH_ZIPLIST = 13
TYPE_LIST_QUICKLIST = 14    # quicklist of ziplists (3.2 to 6.2)
TYPE_STREAM_LISTPACKS = 15
TYPE_HASH_LISTPACK = 16     # 7.0 from here on
TYPE_ZSET_LISTPACK = 17
TYPE_LIST_QUICKLIST_2 = 18  # quicklist of listpacks (or of single "plain" elements)
TYPE_STREAM_LISTPACKS_2 = 19
TYPE_SET_LISTPACK = 20      # 7.2 (RDB 11)
TYPE_STREAM_LISTPACKS_3 = 21

# How a quicklist node of TYPE_LIST_QUICKLIST_2 stores its elements.
QUICKLIST_NODE_PLAIN = 1    # one element, stored as a plain string
QUICKLIST_NODE_PACKED = 2   # a listpack of elements

# The 11 prefix of a length byte: a specially encoded string follows.
ENC_INT8, ENC_INT16, ENC_INT32, ENC_LZF = 0, 1, 2, 3

# For error messages: what a type we cannot load holds.
UNSUPPORTED_TYPES = {
    TYPE_MODULE: "module data type",
    TYPE_MODULE_2: "module data type",
    TYPE_STREAM_LISTPACKS: "stream",
    TYPE_STREAM_LISTPACKS_2: "stream",
    TYPE_STREAM_LISTPACKS_3: "stream",
}

# Module types are named by a 64-bit id: 9 characters of 6 bits each, then a 10-bit
# encoding version (Redis's moduleTypeNameByID).
MODULE_NAME_CHARSET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
_INT_START = frozenset(b"-0123456789")


class RdbError(Exception):
    """The file cannot be loaded (or a dataset cannot be saved); the message says why,
    naming the key when one is involved."""


def module_type_name(module_id: int) -> str:
    chars = []
    module_id >>= 10
    for _ in range(9):
        chars.append(MODULE_NAME_CHARSET[module_id & 63])
        module_id >>= 6
    return "".join(reversed(chars))


def string_to_int64(data: bytes) -> int | None:
    """The integer `data` spells, if it spells one exactly as Redis would print it
    (Redis's string2ll: no sign but '-', no leading zeros or spaces, fits in 64 bits).

    Only such strings may be stored as integers by the compact encodings: anything
    else ("007", "+1", "1e3") must come back byte for byte, so it stays a string.
    """
    if not data or len(data) > 20 or data[0] not in _INT_START:
        return None
    try:
        value = int(data)
    except ValueError:
        return None
    if b"%d" % value != data or not INT64_MIN <= value <= INT64_MAX:
        return None
    return value


@dataclass(frozen=True)
class EncodingLimits:
    """When Redis keeps a collection in its compact encoding (listpack, intset), from
    the `*-max-listpack-*` / `set-max-intset-entries` parameters. The writer dumps a
    collection compactly when it is within them, as Redis would hold it; the reader
    uses them to decide which sorted sets are "compact" (see zset.py)."""

    hash_max_entries: int = 512
    hash_max_value: int = 64
    zset_max_entries: int = 128
    zset_max_value: int = 64
    set_max_intset_entries: int = 512
    list_max_listpack_size: int = -2  # > 0: elements per node; -1..-5: 4..64 KiB per node

    @classmethod
    def from_config(cls, config) -> "EncodingLimits":
        get = config.get_int
        return cls(get("hash-max-listpack-entries"), get("hash-max-listpack-value"),
                   get("zset-max-listpack-entries"), get("zset-max-listpack-value"),
                   get("set-max-intset-entries"), get("list-max-listpack-size"))

    def zset_is_compact(self, entries: int, longest_member: int) -> bool:
        return entries <= self.zset_max_entries and longest_member <= self.zset_max_value
