"""The glob matcher on its own: Redis's stringmatchlen() semantics, quirks included.

Expected results were checked against a real Redis 7.0.15 (KEYS pattern); the live
differential versions are tests/integration/corpus/keys.txt and the abusive-pattern
test in tests/integration/test_keys.py. `redis_stringmatchlen` below is a line-by-line
port of the C function, recursion and all: too slow for the server, but obviously the
same algorithm, so hypothesis can hold the compiled matcher to it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from redis_clone.glob import STAR_NESTING_LIMIT, Pattern, match


def redis_stringmatchlen(pattern: bytes, string: bytes, nocase: bool = False) -> bool:
    """stringmatchlen_impl() from Redis 7.0 util.c. Index len(pattern) reads as NUL,
    as the C code reads the string's terminator; `char` is signed, as on x86."""
    pat = pattern + b"\0"
    skip_longer_matches = False

    def lower(c: int) -> int:
        return c + 32 if 65 <= c <= 90 else c

    def signed(b: int) -> int:
        return b - 256 if b >= 128 else b

    def impl(p: int, plen: int, s: int, slen: int, nesting: int) -> bool:
        nonlocal skip_longer_matches
        if nesting > 1000:
            return False
        while plen and slen:
            c = pat[p]
            if c == ord("*"):
                while plen and pat[p + 1] == ord("*"):
                    p, plen = p + 1, plen - 1
                if plen == 1:
                    return True
                while slen:
                    if impl(p + 1, plen - 1, s, slen, nesting + 1):
                        return True
                    if skip_longer_matches:
                        return False
                    s, slen = s + 1, slen - 1
                skip_longer_matches = True
                return False
            elif c == ord("?"):
                s, slen = s + 1, slen - 1
            elif c == ord("["):
                p, plen = p + 1, plen - 1
                negate = pat[p] == ord("^")
                if negate:
                    p, plen = p + 1, plen - 1
                matched = False
                while True:
                    if pat[p] == ord("\\") and plen >= 2:
                        p, plen = p + 1, plen - 1
                        matched |= pat[p] == string[s]
                    elif pat[p] == ord("]"):
                        break
                    elif plen == 0:
                        p, plen = p - 1, plen + 1
                        break
                    elif plen >= 3 and pat[p + 1] == ord("-"):
                        start, end, ch = signed(pat[p]), signed(pat[p + 2]), signed(string[s])
                        if start > end:
                            start, end = end, start
                        if nocase:
                            start, end, ch = lower(start), lower(end), lower(ch)
                        p, plen = p + 2, plen - 2
                        matched |= start <= ch <= end
                    elif nocase:
                        matched |= lower(signed(pat[p])) == lower(signed(string[s]))
                    else:
                        matched |= pat[p] == string[s]
                    p, plen = p + 1, plen - 1
                if negate:
                    matched = not matched
                if not matched:
                    return False
                s, slen = s + 1, slen - 1
            else:
                if c == ord("\\") and plen >= 2:
                    p, plen = p + 1, plen - 1
                if nocase:
                    if lower(signed(pat[p])) != lower(signed(string[s])):
                        return False
                elif pat[p] != string[s]:
                    return False
                s, slen = s + 1, slen - 1
            p, plen = p + 1, plen - 1
            if slen == 0:
                while pat[p] == ord("*"):
                    p, plen = p + 1, plen - 1
                break
        return plen == 0 and slen == 0

    return impl(0, len(pattern), 0, len(string), 0)


# --- the syntax -----------------------------------------------------------------------

@pytest.mark.parametrize("pattern,string,expected", [
    (b"hello", b"hello", True),
    (b"hello", b"hell", False),
    (b"hello", b"helloo", False),
    (b"h?llo", b"hallo", True),
    (b"h?llo", b"hllo", False),
    (b"h*llo", b"hllo", True),
    (b"h*llo", b"heeeello", True),
    (b"h*llo", b"hellox", False),
    (b"*", b"anything", True),
    (b"a*", b"a", True),
    (b"*a", b"a", True),
    (b"a*b*c", b"aXXbYYc", True),
    (b"a*b*c", b"aXXcYYb", False),
    (b"*?*?*", b"ab", True),
    (b"*?*?*", b"a", False),
    (b"a**b", b"ab", True),
])
def test_stars_and_question_marks(pattern, string, expected):
    assert match(pattern, string) is expected


@pytest.mark.parametrize("pattern,string,expected", [
    (b"h[ae]llo", b"hallo", True),
    (b"h[ae]llo", b"hillo", False),
    (b"h[^e]llo", b"hallo", True),
    (b"h[^e]llo", b"hello", False),
    (b"h[a-c]llo", b"hbllo", True),
    (b"h[a-c]llo", b"hdllo", False),
    (b"[!a]", b"!", True),      # '!' is no negation in Redis, just a member
    (b"[!a]", b"b", False),
    (b"[]", b"]", False),       # "[]" is an empty class: it matches nothing
    (b"[]]", b"]", False),      # ...and the second ']' is a literal after it
    (b"[]]", b"]]", False),
    (b"[]]b", b"]b", False),
    (b"[^]", b"x", True),       # an empty negated class matches any byte
    (b"[-a]", b"-", True),
    (b"[a-]", b"-", False),     # "a-]" is a range from ']' to 'a', and the class goes on
    (b"[a-]", b"^", True),
    (b"[a-]", b"]", True),
])
def test_character_classes(pattern, string, expected):
    assert match(pattern, string) is expected


def matched_bytes(pattern: bytes) -> list[int]:
    """Which single bytes the pattern matches."""
    compiled = Pattern(pattern)
    return [b for b in range(256) if compiled.matches(bytes([b]))]


@pytest.mark.parametrize("reversed_range,ordered_range", [
    (b"[c-a]", b"[a-c]"),
    (b"[z-a]", b"[a-z]"),
    (b"[9-0]", b"[0-9]"),
])
def test_reversed_ranges_mean_the_same_as_ordered_ones(reversed_range, ordered_range):
    low, high = ordered_range[1], ordered_range[3]
    expected = list(range(low, high + 1))
    assert matched_bytes(reversed_range) == matched_bytes(ordered_range) == expected


def test_ranges_compare_bytes_as_signed_c_chars():
    # [\x00-\xff] is the range -1..0 in signed chars: only \xff and \x00 are in it.
    assert matched_bytes(b"[\x00-\xff]") == [0x00, 0xFF]
    assert matched_bytes(b"[\x80-\xff]") == list(range(0x80, 0x100))
    # \x7f..\x80 is 127..-128: reversed, so it covers every byte.
    assert matched_bytes(b"[\x7f-\x80]") == list(range(256))


@pytest.mark.parametrize("pattern,string,expected", [
    (rb"a\*b", b"a*b", True),
    (rb"a\*b", b"axb", False),
    (rb"a\?b", b"a?b", True),
    (rb"a\[b", b"a[b", True),
    (rb"\a", b"a", True),        # escaping an ordinary byte is harmless
    (b"a\\", b"a\\", True),      # a lone trailing backslash is a literal backslash
    (b"\\", b"\\", True),
    (rb"a[\]]b", b"a]b", True),  # inside a class too
    (rb"a[\-]b", b"a-b", True),
    (rb"a[\-]b", b"a\\b", False),
    (b"[\\", b"\\", True),       # '[' then a lone '\': an unterminated class holding '\'
    (rb"[\]", b"]", True),       # "\]" escapes the ']', so the class never closes
])
def test_backslash_escapes(pattern, string, expected):
    assert match(pattern, string) is expected


@pytest.mark.parametrize("pattern,string,expected", [
    (b"[", b"[", False),         # a bare '[' is an empty class: it matches nothing
    (b"a[", b"a", False),
    (b"[^", b"x", True),         # a bare negated class matches any one byte
    (b"[abc", b"b", True),       # the class runs to the end of the pattern
    (b"[abc", b"bc", False),
    (b"[a*", b"*", True),        # ...swallowing what would have been a star
    (b"[a*", b"ab", False),
    (b"x[a-", b"x-", True),      # too short for a range: 'a' and '-' are members
    (b"*[", b"x[", False),
])
def test_unterminated_classes(pattern, string, expected):
    assert match(pattern, string) is expected


def test_the_empty_string_matches_only_the_empty_pattern():
    assert match(b"", b"")
    for pattern in (b"*", b"**", b"?", b"[^]", b"*?"):
        assert not match(pattern, b"")
    assert not match(b"", b"x")


def test_nocase_folds_ascii_letters_only():
    assert match(b"HeLLo", b"hello", nocase=True)
    assert match(b"h[A-C]llo", b"hbllo", nocase=True)
    assert match(b"[^A]", b"a", nocase=True) is False
    assert not match(b"HeLLo", b"hello")
    assert not match(b"\xc9", b"\xe9", nocase=True)  # no Latin-1 folding in the C locale
    # An escaped byte inside a class is compared exactly, even with nocase.
    assert not match(rb"[\A]", b"a", nocase=True)
    assert match(rb"\A", b"a", nocase=True)


def test_nocase_lowers_range_ends_after_ordering_them():
    # Z(90)..a(97) holds [\]^_` and both letters; lowered, the range is z..a: empty.
    assert match(b"[Z-a]", b"_")
    assert not match(b"[Z-a]", b"_", nocase=True)
    assert not match(b"[Z-a]", b"a", nocase=True)


# --- Redis's guard against abusive patterns -------------------------------------------

def test_more_than_the_star_nesting_limit_never_matches():
    string = b"a" * 2000
    within = b"*a" * STAR_NESTING_LIMIT
    beyond = b"*a" * (STAR_NESTING_LIMIT + 1)
    assert match(within, string)
    assert not match(beyond, string)
    assert match(b"a*" * STAR_NESTING_LIMIT + b"*a", string)  # "**" is one star: 1000
    assert not match(b"a*" * STAR_NESTING_LIMIT + b"a*a", string)


def test_a_trailing_star_does_not_count_towards_the_nesting_limit():
    string = b"a" * 2000
    assert match(b"a*" * (STAR_NESTING_LIMIT + 1), string)
    assert not match(b"a*" * (STAR_NESTING_LIMIT + 1) + b"a", string)
    assert match(b"a*" * STAR_NESTING_LIMIT + b"a**", string)


@pytest.mark.timeout(10)
def test_pathological_patterns_take_linear_time_not_exponential():
    # A naive recursive matcher needs ~n^k steps here; Redis 7 and we need ~n*k.
    string = b"a" * 20_000
    assert not match(b"*a" * 50 + b"b", string)
    assert not match(b"a*" * 500 + b"b", string)
    assert match(b"*a*a*a*a*a*a*a*a*a*a*", string)


# --- the compiled matcher against the port of the C code ------------------------------

GLOB_BYTES = st.sampled_from(b"ab*?[]^-\\AZ\x00\x80\xff")
FUZZ = settings(max_examples=2000, deadline=timedelta(seconds=5),
                suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(pattern=st.binary(max_size=0) | st.lists(GLOB_BYTES, max_size=8).map(bytes),
       strings=st.lists(st.lists(GLOB_BYTES, max_size=6).map(bytes), min_size=1, max_size=8),
       nocase=st.booleans())
@example(pattern=rb"[\\", strings=[b"\\", b"\x00"], nocase=False)
@example(pattern=b"a[^]-]b", strings=[b"a-b", b"a]b", b"axb"], nocase=True)
def test_compiled_patterns_agree_with_the_c_algorithm(pattern, strings, nocase):
    compiled = Pattern(pattern, nocase)
    for string in strings:
        assert compiled.matches(string) is redis_stringmatchlen(pattern, string, nocase), string
