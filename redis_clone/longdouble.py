"""INCRBYFLOAT's arithmetic: the C `long double` Redis uses, emulated exactly.

Redis parses both operands with strtold(), adds them as `long double` and prints the
sum with "%.17Lf" minus trailing zeros (util.c: string2ld, ld2string LD_STR_HUMAN). On
x86-64 a `long double` is the x87 80-bit format: a 64-bit significand and a 15-bit
exponent. That is why Redis answers 10.6 to 10.5 + 0.1, where a 64-bit double (Python's
float) would print 10.59999999999999964, and why 1e400 is a valid increment. So floats
cannot reproduce Redis's replies. Instead a value here is an exact `fractions.Fraction`
that is rounded to the nearest long double after each step (parse, add), as the FPU
rounds. Fractions also make the %.17Lf decimal expansion exact. They are slower than
hardware floats, but INCRBYFLOAT does a single addition per call, so that is acceptable.

Subnormal numbers (below 2**-16382) are rounded as the x87 format does. That decides
whether a tiny input like "1.823e-4951" is accepted or rejected as underflow. We match
Redis on x86-64 Linux; where `long double` is a 128-bit quad (arm64 Linux) or just a
double (macOS on Apple silicon), real Redis itself replies differently.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

PRECISION = 64              # significand bits (the x87 stores the integer bit explicitly)
MIN_NORMAL_EXPONENT = -16382
MAX_EXPONENT = 16383        # the largest finite value is just below 2**16384
SMALLEST_EXPONENT = MIN_NORMAL_EXPONENT - (PRECISION - 1)  # subnormal spacing, 2**-16445
OVERFLOW_THRESHOLD = 2 ** (MAX_EXPONENT + 1)

MAX_CHARS = 5 * 1024        # MAX_LONG_DOUBLE_CHARS: string2ld refuses longer input

# strtold's syntax, which Redis requires to cover the whole string (no spaces, no
# trailing garbage). NaN is left out because Redis refuses it anyway.
_DECIMAL = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?")
_HEX = re.compile(r"([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?(?:[pP]([+-]?[0-9]+))?")
_INFINITY = re.compile(r"([+-]?)(?:inf|infinity)", re.IGNORECASE)

# Python refuses to convert between int and str beyond 4300 decimal digits, a guard
# against slow quadratic conversion. A 5 KB input, or the 4933-digit integer part of
# the largest long double, is longer, so such numbers are converted in chunks.
_CHUNK_DIGITS = 4000
# Exponents are clamped to this many powers (of 10 or of 2), see _clamped_exponent.
_EXPONENT_CLAMP = 50_000

LongDouble = Fraction | float
"""A finite value is a Fraction; infinities and NaN are the floats inf, -inf, nan."""

ZERO = Fraction(0)


def parse(data: bytes) -> LongDouble | None:
    """Redis's string2ld: the long double `data` spells, or None if Redis refuses it.

    Refused: empty or too long input, leading whitespace, anything strtold does not
    consume (trailing garbage, spaces, NUL bytes), NaN, and numbers that overflow to
    infinity or underflow to zero (strtold's ERANGE). The literals "inf" and
    "infinity" are accepted, as strtold returns them without ERANGE.
    """
    if not 0 < len(data) < MAX_CHARS:
        return None
    text = data.decode("latin-1")
    if match := _INFINITY.fullmatch(text):
        return -math.inf if match[1] == "-" else math.inf
    if match := _HEX.fullmatch(text):
        exact = _exact_value(match, base=16)
    elif match := _DECIMAL.fullmatch(text):
        exact = _exact_value(match, base=10)
    else:
        return None
    if exact is None:
        return None
    value = round_to_long_double(exact)
    if not is_finite(value) or (value == 0 and exact != 0):
        return None  # ERANGE: overflow or underflow
    return value


def add(a: LongDouble, b: LongDouble) -> LongDouble:
    """a + b as the FPU computes it: the exact sum rounded to the nearest long double."""
    if isinstance(a, float) or isinstance(b, float):
        # An infinity (or NaN) absorbs any finite value, and inf + -inf is NaN, so
        # only the non-finite operands matter (a huge Fraction may not fit a float).
        return (a if isinstance(a, float) else 0.0) + (b if isinstance(b, float) else 0.0)
    return round_to_long_double(a + b)


def is_finite(value: LongDouble) -> bool:
    return isinstance(value, Fraction)


def round_to_long_double(exact: Fraction) -> LongDouble:
    """The long double nearest to `exact`, ties to even; ±inf past the largest one."""
    if exact == 0:
        return ZERO
    magnitude = abs(exact)
    # Every number in [2**e, 2**(e+1)) is a multiple of 2**(e-63) (of 2**-16445 for the
    # subnormals), so rounding means counting those steps. round() on a Fraction
    # rounds half to even, like the FPU's default mode.
    exponent = max(_floor_log2(magnitude) - (PRECISION - 1), SMALLEST_EXPONENT)
    step = Fraction(2) ** exponent
    rounded = round(magnitude / step) * step
    if rounded >= OVERFLOW_THRESHOLD:
        return math.inf if exact > 0 else -math.inf
    return rounded if exact > 0 else -rounded


def format_human(value: Fraction) -> bytes:
    """ld2string's LD_STR_HUMAN: "%.17Lf", then trailing zeros (and a bare '.') removed.

    glibc prints the exact decimal expansion rounded half to even at 17 decimals.
    Anything that rounds to zero prints as "0", including "-0". The largest long
    double needs 4952 characters, so Redis's 5 KB buffer always suffices.
    """
    scaled = round(abs(value) * 10**17)
    if scaled == 0:
        return b"0"
    whole, fraction = divmod(scaled, 10**17)
    decimals = f"{fraction:017d}".rstrip("0")
    text = ("-" if value < 0 else "") + _int_to_decimal(whole) + ("." + decimals if decimals else "")
    return text.encode()


# --------------------------------------------------------------------------- helpers

def _exact_value(match: re.Match, base: int) -> Fraction | None:
    """The exact number a decimal or hex match spells; None if it has no digits.

    The exponent counts powers of ten in decimal input and powers of two ("p") in hex
    input, where each digit after the point is worth four bits.
    """
    sign, whole, fraction, exponent = match[1], match[2], match[3] or "", match[4]
    if not whole and not fraction:
        return None  # "." or "0x": strtold stops before the point or the 'x'
    radix, weight = (10, 1) if base == 10 else (2, 4)
    power = _clamped_exponent(exponent) - len(fraction) * weight
    magnitude = _int_from_digits(whole + fraction, base) * Fraction(radix) ** power
    return -magnitude if sign == "-" else magnitude


def _clamped_exponent(text: str | None) -> int:
    """The exponent's value, clamped so that "1e999999999999" stays cheap to compute.

    Even with a 5 KB mantissa, a number whose exponent is beyond the clamp is far out
    of the long double range, and still is after clamping: it overflows or underflows
    just the same.
    """
    if not text:
        return 0
    digits = text.lstrip("+-").lstrip("0") or "0"
    # Six digits or more is at least 100000, past the clamp (and too long for int()
    # to be cheap if there are thousands of them).
    value = _EXPONENT_CLAMP if len(digits) > 5 else min(int(digits), _EXPONENT_CLAMP)
    return -value if text[0] == "-" else value


def _int_from_digits(digits: str, base: int) -> int:
    value = 0
    for start in range(0, len(digits), _CHUNK_DIGITS):
        chunk = digits[start:start + _CHUNK_DIGITS]
        value = value * base ** len(chunk) + int(chunk, base)
    return value


def _int_to_decimal(number: int) -> str:
    chunks = []
    while number >= 10**_CHUNK_DIGITS:
        number, low = divmod(number, 10**_CHUNK_DIGITS)
        chunks.append(f"{low:0{_CHUNK_DIGITS}d}")
    chunks.append(str(number))
    return "".join(reversed(chunks))


def _floor_log2(magnitude: Fraction) -> int:
    """The e with 2**e <= magnitude < 2**(e+1), for a positive Fraction."""
    num, den = magnitude.numerator, magnitude.denominator
    e = num.bit_length() - den.bit_length()
    # Now 2**(e-1) < magnitude < 2**(e+1); one comparison settles which half.
    return e if (num << max(-e, 0)) >= (den << max(e, 0)) else e - 1
