"""Decoding command arguments, with the exact error Redis gives for each bad one.

Arguments arrive as bytes. Numbers are parsed with Redis's own rules (string2ll is
stricter than Python's int(): no spaces, no '+', no leading zeros), and a bad value
raises the RedisError the real server would send, so handlers stay short:

    count = parse_int(args[1])          # -ERR value is not an integer or out of range
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

from common.resp import parse_int64
from redis_clone import errors
from redis_clone.errors import RedisError


def parse_int(arg: bytes, error: str = errors.NOT_INTEGER) -> int:
    """A signed 64-bit integer in Redis's strict syntax (string2ll)."""
    value = parse_int64(arg)
    if value is None:
        raise RedisError(error)
    return value


def parse_int_in_range(arg: bytes, low: int, high: int) -> int:
    """An integer that must lie in [low, high] (getRangeLongFromObjectOrReply): a bad
    number gets NOT_INTEGER, a good one outside the range an error naming the range."""
    value = parse_int(arg)
    if not low <= value <= high:
        raise RedisError(errors.value_out_of_range(low, high))
    return value


def parse_int_at_least(arg: bytes, low: int, error: str) -> int:
    """An integer >= low, where a bad number and a too small one get the same `error`
    (getRangeLongFromObjectOrReply given a message: LPOP's count, numkeys, COUNT...)."""
    value = parse_int(arg, error)
    if value < low:
        raise RedisError(error)
    return value


def parse_mpop(args: list[bytes], ends: tuple[str, str]) -> tuple[list[bytes], str, int]:
    """`numkeys key [key ...] <end> [COUNT count]`, the tail LMPOP and ZMPOP share (and
    their blocking forms, after the timeout): `ends` names the two words allowed for
    the end to pop from ("LEFT", "RIGHT" or "MIN", "MAX"). Returns (keys, end, count),
    with `end` uppercased and count 1 when not given. COUNT twice is a syntax error."""
    numkeys = parse_int_at_least(args[0], 1, errors.NUMKEYS_NOT_POSITIVE)
    where = numkeys + 1
    if where >= len(args) or keyword(args[where]) not in ends:
        raise RedisError(errors.SYNTAX)  # no room left for the end word, or a wrong one
    count = None
    i = where + 1
    while i < len(args):
        if count is None and keyword(args[i]) == "COUNT" and i + 1 < len(args):
            count = parse_int_at_least(args[i + 1], 1, errors.COUNT_NOT_POSITIVE)
            i += 2
        else:
            raise RedisError(errors.SYNTAX)
    return args[1:where], keyword(args[where]), count or 1


def clamp_range(start: int, stop: int, length: int) -> tuple[int, int] | None:
    """The index-range rule of LRANGE, LTRIM, ZRANGE and ZREMRANGEBYRANK: inclusive
    ends, negative ones counting from the end, out-of-range ones clamped to the value.
    Returns the 0-based (first, last), or None when the range is empty."""
    if start < 0:
        start += length
    if stop < 0:
        stop += length
    start = max(start, 0)
    if start > stop or start >= length:
        return None
    return start, min(stop, length - 1)


def parse_float(arg: bytes, error: str = errors.NOT_FLOAT) -> float:
    """A double as Redis's getDoubleFromObject (string2d): the whole argument must be a
    strtod number, with no leading space, that neither overflows nor underflows to zero.

    "inf", "-inf" and "+inf" are accepted (sorted sets use them); "nan" is not.
    """
    number = strtod(arg)
    if (not arg or arg[0] in C_SPACE or number.length != len(arg) or number.out_of_range
            or math.isnan(number.value)):
        raise RedisError(error)
    return number.value


class Strtod(NamedTuple):
    value: float
    length: int         # bytes consumed, leading whitespace included; 0: no number at all
    out_of_range: bool  # strtod's ERANGE: overflowed to inf, or underflowed to zero


C_SPACE = b" \t\n\v\f\r"  # C's isspace() in the "C" locale

# What glibc's strtod() reads after leading whitespace: a hex or decimal number, or
# inf/infinity/nan in any case. The first alternative that matches wins, so "0x" alone
# reads as the decimal "0", as in C.
_STRTOD = re.compile(rb"""[+-]?(?:
      0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?
    | (?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?
    | [iI][nN][fF](?:[iI][nN][iI][tT][yY])?
    | [nN][aA][nN](?:\([0-9A-Za-z_]*\))?
)""", re.VERBOSE)


def strtod(data: bytes) -> Strtod:
    """C's strtod() on `data`: the longest number at its start, as Redis sees it.

    Redis passes C strings, so a NUL byte ends the text; callers decide whether the
    rest of the argument had to be consumed too.
    """
    text = data.split(b"\0", 1)[0]
    start = len(text) - len(text.lstrip(C_SPACE))
    match = _STRTOD.match(text, start)
    if match is None:
        return Strtod(0.0, 0, False)  # no conversion: strtod points back at the start
    literal = match.group()
    negative = literal.startswith(b"-")
    body = literal.lstrip(b"+-").lower()
    if body.startswith((b"inf", b"nan")):
        value = math.inf if body[0] == ord("i") else math.nan
        return Strtod(-value if negative else value, match.end(), False)
    if body.startswith(b"0x"):
        try:
            value = float.fromhex(literal.decode())
        except OverflowError:
            value = -math.inf if negative else math.inf
        mantissa = body[2:].split(b"p")[0]
    else:
        value = float(literal)
        mantissa = body.split(b"e")[0]
    out_of_range = math.isinf(value) or (value == 0 and mantissa.strip(b"0.") != b"")
    return Strtod(value, match.end(), out_of_range)


def keyword(arg: bytes) -> str:
    """An option name, for case-insensitive comparison: b'nx' -> 'NX'."""
    return arg.decode("latin-1").upper()
