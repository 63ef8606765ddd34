"""CRC-64 as Redis computes it over an RDB file (Jones polynomial, reflected).

An RDB file ends with the CRC-64 of every byte before it, so that a flipped bit or a
torn write is caught at load time instead of being loaded as wrong data. Redis uses
the "Jones" parameters: polynomial 0xad93d23594c935a9, reflected input and output,
initial value 0 and no final XOR. Its check value is crc64(b"123456789") ==
0xe9c6d914c4b8d9ca (Redis's own self-test).

"Reflected" means bits are processed least significant first, so the register shifts
*right* and the polynomial is used bit-reversed (0x95ac9329ac4bc9b5). Bit by bit:

    crc ^= byte; repeat 8 times: crc = (crc >> 1) ^ (POLY if crc & 1 else 0)

A 256-entry table does those 8 steps for one byte in a single lookup. Pure Python pays
a lot per loop iteration, so we go one step further, "slicing-by-8" (Intel's trick):
table k gives the effect of byte value v followed by k zero bytes, so one iteration
folds a whole 64-bit word with 8 lookups, and `int.to_bytes` splits the register into
its 8 bytes in one call instead of 8 shifts and masks. Measured on the project's
machine: about 23 MB/s, against 12 MB/s for the byte-at-a-time loop (C does several
GB/s). That is ~1 s for the checksum of a dump of a million small keys;
`rdbchecksum no` skips it.
"""

from __future__ import annotations

import struct

POLY_REFLECTED = 0x95AC9329AC4BC9B5  # 0xad93d23594c935a9 with its 64 bits reversed


def _byte_table() -> list[int]:
    table = []
    for value in range(256):
        crc = value
        for _ in range(8):
            crc = (crc >> 1) ^ POLY_REFLECTED if crc & 1 else crc >> 1
        table.append(crc)
    return table


def _slicing_tables(base: list[int]) -> tuple[list[int], ...]:
    """tables[k][v]: the CRC register after byte v and then k zero bytes."""
    tables = [base]
    for _ in range(7):
        tables.append([base[crc & 0xFF] ^ (crc >> 8) for crc in tables[-1]])
    return tuple(tables)


TABLE = _byte_table()
_T0, _T1, _T2, _T3, _T4, _T5, _T6, _T7 = _slicing_tables(TABLE)
_WORDS = struct.Struct("<Q")  # little-endian: the first byte of the stream in the low bits


def _bytewise(crc: int, data) -> int:
    table = TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc


def crc64(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """The CRC of `data`, continuing from `crc` (the CRC of whatever came before it),
    so a file can be checksummed chunk by chunk as it is written or read."""
    view = memoryview(data).cast("B")
    whole = len(view) - len(view) % 8
    t0, t1, t2, t3, t4, t5, t6, t7 = _T0, _T1, _T2, _T3, _T4, _T5, _T6, _T7
    for (word,) in _WORDS.iter_unpack(view[:whole]):
        b0, b1, b2, b3, b4, b5, b6, b7 = (crc ^ word).to_bytes(8, "little")
        crc = (t7[b0] ^ t6[b1] ^ t5[b2] ^ t4[b3] ^ t3[b4] ^ t2[b5] ^ t1[b6] ^ t0[b7])
    return _bytewise(crc, view[whole:])
