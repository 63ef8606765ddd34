"""Damaged RDB files into the loader: the keys, or a clean RdbError -- nothing else.

A dump written by our own writer for a small dataset of every type and encoding is
mutated (bytes flipped or overwritten, cut short, garbage inserted or removed) and
read back, with and without checksum verification (Redis skips the check for a file
saved with `rdbchecksum no`, so the structural checks must stand on their own). The
reader must raise `RdbError` or return values, within a time bound, and without
allocating memory out of proportion to the file: a length field read from a damaged
file must never size a buffer on trust.
"""

from __future__ import annotations

import io
from collections import deque

from hypothesis import given
from hypothesis import strategies as st

from redis_clone.persistence.rdb import EncodingLimits, RdbError
from redis_clone.persistence.rdb_reader import RdbReader
from redis_clone.persistence.rdb_writer import RdbWriter
from redis_clone.zset import ZSet
from tests.fuzz.bounds import FUZZ, FUZZ_SLOW, bounded

MAX_PEAK = 16 * 1024 * 1024  # the dumps are a few KB; 16 MB is generous


def zset(pairs, *, compact: bool) -> ZSet:
    z = ZSet(compact=compact)
    for member, score in pairs:
        z.add(member, score)
    return z


def dataset_dump(*, checksum: bool) -> bytes:
    """Every type in its compact and its plain encoding, LZF strings, integers, deadlines."""
    small = EncodingLimits()
    big = [b"%d-%s" % (i, b"x" * 70) for i in range(140)]  # over the listpack limits
    items = {
        b"str": b"hello", b"int": b"12345", b"neg": b"-7", b"lzf": b"abc" * 200,
        b"list": deque([b"a", b"1", b"b" * 30]), b"biglist": deque(big),
        b"hash": {b"f": b"v", b"n": b"1"}, b"bighash": {item: item for item in big},
        b"intset": {b"1", b"2", b"300000"}, b"set": {b"a", b"b"}, b"bigset": set(big),
        b"zset": zset([(b"a", 1.0), (b"b", 2.5)], compact=True),
        b"bigzset": zset([(item, float(i)) for i, item in enumerate(big)], compact=False),
    }
    out = io.BytesIO()
    writer = RdbWriter(out, small, checksum=checksum)
    writer.start({"redis-ver": b"7.0.15", "ctime": b"1700000000"})
    writer.database(0, list(items.items()), {b"str": 1_900_000_000_000}, len(items))
    writer.database(3, [(b"other", b"db3")], {}, 1)
    writer.finish()
    return out.getvalue()


DUMPS = {True: dataset_dump(checksum=True), False: dataset_dump(checksum=False)}

MUTATION = st.one_of(
    st.tuples(st.just("set"), st.integers(min_value=0), st.integers(0, 255)),
    st.tuples(st.just("xor"), st.integers(min_value=0), st.integers(1, 255)),
    st.tuples(st.just("cut"), st.integers(min_value=0), st.just(0)),
    st.tuples(st.just("insert"), st.integers(min_value=0), st.binary(min_size=1, max_size=12)),
    st.tuples(st.just("delete"), st.integers(min_value=0), st.integers(1, 40)),
)


def mutate(data: bytes, mutations) -> bytes:
    buf = bytearray(data)
    for kind, where, what in mutations:
        if not buf:
            break
        pos = where % len(buf)
        if kind == "set":
            buf[pos] = what
        elif kind == "xor":
            buf[pos] ^= what
        elif kind == "cut":
            del buf[pos:]
        elif kind == "insert":
            buf[pos:pos] = what
        else:
            del buf[pos:pos + what]
    return bytes(buf)


def load(data: bytes, *, verify: bool) -> list:
    """Everything the reader yields, or RdbError (the loader's one documented failure)."""
    with bounded(max_bytes=MAX_PEAK):
        try:
            return list(RdbReader(data, verify_checksum=verify).entries())
        except RdbError:
            return []


def test_the_unmutated_dumps_load_every_key():
    for checksum, data in DUMPS.items():
        keys = {key for _, key, _, _ in RdbReader(data, verify_checksum=checksum).entries()}
        assert len(keys) == 14


@FUZZ_SLOW
@given(st.booleans(), st.lists(MUTATION, min_size=1, max_size=4))
def test_a_mutated_dump_loads_or_raises_rdb_error(checksummed, mutations):
    load(mutate(DUMPS[checksummed], mutations), verify=checksummed)


@FUZZ_SLOW
@given(st.integers(min_value=0), st.binary(min_size=1, max_size=64))
def test_garbage_spliced_into_a_dump_without_checksum_loads_or_raises_rdb_error(where, garbage):
    data = DUMPS[False]
    pos = where % len(data)
    load(data[:pos] + garbage + data[pos:], verify=False)


@FUZZ
@given(st.binary(max_size=200))
def test_arbitrary_bytes_after_the_magic_load_or_raise_rdb_error(tail):
    load(b"REDIS0010" + tail, verify=False)
