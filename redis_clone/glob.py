"""Glob-style patterns, as KEYS, SCAN MATCH and CONFIG GET match them (Redis's stringmatchlen).

Syntax: `*` any run of bytes, `?` one byte, `[abc]` `[^abc]` `[a-z]` one byte from (or
not from) a set, `\\x` the byte x itself. Redis's quirks are kept on purpose, because
KEYS must return what real Redis returns: a reversed range `[z-a]` means `[a-z]`, a `[`
with no closing `]` runs to the end of the pattern, a lone trailing `\\` is a literal,
the empty string matches only the empty pattern (even `**` does not match it), and a
pattern whose star nesting passes 1000 matches nothing (Redis's guard against abusive
patterns; see `STAR_NESTING_LIMIT`).

Redis matches by recursing at every `*`. We compile the pattern once instead: every
element except `*` matches exactly one byte, so a pattern is fixed-width *segments*
separated by stars, and taking the leftmost place where each segment fits is always
safe. That is a few regex searches per key, never exponential backtracking.
"""

from __future__ import annotations

import re

STAR, QUESTION, OPEN, CLOSE, BACKSLASH, DASH, CARET = b"*?[]\\-^"

STAR_NESTING_LIMIT = 1000
"""Redis recurses once per `*` and answers "no match" beyond this depth. Any match has
to get past every star, so a pattern with more stars than this never matches anything;
a star that ends the pattern matches the rest without recursing, so it does not count."""

ByteSet = frozenset  # the byte values (0-255) one pattern element matches
ANY_BYTE: ByteSet = frozenset(range(256))


class Pattern:
    """A compiled glob pattern: `Pattern(b"user:*").matches(b"user:42")`."""

    def __init__(self, pattern: bytes, nocase: bool = False) -> None:
        self.pattern = pattern
        elements = _parse(pattern, nocase)
        # Runs of elements between stars; a pattern without stars is one segment.
        segments: list[list[ByteSet]] = [[]]
        for element in elements:
            if element is None:
                segments.append([])
            else:
                segments[-1].append(element)
        self._stars = len(segments) - 1
        trailing_star = bool(elements) and elements[-1] is None
        self._impossible = self._stars - trailing_star > STAR_NESTING_LIMIT
        self._widths = [len(segment) for segment in segments]
        self._regexes = [] if self._impossible else [_segment_regex(s) for s in segments]

    def matches(self, string: bytes) -> bool:
        if not string:
            # stringmatchlen's main loop needs a byte to look at, so nothing runs.
            return not self.pattern
        if self._impossible:
            return False
        regexes, widths = self._regexes, self._widths
        if not self._stars:
            return regexes[0].fullmatch(string) is not None
        # The first segment is anchored at the start and the last at the end...
        if regexes[0].match(string) is None:
            return False
        start, end = widths[0], len(string) - widths[-1]
        if end < start:
            return False
        # ...and each middle one goes at its leftmost fit: a later fit leaves less
        # room for the segments after it and never helps.
        for regex in regexes[1:-1]:
            found = regex.search(string, start, end)
            if found is None:
                return False
            start = found.end()
        return regexes[-1].fullmatch(string, end) is not None


def match(pattern: bytes, string: bytes, nocase: bool = False) -> bool:
    """One-off match; compile a `Pattern` instead when testing many strings."""
    return Pattern(pattern, nocase).matches(string)


def _parse(pattern: bytes, nocase: bool) -> list[ByteSet | None]:
    """The pattern's elements in order: a ByteSet per single-byte element, None per run
    of stars. Walks the pattern exactly as stringmatchlen does, quirks included."""
    elements: list[ByteSet | None] = []
    i, n = 0, len(pattern)
    while i < n:
        byte = pattern[i]
        if byte == STAR:
            if not elements or elements[-1] is not None:  # "**" is the same as "*"
                elements.append(None)
            i += 1
        elif byte == QUESTION:
            elements.append(ANY_BYTE)
            i += 1
        elif byte == OPEN:
            element, i = _parse_class(pattern, i + 1, nocase)
            elements.append(element)
        else:
            if byte == BACKSLASH and i + 1 < n:
                i += 1
            elements.append(_literal(pattern[i], nocase))
            i += 1
    return elements


def _parse_class(pattern: bytes, i: int, nocase: bool) -> tuple[ByteSet, int]:
    """A `[...]` class starting at pattern[i] (just after the '['); returns the set
    and the index after it. An unterminated class takes the rest of the pattern."""
    n = len(pattern)
    negate = i < n and pattern[i] == CARET
    if negate:
        i += 1
    members: set[int] = set()
    while i < n and pattern[i] != CLOSE:
        if pattern[i] == BACKSLASH and i + 1 < n:
            members.add(pattern[i + 1])  # escaped: compared exactly, even with nocase
            i += 2
        elif i + 2 < n and pattern[i + 1] == DASH:
            # The range's end may be ']' or '\': "[a-]" is a range, and the class goes on.
            members.update(_range(pattern[i], pattern[i + 2], nocase))
            i += 3
        else:
            members.update(_literal(pattern[i], nocase))
            i += 1
    element = ANY_BYTE - members if negate else frozenset(members)
    return element, min(i + 1, n)  # past the ']', if there was one


def _literal(byte: int, nocase: bool) -> ByteSet:
    if nocase and chr(byte).isascii() and chr(byte).isalpha():
        return frozenset((byte, ord(chr(byte).swapcase())))
    return frozenset((byte,))


def _range(first: int, last: int, nocase: bool) -> ByteSet:
    """Redis compares C `char`s, which are signed: bytes 0x80-0xFF sort *before* 0x00,
    so "[\\x00-\\xff]" is the two-byte range 0xFF..0x00. nocase lowers the ends after
    putting them in order, as Redis does."""
    low, high = sorted((_signed(first), _signed(last)))
    if nocase:
        low, high = _lower(low), _lower(high)
    return frozenset(b for b in range(256)
                     if low <= (_lower(_signed(b)) if nocase else _signed(b)) <= high)


def _signed(byte: int) -> int:
    return byte - 256 if byte >= 0x80 else byte


def _lower(c: int) -> int:
    """C tolower() in the "C" locale: only A-Z change."""
    return c + 32 if 0x41 <= c <= 0x5A else c


def _segment_regex(segment: list[ByteSet]) -> re.Pattern[bytes]:
    """A regex for a fixed-width run of elements: one character class per element."""
    return re.compile(b"".join(_byte_class(element) for element in segment))


def _byte_class(element: ByteSet) -> bytes:
    if not element:
        return rb"(?!)"  # the empty class "[]" matches no byte at all
    ranges, run_start, previous = [], None, None
    for byte in sorted(element):
        if byte - 1 != previous:
            if run_start is not None:
                ranges.append((run_start, previous))
            run_start = byte
        previous = byte
    ranges.append((run_start, previous))
    body = b"".join(rb"\x%02x-\x%02x" % pair if pair[0] != pair[1] else rb"\x%02x" % pair[0]
                    for pair in ranges)
    return b"[" + body + b"]"
