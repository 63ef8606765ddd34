"""Decoding command arguments, with the exact error Redis gives for each bad one.

Arguments arrive as bytes. Numbers are parsed with Redis's own rules (string2ll is
stricter than Python's int(): no spaces, no '+', no leading zeros), and a bad value
raises the RedisError the real server would send, so handlers stay short:

    count = parse_int(args[1])          # -ERR value is not an integer or out of range
"""

from __future__ import annotations

import math

from common.resp import parse_int64
from redis_clone import errors
from redis_clone.errors import RedisError


def parse_int(arg: bytes, error: str = errors.NOT_INTEGER) -> int:
    """A signed 64-bit integer in Redis's strict syntax (string2ll)."""
    value = parse_int64(arg)
    if value is None:
        raise RedisError(error)
    return value


def parse_float(arg: bytes, error: str = errors.NOT_FLOAT) -> float:
    """A double as Redis's getDoubleFromObject: strtod syntax, no spaces, no NaN.

    "inf", "-inf" and "+inf" are accepted (sorted sets use them); "nan" is not.
    """
    text = arg.decode("latin-1")
    if not text or text[0].isspace() or text[-1].isspace() or "_" in text:
        raise RedisError(error)
    try:
        value = float(text)
    except ValueError:
        value = _parse_c_hex_float(text)
        if value is None:
            raise RedisError(error) from None
    if math.isnan(value):
        raise RedisError(error)
    return value


def _parse_c_hex_float(text: str) -> float | None:
    """strtod also reads C99 hex floats ("0x1p3"); Python's float() does not."""
    try:
        return float.fromhex(text) if "0x" in text.lower() else None
    except (ValueError, OverflowError):
        return None


def keyword(arg: bytes) -> str:
    """An option name, for case-insensitive comparison: b'nx' -> 'NX'."""
    return arg.decode("latin-1").upper()
