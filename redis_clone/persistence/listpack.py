"""Listpack: Redis 7's compact encoding for small lists, hashes, sorted sets (and sets in 7.2).

A listpack is one flat byte array holding a sequence of strings and integers. Redis
uses it for small collections because a few hundred bytes searched linearly beat a
hash table of pointers on memory, and on speed too at that size. An RDB file stores
it verbatim, as one string, so the reader and writer here speak it byte for byte:

    <total bytes: u32 LE> <element count: u16 LE, 65535 = "count them">
    <entry> <entry> ... 0xFF

Each entry is an encoding byte (with data), then a *back-length*, the size of the
encoding+data, so the listpack can also be walked backwards from the end:

    0xxxxxxx                     integer 0..127
    10LLLLLL <bytes>             string of up to 63 bytes
    110xxxxx xxxxxxxx            13-bit signed integer
    1110LLLL LLLLLLLL <bytes>    string of up to 4095 bytes
    11110000 <u32 LE len> <bytes> longer string
    11110001..11110100 <int>     16, 24, 32 or 64-bit little-endian signed integer

The back-length is 1 to 5 bytes of 7 bits each, most significant first when read
backwards; walking forwards we only need its size, which follows from the entry's size.
A string that spells an integer exactly ("42", not "042") is stored as an integer,
so integers read back as the decimal strings they came from.
"""

from __future__ import annotations

from typing import Iterable

from redis_clone.persistence.rdb import string_to_int64

HEADER_SIZE = 6
END = 0xFF
UNKNOWN_COUNT = 65535


class ListpackError(ValueError):
    """Malformed listpack bytes."""


def backlen_size(entry_size: int) -> int:
    if entry_size <= 127:
        return 1
    if entry_size < 16383:
        return 2
    if entry_size < 2097151:
        return 3
    if entry_size < 268435455:
        return 4
    return 5


def _backlen(entry_size: int) -> bytes:
    """The back-length bytes, as they sit after the entry (lpEncodeBacklen)."""
    size = backlen_size(entry_size)
    groups = [(entry_size >> (7 * i)) & 127 for i in range(size)]  # least significant first
    # Stored most significant group first; every group but that one has the high bit
    # set, which tells a backwards reader there is more to come.
    return bytes([groups[-1]] + [group | 128 for group in reversed(groups[:-1])])


def entry(item: bytes) -> bytes:
    """One element as it sits in a listpack: encoding and data, then the back-length."""
    encoded = _encoding(item)
    return encoded + _backlen(len(encoded))


def _encoding(item: bytes) -> bytes:
    value = string_to_int64(item)
    if value is not None:
        if 0 <= value <= 127:
            return bytes((value,))
        if -4096 <= value <= 4095:
            value &= 0x1FFF
            return bytes((0xC0 | value >> 8, value & 0xFF))
        for code, width in ((0xF1, 2), (0xF2, 3), (0xF3, 4), (0xF4, 8)):
            if -(1 << (8 * width - 1)) <= value < 1 << (8 * width - 1):
                return bytes((code,)) + value.to_bytes(width, "little", signed=True)
    size = len(item)
    if size < 64:
        return bytes((0x80 | size,)) + item
    if size < 4096:
        return bytes((0xE0 | size >> 8, size & 0xFF)) + item
    return b"\xf0" + size.to_bytes(4, "little") + item


def join(entries: list[bytes]) -> bytes:
    """A listpack around entries made by `entry()`."""
    total = HEADER_SIZE + sum(map(len, entries)) + 1
    return (total.to_bytes(4, "little") + min(len(entries), UNKNOWN_COUNT).to_bytes(2, "little")
            + b"".join(entries) + bytes((END,)))


def encode(items: Iterable[bytes]) -> bytes:
    """A listpack holding `items` in order."""
    return join([entry(item) for item in items])


# Fixed-width integer entries: encoding byte -> data width in bytes.
_INT_WIDTHS = {0xF1: 2, 0xF2: 3, 0xF3: 4, 0xF4: 8}


def decode(blob: bytes) -> list[bytes]:
    """The elements of a listpack, integers as their decimal strings."""
    size = len(blob)
    if size < HEADER_SIZE + 1 or int.from_bytes(blob[:4], "little") != size:
        raise ListpackError("listpack header size does not match its length")
    if blob[-1] != END:
        raise ListpackError("listpack has no end marker")
    declared = int.from_bytes(blob[4:6], "little")
    items: list[bytes] = []
    pos, last = HEADER_SIZE, size - 1
    while pos < last:
        code = blob[pos]
        if code < 0x80:                                 # 7-bit unsigned integer
            item, width = b"%d" % code, 1
        elif code < 0xC0:                               # short string
            length = code & 0x3F
            item, width = blob[pos + 1:pos + 1 + length], 1 + length
        elif code < 0xE0:                               # 13-bit signed integer
            value = (code & 0x1F) << 8 | blob[pos + 1]
            item, width = b"%d" % (value - 8192 if value >= 4096 else value), 2
        elif code < 0xF0:                               # 12-bit length string
            length = (code & 0x0F) << 8 | blob[pos + 1]
            item, width = blob[pos + 2:pos + 2 + length], 2 + length
        elif code == 0xF0:                              # 32-bit length string
            length = int.from_bytes(blob[pos + 1:pos + 5], "little")
            item, width = blob[pos + 5:pos + 5 + length], 5 + length
        elif code in _INT_WIDTHS:
            data_width = _INT_WIDTHS[code]
            value = int.from_bytes(blob[pos + 1:pos + 1 + data_width], "little", signed=True)
            item, width = b"%d" % value, 1 + data_width
        else:
            raise ListpackError(f"unknown listpack entry encoding 0x{code:02x} at byte {pos}")
        pos += width + backlen_size(width)
        if pos > last:
            raise ListpackError("listpack entry runs past the end of the listpack")
        items.append(item)
    if declared != UNKNOWN_COUNT and declared != len(items):
        raise ListpackError(f"listpack header says {declared} elements, found {len(items)}")
    return items
