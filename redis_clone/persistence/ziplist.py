"""Ziplist and zipmap: the compact encodings of Redis before 7.0, read-only here.

Redis 7.0 replaced the ziplist with the listpack, but still *loads* RDB files from
older versions, whose small lists, hashes and sorted sets are ziplists (and, before
2.6, whose small hashes are zipmaps). We read them the same way; we never write them.

Ziplist: `<total bytes u32 LE> <offset of last entry u32 LE> <count u16 LE>` entries
`0xFF`. Each entry starts with the previous entry's length (1 byte, or 0xFE + u32 LE)
so it can be walked backwards, then an encoding:

    00LLLLLL / 01LLLLLL LLLLLLLL / 10000000 <u32 BE>   string of that length
    11000000 int16, 11010000 int32, 11100000 int64, 11110000 int24, 11111110 int8 (LE)
    1111xxxx (xxxx = 0001..1101)                       the integer xxxx - 1, i.e. 0..12

Zipmap: `<count u8>` then per pair `<len> field <len> <free u8> value <free bytes>`,
where `<len>` is one byte, or 254 followed by a u32 LE; 0xFF ends it.
"""

from __future__ import annotations

HEADER_SIZE = 10
END = 0xFF

# Integer encodings: byte -> width of the little-endian data that follows.
_INT_WIDTHS = {0xC0: 2, 0xD0: 4, 0xE0: 8, 0xF0: 3, 0xFE: 1}


class ZiplistError(ValueError):
    """Malformed ziplist or zipmap bytes."""


def decode(blob: bytes) -> list[bytes]:
    """The elements of a ziplist, integers as their decimal strings."""
    if len(blob) < HEADER_SIZE + 1 or int.from_bytes(blob[:4], "little") != len(blob):
        raise ZiplistError("ziplist header size does not match its length")
    items: list[bytes] = []
    pos = HEADER_SIZE
    try:
        while blob[pos] != END:
            pos += 5 if blob[pos] == 0xFE else 1       # previous entry's length
            code = blob[pos]
            kind = code >> 6
            if kind == 0:
                length, pos = code & 0x3F, pos + 1
            elif kind == 1:
                length, pos = (code & 0x3F) << 8 | blob[pos + 1], pos + 2
            elif kind == 2:
                length, pos = int.from_bytes(blob[pos + 1:pos + 5], "big"), pos + 5
            elif code in _INT_WIDTHS:
                width = _INT_WIDTHS[code]
                items.append(b"%d" % int.from_bytes(blob[pos + 1:pos + 1 + width], "little",
                                                    signed=True))
                pos += 1 + width
                continue
            elif 0xF1 <= code <= 0xFD:
                items.append(b"%d" % ((code & 0x0F) - 1))
                pos += 1
                continue
            else:
                raise ZiplistError(f"unknown ziplist entry encoding 0x{code:02x} at byte {pos}")
            if pos + length > len(blob):
                raise ZiplistError("entry runs past the end of the ziplist")
            items.append(blob[pos:pos + length])
            pos += length
    except IndexError:
        raise ZiplistError("ziplist ends without its end marker") from None
    declared = int.from_bytes(blob[8:10], "little")
    if declared != 65535 and declared != len(items):
        raise ZiplistError(f"ziplist header says {declared} elements, found {len(items)}")
    return items


def decode_zipmap(blob: bytes) -> list[bytes]:
    """A zipmap's fields and values, alternating."""
    items: list[bytes] = []
    pos = 1  # the count byte is only a hint (254 means "count them")
    try:
        while blob[pos] != END:
            for is_value in (False, True):
                length = blob[pos]
                if length == 254:
                    length, pos = int.from_bytes(blob[pos + 1:pos + 5], "little"), pos + 5
                else:
                    pos += 1
                free = 0
                if is_value:
                    free, pos = blob[pos], pos + 1
                if pos + length > len(blob):
                    raise ZiplistError("zipmap entry runs past its end")
                items.append(blob[pos:pos + length])
                pos += length + free
    except IndexError:
        raise ZiplistError("zipmap ends without its end marker") from None
    return items
