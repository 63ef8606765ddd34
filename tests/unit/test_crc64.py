"""CRC-64 (Jones), the checksum at the end of every RDB file: Redis's check value, and
the word-at-a-time loop agreeing with the textbook one in every case."""

from __future__ import annotations

import os

from hypothesis import given
from hypothesis import strategies as st

from redis_clone.persistence.crc64 import POLY_REFLECTED, crc64
from tests.unit.rdb_samples import REDIS_7_DUMP


def bit_by_bit(data: bytes) -> int:
    """The definition, one bit at a time: what the tables must reproduce."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ POLY_REFLECTED if crc & 1 else crc >> 1
    return crc


def test_check_value_is_the_one_redis_tests_itself_with():
    assert crc64(b"123456789") == 0xE9C6D914C4B8D9CA


def test_nothing_has_a_checksum_of_zero():
    assert crc64(b"") == 0


def test_a_checksum_redis_wrote_is_reproduced():
    # The last 8 bytes of an RDB file Redis 7.0.15 wrote are the CRC of the rest.
    assert crc64(REDIS_7_DUMP[:-8]) == int.from_bytes(REDIS_7_DUMP[-8:], "little")


@given(st.binary(max_size=100))
def test_tables_agree_with_the_bit_by_bit_definition(data):
    assert crc64(data) == bit_by_bit(data)


@given(st.binary(max_size=200), st.integers(0, 200))
def test_checksumming_in_chunks_equals_checksumming_at_once(data, split):
    split = min(split, len(data))
    assert crc64(data[split:], crc64(data[:split])) == crc64(data)


def test_every_single_byte_change_changes_the_checksum():
    data = bytearray(os.urandom(64))
    original = crc64(data)
    for position in range(len(data)):
        for flip in (0x01, 0x80, 0xFF):
            data[position] ^= flip
            assert crc64(data) != original, (position, flip)
            data[position] ^= flip


def test_accepts_bytearrays_and_memoryviews():
    data = os.urandom(1000)
    assert crc64(bytearray(data)) == crc64(memoryview(data)) == crc64(data)
