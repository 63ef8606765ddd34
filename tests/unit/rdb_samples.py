"""RDB test material: a dump written by real Redis 7.0.15 (for tests that must not depend
on redis-server), and builders for hand-made files.

Made with a fresh `redis-server --save ''` and redis-cli:

    SET str hello                    SET int 12345          SET lzf <"a" 100 times>
    RPUSH list a b 1 -2              HSET hash f v n 7      SADD intset 3 1 2
    SADD set x y                     ZADD zset 1 a 2.5 b -3 c
    SET ttl v + PEXPIREAT ttl 4102444800000                 SELECT 2 + SET other db2
    SAVE

It holds every compact encoding Redis 7.0 writes: a quicklist of one listpack, listpack
hash and sorted set, an intset, an integer-encoded and an LZF-compressed string.
"""

from redis_clone.persistence.crc64 import crc64
from redis_clone.persistence.rdb import OPCODE_EOF, OPCODE_SELECTDB
from redis_clone.persistence.rdb_writer import encode_string

REDIS_7_DUMP = bytes.fromhex(
    "524544495330303130fa0972656469732d76657206372e302e3135fa0a72656469732d62697473c040fa056374696d65"
    "c21c43086bfa08757365642d6d656dc2309c1000fa08616f662d62617365c000fe00fb09010003696e74c1393012046c"
    "6973740102121200000004008161028162020101dffe02ff10046861736812120000000400816602817602816e020701"
    "ff11047a7365741a1a0000000600816302dffd02816102010181620283322e3504ff00037374720568656c6c6f0b0669"
    "6e747365740e020000000300000001000200030002037365740201780179fc00d8c32cbb030000000374746c01760003"
    "6c7a66c3094064016161e05700016161fe02fb010000056f7468657203646232ffd672e973eae32ec5")

# The blobs inside it, byte for byte as Redis encoded them.
LIST_LISTPACK = bytes.fromhex("1200000004008161028162020101dffe02ff")                # a b 1 -2
HASH_LISTPACK = bytes.fromhex("120000000400816602817602816e020701ff")                # f v n 7
ZSET_LISTPACK = bytes.fromhex("1a0000000600816302dffd02816102010181620283322e3504ff")  # c -3 a 1 b 2.5
INTSET = bytes.fromhex("0200000003000000010002000300")                            # 1 2 3


def rdb_file(records: bytes, version: int = 10) -> bytes:
    """A file around hand-made records: header, records, EOF and the checksum."""
    body = b"REDIS%04d" % version + records + bytes((OPCODE_EOF,))
    return body + crc64(body).to_bytes(8, "little")


def key_record(value_type: int, key: bytes, payload: bytes) -> bytes:
    """SELECTDB 0, then one key of `value_type` whose encoded value is `payload`."""
    return bytes((OPCODE_SELECTDB, 0, value_type)) + encode_string(key) + payload
