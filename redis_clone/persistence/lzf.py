"""LZF, the small and fast compressor Redis uses for strings inside RDB files.

LZF (Marc Lehmann's liblzf) is an LZ77 variant: the output is a sequence of
instructions, each introduced by a control byte, that rebuild the input from
literal bytes and from copies of bytes already produced:

    000LLLLL  <L+1 literal bytes>          literal run of 1..32 bytes
    LLLOOOOO  OOOOOOOO                     back reference, L in 1..6:
                                           copy L+2 bytes from `offset+1` bytes back
    111OOOOO  LLLLLLLL  OOOOOOOO           back reference with a length byte:
                                           copy 7+LLLLLLLL+2 bytes (up to 264)

Offsets are 13 bits, so a reference reaches at most 8 KiB back. A copy may overlap
the bytes it produces ("abcabcabc..." is a 3-byte literal plus one long copy of
offset 3), which is how LZF encodes runs.

Redis compresses a string when `rdbcompression` is on and it is longer than 20 bytes,
and keeps the result only if it saves at least 4 bytes. The RDB stores it as
`0xC3 <compressed length> <original length> <compressed bytes>`.

The compressor here is greedy like liblzf's: a hash table (a dict keyed by the next
three bytes) remembers where each 3-byte sequence was last seen; a match of 3 or more
bytes within reach becomes a back reference. It does not produce byte-identical output
to liblzf (no decompressor cares), only valid LZF.
"""

from __future__ import annotations

MAX_LITERAL = 32        # 1 << 5: a literal run's length fits the control byte's 5 bits
MAX_OFFSET = 8191       # 13 bits of offset, stored minus one
MIN_MATCH = 3           # a 2-byte reference would save nothing
MAX_MATCH = 264         # 2 + 7 + 255


class LZFError(ValueError):
    """The compressed data is not valid LZF, or does not expand to the expected size."""


def compress(data: bytes, limit: int | None = None) -> bytes | None:
    """The LZF encoding of `data`, or None if it would be longer than `limit` bytes
    (liblzf's out_len: Redis asks for at least 4 bytes saved and stores the string
    uncompressed otherwise)."""
    limit = len(data) + len(data) // 32 + 1 if limit is None else limit
    out = bytearray()
    seen: dict[bytes, int] = {}
    literal_start = 0  # where the pending, not yet written literal bytes begin
    pos, end = 0, len(data)
    while pos + MIN_MATCH <= end:
        triple = data[pos:pos + MIN_MATCH]
        ref = seen.get(triple)
        seen[triple] = pos
        if ref is None or pos - ref - 1 > MAX_OFFSET:
            pos += 1
            continue
        length = MIN_MATCH
        longest = min(MAX_MATCH, end - pos)
        while length < longest and data[ref + length] == data[pos + length]:
            length += 1
        _literals(out, data, literal_start, pos)
        offset = pos - ref - 1
        code = length - 2
        if code < 7:
            out += bytes(((code << 5) | (offset >> 8), offset & 0xFF))
        else:
            out += bytes(((7 << 5) | (offset >> 8), code - 7, offset & 0xFF))
        # Remember the sequences inside the match too, as liblzf does for the last
        # two positions: later data often repeats from inside a repeat.
        for inner in range(pos + 1, min(pos + length, end - MIN_MATCH + 1)):
            seen[data[inner:inner + MIN_MATCH]] = inner
        pos += length
        literal_start = pos
        if len(out) > limit:
            return None
    _literals(out, data, literal_start, end)
    return bytes(out) if len(out) <= limit else None


def _literals(out: bytearray, data: bytes, start: int, stop: int) -> None:
    """Append data[start:stop] as literal runs of at most 32 bytes."""
    for run in range(start, stop, MAX_LITERAL):
        chunk = data[run:min(run + MAX_LITERAL, stop)]
        out.append(len(chunk) - 1)
        out += chunk


def decompress(data: bytes, expected_length: int) -> bytes:
    """Expand LZF `data`; it must produce exactly `expected_length` bytes."""
    out = bytearray()
    pos, end = 0, len(data)
    try:
        while pos < end:
            control = data[pos]
            pos += 1
            if control < 32:  # literal run
                run = control + 1
                if pos + run > end:
                    raise LZFError("literal run past the end of the compressed data")
                out += data[pos:pos + run]
                pos += run
                continue
            length = control >> 5
            if length == 7:
                length += data[pos]
                pos += 1
            back = ((control & 0x1F) << 8 | data[pos]) + 1
            pos += 1
            length += 2
            start = len(out) - back
            if start < 0:
                raise LZFError("back reference before the start of the data")
            if back >= length:
                out += out[start:start + length]
            else:  # overlapping copy: the last `back` bytes repeat
                pattern = out[start:]
                out += (pattern * (length // back + 1))[:length]
    except IndexError:
        raise LZFError("compressed data ends in the middle of an instruction") from None
    if len(out) != expected_length:
        raise LZFError(f"expands to {len(out)} bytes, expected {expected_length}")
    return bytes(out)
