"""Intset: Redis's encoding for a small set of integers, a sorted array of fixed-width ints.

A set whose members all spell 64-bit integers, and that has at most
`set-max-intset-entries` (512) of them, lives in Redis as an intset:

    <encoding: u32 LE = 2, 4 or 8>  <count: u32 LE>  <count integers of that width, LE>

The integers are sorted, so membership is a binary search, and every one uses the width
the largest needs (adding 70000 to a set of int16s "upgrades" the whole array to int32).
An RDB file stores the intset verbatim as one string (type SET_INTSET).
"""

from __future__ import annotations

from typing import Iterable

HEADER_SIZE = 8
WIDTHS = (2, 4, 8)


class IntsetError(ValueError):
    """Malformed intset bytes."""


def encode(values: Iterable[int]) -> bytes:
    ordered = sorted(set(values))
    width = next(w for w in WIDTHS
                 if all(-(1 << (8 * w - 1)) <= v < 1 << (8 * w - 1) for v in ordered))
    body = b"".join(v.to_bytes(width, "little", signed=True) for v in ordered)
    return width.to_bytes(4, "little") + len(ordered).to_bytes(4, "little") + body


def decode(blob: bytes) -> list[int]:
    if len(blob) < HEADER_SIZE:
        raise IntsetError("intset shorter than its header")
    width = int.from_bytes(blob[:4], "little")
    count = int.from_bytes(blob[4:8], "little")
    if width not in WIDTHS:
        raise IntsetError(f"intset has an invalid integer width {width}")
    if HEADER_SIZE + width * count != len(blob):
        raise IntsetError(f"intset of {count} integers of {width} bytes cannot be {len(blob)} bytes")
    return [int.from_bytes(blob[i:i + width], "little", signed=True)
            for i in range(HEADER_SIZE, len(blob), width)]
