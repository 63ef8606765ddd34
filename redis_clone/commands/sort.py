"""SORT and SORT_RO: sort a list, set or sorted set, and look things up by its elements
(Redis's sort.c).

Elements are compared as numbers by default (each must read as a double, or the whole
command fails), as byte strings with ALPHA. BY sorts by *other keys*: the first `*` in
the pattern is replaced by the element, so `BY weight_*` sorts element e by the string
at `weight_e`, and `BY obj_*->age` by the field `age` of the hash `obj_e`; a missing
weight counts as 0 (or sorts first, with ALPHA). GET replaces each element by such a
lookup (`#` is the element itself). A BY pattern without `*` ("BY nosort") means "do
not sort": a list keeps its order, a sorted set its rank order (reversed by DESC), and
LIMIT then just cuts a range, O(log n + m) on a sorted set. A set has no order to keep,
so it is sorted anyway (ALPHA) when the result is stored, for a deterministic result.

Cost: O(n) to load n elements, O(n log n) to sort them, plus a key lookup per element
for BY and per returned element for each GET. Python's sort is stable, like glibc's
merge sort behind Redis's qsort(), so elements with equal ALPHA weights keep their
natural order; Redis's partial sort for BY with LIMIT (pqsort) is not, so that one case
may order ties differently. Patterns are whole byte strings here, where Redis reads them
as C strings (up to a NUL byte).
"""

from __future__ import annotations

import math
import re
import sys
from collections import deque
from dataclasses import dataclass, field
from itertools import islice
from operator import itemgetter

from redis_clone import errors
from redis_clone.arguments import keyword, parse_int
from redis_clone.errors import RedisError
from redis_clone.keyspace import Database
from redis_clone.registry import DENYOOM, READONLY, WRITE, command
from redis_clone.zset import ZSet

SORTABLE = (deque, set, ZSet)
COMPLEXITY = ("O(N+M*log(M)) where N is the number of elements in the list or set to sort, and "
              "M the number of returned elements. When the elements are not sorted, complexity is O(N).")
CATEGORIES = ("set", "sortedset", "list", "dangerous")
DIFFERENCES = ("ALPHA compares bytes (the C locale's order); Redis uses strcoll() in the "
               "server's locale, which differs only when it runs under another locale. With "
               "ALPHA, BY and LIMIT, elements of equal weight keep their natural order, where "
               "Redis's partial sort may swap them. Patterns are used whole; Redis stops at a "
               "NUL byte.")


@command("sort", arity=-2, flags=WRITE | DENYOOM, keys=(1, 1, 1), summary="Sort the elements in "
         "a list, set or sorted set", complexity=COMPLEXITY, acl_categories=CATEGORIES,
         key_flags=("RO", "access"), differences=DIFFERENCES)
def sort(ctx, args):
    """SORT key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] [ASC | DESC] [ALPHA] [STORE destination]"""
    return sort_generic(ctx, args, readonly=False)


@command("sort_ro", arity=-2, flags=READONLY, keys=(1, 1, 1), since="7.0.0",
         summary="Sort the elements in a list, set or sorted set. Read-only variant of SORT.",
         complexity=COMPLEXITY, acl_categories=CATEGORIES, differences=DIFFERENCES)
def sort_ro(ctx, args):
    """SORT_RO key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] [ASC | DESC] [ALPHA]"""
    return sort_generic(ctx, args, readonly=True)


# --------------------------------------------------------------------------- options

@dataclass
class SortOptions:
    descending: bool = False
    alpha: bool = False
    offset: int = 0
    count: int = -1                  # negative: no limit
    by: bytes | None = None          # the last BY pattern given
    dont_sort: bool = False          # some BY pattern had no '*'
    gets: list[bytes] = field(default_factory=list)
    store: bytes | None = None


def parse_options(args: list[bytes], *, allow_store: bool) -> SortOptions:
    """SORT's options, in any order; a later one overrides an earlier one (GET adds up).

    SORT_RO does not know STORE at all, so there it is a syntax error like any unknown
    word. An option missing its values is a syntax error too.
    """
    options = SortOptions()
    i = 0
    while i < len(args):
        name, left = keyword(args[i]), len(args) - i - 1
        if name in ("ASC", "DESC"):
            options.descending = name == "DESC"
        elif name == "ALPHA":
            options.alpha = True
        elif name == "LIMIT" and left >= 2:
            options.offset, options.count = parse_int(args[i + 1]), parse_int(args[i + 2])
            i += 2
        elif name == "STORE" and allow_store and left >= 1:
            options.store = args[i + 1]
            i += 1
        elif name == "BY" and left >= 1:
            options.by = args[i + 1]
            # A pattern without '*' names one key for all elements: nothing to sort by.
            options.dont_sort |= b"*" not in options.by
            i += 1
        elif name == "GET" and left >= 1:
            options.gets.append(args[i + 1])
            i += 1
        else:
            raise RedisError(errors.SYNTAX)
        i += 1
    return options


# --------------------------------------------------------------------------- the command

def sort_generic(ctx, args: list[bytes], *, readonly: bool):
    db = ctx.db
    options = parse_options(args[1:], allow_store=not readonly)
    value = db.get(args[0])  # options are checked first, then the type
    if value is not None and type(value) not in SORTABLE:
        raise RedisError(errors.WRONGTYPE)
    if options.dont_sort and type(value) is set and options.store is not None:
        # A set's order is an accident of its hash table; a stored (replicated)
        # result must not depend on it, so Redis sorts it after all.
        options.dont_sort, options.alpha, options.by = False, True, None

    size = 0 if value is None else len(value)
    start = min(max(options.offset, 0), size)
    stop = size if options.count < 0 else min(start + options.count, size)
    if options.dont_sort:
        window = _natural_window(value, start, stop, options.descending)
    else:
        window = _sorted(db, value, options)[start:stop]

    if not options.gets:
        rows = window
    else:
        rows = [_lookup(db, pattern, element) for element in window for pattern in options.gets]
    if options.store is None:
        return rows
    # Stored, a missing GET value becomes an empty string (a list cannot hold nil).
    stored = deque(b"" if item is None else item for item in rows)
    if stored:
        db.set(options.store, stored)  # replaces any value and its TTL; wakes BLPOP waiters
    else:
        db.delete(options.store)  # Redis never stores an empty list
    return len(stored)


def _natural_window(value, start: int, stop: int, descending: bool) -> list[bytes]:
    """Positions start..stop-1 of the value in its own order: list order or rank order
    (both reversed by DESC), or a set's iteration order (which DESC leaves alone)."""
    if start >= stop:
        return []
    if type(value) is ZSet:
        return [member for member, _score in value.range_by_rank(start, stop - 1, reverse=descending)]
    if type(value) is deque and descending:
        value = reversed(value)
    return list(islice(value, start, stop))


def _sorted(db: Database, value, options: SortOptions) -> list[bytes]:
    """Every element, in SORT order: decorate each with its sort key (one BY lookup per
    element), sort on the keys alone (stable), undecorate."""
    if value is None:
        return []
    elements = [member for member, _score in value] if type(value) is ZSet else list(value)
    decorated = [(_sort_key(db, element, options), element) for element in elements]
    decorated.sort(key=itemgetter(0), reverse=options.descending)
    return [element for _key, element in decorated]


def _sort_key(db: Database, element: bytes, options: SortOptions) -> tuple:
    weight = _lookup(db, options.by, element) if options.by else element
    if not options.alpha:
        # Equal numbers are ordered by the elements' bytes, so the result is deterministic.
        return (0.0 if weight is None else strtod(weight), element)
    if weight is None:
        return (False, b"")  # a missing weight sorts before every other
    # Redis compares with strcoll() (byte order in the C locale, up to a NUL byte), but
    # with STORE with memcmp() (whole strings): what is stored must not depend on the
    # server's locale.
    return (True, weight if options.store is not None else weight.split(b"\0", 1)[0])


def _lookup(db: Database, pattern: bytes, element: bytes) -> bytes | None:
    """What BY and GET patterns find for one element (Redis's lookupKeyByPattern).

    "#" is the element itself. Otherwise the first '*' is replaced by the element to
    form a key name; "key_*->field" reads a field of the hash at that key. A pattern
    without '*', a missing key or field, or a value of another type all give None.
    """
    if pattern == b"#":
        return element
    star = pattern.find(b"*")
    if star < 0:
        return None
    hash_field = None
    arrow = pattern.find(b"->", star + 1)
    if arrow >= 0 and arrow + 2 < len(pattern):  # "key_*->" alone names a plain key
        pattern, hash_field = pattern[:arrow], pattern[arrow + 2:]
    value = db.get(pattern[:star] + element + pattern[star + 1:])
    if hash_field is None:
        return value if type(value) is bytes else None
    return value.get(hash_field) if type(value) is dict else None


# --------------------------------------------------------------------------- numbers

# What C's strtod() accepts: leading white space, then a decimal or hexadecimal number
# or an infinity. Redis requires it to cover the whole weight; NaN is left out because
# SORT refuses it anyway.
_STRTOD = re.compile(rb"""
    [ \t\n\v\f\r]*
    [+-]?(?:
        (?P<decimal> [0-9]+\.?[0-9]* | \.[0-9]+ ) (?:[eE][+-]?[0-9]+)?
      | 0[xX] (?P<hex> [0-9a-fA-F]+\.?[0-9a-fA-F]* | \.[0-9a-fA-F]+ ) (?:[pP][+-]?[0-9]+)?
      | (?P<infinity> (?i:inf|infinity) )
    )""", re.VERBOSE)


def strtod(text: bytes) -> float:
    """A weight as SORT reads it: strtod() on a C string, refused on ERANGE.

    C reads up to the first NUL byte, so "" (and "\\0x") is 0: no conversion, no error.
    strtod sets ERANGE when the number overflows a double or underflows below the
    smallest normal one, and Redis refuses both, so unlike ZADD, SORT rejects 1e-310.
    (Redis 7.0 never clears errno first, so after one ERANGE its later numeric SORTs
    fail too, until some other call sets errno: a bug we do not copy.)
    """
    text = text.split(b"\0", 1)[0]
    if not text:
        return 0.0
    match = _STRTOD.fullmatch(text)
    if match is None:
        raise RedisError(errors.SORT_NOT_DOUBLE)
    number = text.lstrip(b" \t\n\v\f\r")
    if match["infinity"]:
        return float(number)
    mantissa = match["decimal"] or match["hex"]
    try:
        value = float.fromhex(number.decode()) if match["hex"] else float(number)
    except OverflowError:
        raise RedisError(errors.SORT_NOT_DOUBLE) from None
    underflow = abs(value) < sys.float_info.min and re.search(rb"[1-9a-fA-F]", mantissa)
    if math.isinf(value) or underflow:
        raise RedisError(errors.SORT_NOT_DOUBLE)
    return value
