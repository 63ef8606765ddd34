"""The long double emulation behind INCRBYFLOAT.

Every expected reply here was taken from real Redis 7.0.15 on x86-64. The random
comparison against a live server is in tests/integration/test_strings.py.
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from redis_clone import longdouble


def incrbyfloat(stored: bytes | None, increment: bytes) -> bytes | None:
    """What INCRBYFLOAT replies, or None where Redis replies an error."""
    value = longdouble.ZERO if stored is None else longdouble.parse(stored)
    step = longdouble.parse(increment)
    if value is None or step is None:
        return None
    result = longdouble.add(value, step)
    return longdouble.format_human(result) if longdouble.is_finite(result) else None


# 1e400 as a long double, printed by Redis (a double could not even hold 1e400).
ONE_E400 = (
    b"10000000000000000000281880683947586514586453433629052038625910693539685534008629862039"
    b"36399484832416052209405392731761620029582277725925573402382897659334066101779744743454"
    b"61739178624481166749717237789438243915933380474706750262466844013592375136038303437354"
    b"85505244955964979021825038280091068414947402456898653040951017512658092615827588920183"
    b"472511643316591362664138176309734806343732497430221946880"
)


@pytest.mark.parametrize("stored,increment,expected", [
    (b"10.5", b"0.1", b"10.6"),              # a double would print 10.59999999999999964
    (b"0.1", b"0.2", b"0.3"),
    (None, b"3.0e0", b"3"),
    (None, b"1E+2", b"100"),
    (None, b"-.5", b"-0.5"),
    (None, b"5.", b"5"),
    (None, b"+1", b"1"),
    (None, b"000000000000000000001.5", b"1.5"),
    (None, b"1e+0000000000000000000000000000000000000000002", b"100"),
    (None, b"0x1p3", b"8"),
    (b"8", b"0x.8", b"8.5"),
    (None, b"0X1P-2", b"0.25"),
    (None, b"1e-17", b"0.00000000000000001"),
    (None, b"1.5E-17", b"0.00000000000000002"),
    (None, b"5e-18", b"0"),
    (None, b"-0.000000000000000001", b"0"),  # "-0" is printed as "0"
    (b"-9223372036854775808", b"1", b"-9223372036854775807"),
    (None, b"1e400", ONE_E400),
])
def test_incrbyfloat_replies_match_redis(stored, increment, expected):
    assert incrbyfloat(stored, increment) == expected


def test_seventeen_decimals_round_half_to_even():
    # 2**-18 and 3 * 2**-18 have exactly 18 decimals ending in 5: true ties.
    assert incrbyfloat(None, b"0.000003814697265625") == b"0.00000381469726562"
    assert incrbyfloat(None, b"0.000011444091796875") == b"0.00001144409179688"


def test_largest_long_double_prints_all_its_4933_digits():
    largest = longdouble.parse(b"0x1.fffffffffffffffep16383")
    text = longdouble.format_human(largest)
    assert len(text) == 4933
    assert text.startswith(b"11897314953572317650212638530309702051690633222946242004403237")
    assert text.endswith(b"47588489260031762345960769508849149662444156604419552086811989770240")


@pytest.mark.parametrize("text", [
    b"", b" 1", b"1 ", b"\t1", b"abc", b"1,5", b"1_000", b".", b"1e", b"1e+", b"0x", b"0x1p",
    b"nan", b"-nan", b"NaN", b"infin", b"1\x00", b"2\x00abc",
])
def test_parse_refuses_what_strtold_does_not_consume_entirely(text):
    assert longdouble.parse(text) is None


@pytest.mark.parametrize("text", [
    b"1e4933", b"1e5000", b"0x1p16384", b"0x1.ffffffffffffffffp16383",
    b"1.18973149535723176508575932662800702e+4932", b"0x1p+99999999999999999999999",
])
def test_parse_refuses_overflow(text):
    assert longdouble.parse(text) is None


@pytest.mark.parametrize("text", [
    b"1e-5000", b"1.82e-4951", b"0x1p-16446", b"0x1p-99999999999999999999999",
])
def test_parse_refuses_underflow_to_zero(text):
    assert longdouble.parse(text) is None


@pytest.mark.parametrize("text", [b"1.823e-4951", b"0x1p-16445", b"0x1.8p-16446", b"3.6e-4951"])
def test_parse_rounds_tiny_numbers_to_the_smallest_subnormal(text):
    assert longdouble.parse(text) == Fraction(1, 2**16445)


def test_parse_accepts_an_exact_zero_with_any_exponent():
    assert longdouble.parse(b"0e-99999999999999999999") == 0


@pytest.mark.parametrize("text,expected", [
    (b"inf", math.inf), (b"-inf", -math.inf), (b"+INFINITY", math.inf), (b"Inf", math.inf),
])
def test_parse_accepts_infinity_literals(text, expected):
    assert longdouble.parse(text) == expected


def test_parse_accepts_5119_characters_but_not_5120():
    assert longdouble.parse(b"1." + b"0" * 5117) == 1
    assert longdouble.parse(b"1." + b"0" * 5118) is None


@pytest.mark.parametrize("stored,expected", [
    (b"0x1.0000000000000001p60", b"0"),       # 2**60 + 2**-4: a tie, to the even 2**60
    (b"0x1.0000000000000003p60", b"0.25"),    # 2**60 + 3 * 2**-4: a tie, up to even
    (b"0x1.00000000000000011p60", b"0.125"),  # just above a tie: up
])
def test_parse_rounds_to_a_64_bit_significand_ties_to_even(stored, expected):
    # Near 2**60 the long doubles are 2**-3 apart; subtracting 2**60 shows the rounding.
    assert incrbyfloat(stored, b"-1152921504606846976") == expected


def test_adding_rounds_the_exact_sum():
    one = longdouble.parse(b"1")
    tiny = longdouble.parse(b"0x1p-64")
    assert longdouble.add(one, tiny) == 1                   # the tie goes to the even 1
    assert longdouble.add(one, tiny + tiny) == 1 + Fraction(1, 2**63)


def test_adding_past_the_largest_long_double_gives_infinity():
    largest = longdouble.parse(b"0x1.fffffffffffffffep16383")
    assert longdouble.add(largest, largest) == math.inf
    assert longdouble.add(-largest, -largest) == -math.inf
    assert incrbyfloat(b"1.18973149535723176502e+4932", b"1.18973149535723176502e+4932") is None


def test_infinity_absorbs_finite_values_and_cancels_into_nan():
    huge = longdouble.parse(b"1e4000")  # too big for a Python float
    assert longdouble.add(math.inf, huge) == math.inf
    assert math.isnan(longdouble.add(math.inf, -math.inf))
    assert not longdouble.is_finite(longdouble.add(huge, -math.inf))
    assert incrbyfloat(None, b"inf") is None
    assert incrbyfloat(b"inf", b"1") is None
