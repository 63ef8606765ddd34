"""LZF, Redis's string compressor: our output round-trips, liblzf's output (taken from
a real Redis dump) decodes, and broken input is refused instead of misread."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from redis_clone.persistence import lzf

# What Redis 7.0.15 stored for SET lzf <100 times "a">: a literal "aa", one overlapping
# reference copying 96 bytes from 1 byte back, a literal "aa".
LIBLZF_100_A = bytes.fromhex("016161e05700016161")


def test_decodes_what_liblzf_produced():
    assert lzf.decompress(LIBLZF_100_A, 100) == b"a" * 100


@given(st.binary(max_size=3000))
def test_anything_compressed_decompresses_to_itself(data):
    packed = lzf.compress(data)
    assert packed is not None  # without a limit, incompressible data just grows a little
    assert lzf.decompress(packed, len(data)) == data


@given(st.lists(st.sampled_from([b"ab", b"abc", b"hello ", b"\x00" * 7, b"xyz" * 30]), max_size=300))
def test_repetitive_data_round_trips_through_long_and_overlapping_references(parts):
    data = b"".join(parts)
    assert lzf.decompress(lzf.compress(data), len(data)) == data


def test_repetitive_data_shrinks():
    data = b"The quick brown fox jumps over the lazy dog. " * 100
    assert len(lzf.compress(data)) < len(data) // 10


def test_references_reach_back_at_most_8_kib():
    block = os.urandom(9000)
    data = block + block  # the repeat is too far back to reference from its start
    assert lzf.decompress(lzf.compress(data), len(data)) == data


def test_gives_up_when_the_result_would_exceed_the_limit():
    data = os.urandom(100)  # random bytes do not compress
    assert lzf.compress(data, len(data) - 4) is None


def test_a_reference_before_the_start_is_refused():
    with pytest.raises(lzf.LZFError, match="before the start"):
        lzf.decompress(bytes.fromhex("e05700"), 98)


def test_a_truncated_stream_is_refused():
    with pytest.raises(lzf.LZFError):
        lzf.decompress(LIBLZF_100_A[:-1], 100)
    with pytest.raises(lzf.LZFError):
        lzf.decompress(LIBLZF_100_A[:4], 100)


def test_the_expanded_length_must_be_the_announced_one():
    with pytest.raises(lzf.LZFError, match="expected 99"):
        lzf.decompress(LIBLZF_100_A, 99)
