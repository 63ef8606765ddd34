"""Generic key commands, which work on a key whatever its type (Redis's db.c and expire.c).

DEL, EXISTS, TYPE, KEYS, SCAN, RENAME, COPY, MOVE, RANDOMKEY, TOUCH, and the expiry
family: EXPIRE & co. set a deadline, TTL & co. read it, PERSIST drops it. They go
through the `Database` API only, which applies lazy expiry: write commands look keys up
with `lookup_for_write` (an expired key is deleted on the spot), read commands with
`get` (an expired key is merely invisible, and a hit or miss is counted for INFO).

Deadlines are absolute Unix times in milliseconds taken from `ctx.now_ms()`; the second
variants convert at the edges, rounding as Redis does.
"""

from __future__ import annotations

import copy
import re
from typing import Callable

from common.resp import INT64_MAX, OK, Status
from redis_clone import errors
from redis_clone.arguments import keyword, parse_int, parse_int_in_range
from redis_clone.errors import RedisError
from redis_clone.glob import Pattern
from redis_clone.keyspace import Database, type_name
from redis_clone.registry import DENYOOM, FAST, READONLY, WRITE, command

ONE_KEY = (1, 1, 1)
TWO_KEYS = (1, 2, 1)     # RENAME source destination
EVERY_KEY = (1, -1, 1)

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
UINT64_LIMIT = 2**64


# --- deleting, testing, describing --------------------------------------------------

@command("del", arity=-2, flags=WRITE, keys=EVERY_KEY, summary="Delete a key",
         complexity="O(N) where N is the number of keys that will be removed. When a key to "
                    "remove holds a value other than a string, the individual complexity for "
                    "this key is O(M) where M is the number of elements in the list, set, "
                    "sorted set or hash. Removing a single key that holds a string value is O(1).")
def del_(ctx, args):
    """DEL key [key ...]"""
    return sum(ctx.db.delete(key) for key in args)


@command("unlink", arity=-2, flags=WRITE | FAST, keys=EVERY_KEY, since="4.0.0",
         differences="The same as DEL: values are freed at once, not on a background thread.",
         summary="Delete a key asynchronously in another thread. Otherwise it is just as DEL, "
                 "but non blocking.",
         complexity="O(1) for each key removed regardless of its size. Then the command does "
                    "O(N) work in a different thread in order to reclaim memory, where N is the "
                    "number of allocations the deleted objects where composed of.")
def unlink(ctx, args):
    """UNLINK key [key ...]"""
    # Redis frees big values on a background thread. Here the last reference goes
    # when the key is removed and Python's allocator reclaims it, so it is just DEL.
    return del_(ctx, args)


@command("exists", arity=-2, flags=READONLY | FAST, keys=EVERY_KEY,
         summary="Determine if a key exists",
         complexity="O(N) where N is the number of keys to check.")
def exists(ctx, args):
    """EXISTS key [key ...]"""
    # A key named twice counts twice: EXISTS k k is 2.
    return _count_live(ctx.db, args)


@command("touch", arity=-2, flags=READONLY | FAST, keys=EVERY_KEY, since="3.2.1",
         summary="Alters the last access time of a key(s). Returns the number of existing "
                 "keys specified.",
         complexity="O(N) where N is the number of keys that will be touched.",
         tips=("request_policy:multi_shard", "response_policy:agg_sum"), key_flags=("RO",))
def touch(ctx, args):
    """TOUCH key [key ...]"""
    # The lookup itself refreshes each key's LRU/LFU access stamp (see eviction.py).
    return _count_live(ctx.db, args)


def _count_live(db: Database, keys: list[bytes]) -> int:
    return sum(db.get(key) is not None for key in keys)


@command("type", arity=2, flags=READONLY | FAST, keys=ONE_KEY,
         summary="Determine the type stored at key")
def type_(ctx, args):
    """TYPE key"""
    value = ctx.db.get(args[0])
    return Status("none" if value is None else type_name(value))


@command("randomkey", arity=1, flags=READONLY,
         summary="Return a random key from the keyspace")
def randomkey(ctx, args):
    """RANDOMKEY"""
    return ctx.db.random_key()


# --- finding keys: KEYS and SCAN ----------------------------------------------------

@command("keys", arity=2, flags=READONLY, summary="Find all keys matching the given pattern",
         differences="Keys come in the database's slot order (insertion order, reshuffled by "
                     "deletions), not in Redis's hash-table order; neither is specified.",
         complexity="O(N) with N being the number of keys in the database, under the "
                    "assumption that the key names in the database and the given pattern "
                    "have limited length.")
def keys(ctx, args):
    """KEYS pattern"""
    wanted = key_matcher(args[0])
    return [key for key in ctx.db.keys() if wanted(key)]


def key_matcher(pattern: bytes) -> Callable[[bytes], bool]:
    """A predicate for KEYS and SCAN MATCH. Redis does not even run the matcher for
    "*", which is why "*" (unlike "**") also lists the empty key."""
    if pattern == b"*":
        return lambda key: True
    return Pattern(pattern).matches


# Redis's complexity text for SCAN ending in ".", for HSCAN, SSCAN and ZSCAN in "..".
SCAN_COMPLEXITY = ("O(1) for every call. O(N) for a complete iteration, including enough command "
                   "calls for the cursor to return back to 0. N is the number of elements inside "
                   "the collection")


@command("scan", arity=-2, flags=READONLY, since="2.8.0",
         differences="The cursor is a slot index counting down to 0 (redis_clone/densedict.py), "
                     "not Redis's reverse-binary bucket index: cursor values and key order "
                     "differ, the guarantee (every key present throughout is returned at least "
                     "once) is the same. COUNT is the number of slots walked per call.",
         summary="Incrementally iterate the keys space",
         complexity=SCAN_COMPLEXITY + ".")
def scan(ctx, args):
    """SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]"""
    cursor = parse_scan_cursor(args[0])
    pattern, count, wanted_type = parse_scan_options(args[1:])
    db = ctx.db
    # COUNT is how much of the table to walk, not how many keys to return: a step
    # whose keys were all filtered out returns none but still advances the cursor.
    cursor, batch = db.scan(cursor, count)
    matches = key_matcher(pattern)
    found = []
    for key in batch:
        if not matches(key):
            continue
        if wanted_type is not None:
            value = db.get(key, count_stats=False)
            if value is None or type_name(value).encode() != wanted_type:
                continue
        found.append(key)
    return [str(cursor).encode(), found]


def parse_scan_options(args: list[bytes], *,
                       keyspace: bool = True) -> tuple[bytes, int, bytes | None]:
    """MATCH pattern, COUNT count (default 10), TYPE type: each takes a value, in any
    order; the last one given wins. An unknown TYPE is no error in Redis 7.0: it just
    matches nothing. TYPE filters keys, so HSCAN, SSCAN and ZSCAN (keyspace=False)
    refuse it as a syntax error."""
    pattern, count, wanted_type = b"*", 10, None
    allowed = ("MATCH", "COUNT", "TYPE") if keyspace else ("MATCH", "COUNT")
    for i in range(0, len(args), 2):
        option = keyword(args[i])
        if i + 1 == len(args) or option not in allowed:
            raise RedisError(errors.SYNTAX)
        if option == "COUNT":
            count = parse_int(args[i + 1])
            if count < 1:
                raise RedisError(errors.SYNTAX)
        elif option == "MATCH":
            pattern = args[i + 1]
        else:
            wanted_type = args[i + 1].lower()  # compared case-insensitively
    return pattern, count, wanted_type


_CURSOR = re.compile(rb"[+-]?[0-9]+")


def parse_scan_cursor(arg: bytes) -> int:
    """A cursor as Redis reads it, with C's strtoul(): an optional sign, decimal digits,
    nothing else, at most 2**64-1; a negative number wraps around. C reads the argument
    only up to its first NUL byte, so an empty (or NUL-led) cursor is 0."""
    text = arg.split(b"\0", 1)[0]
    if not text:
        return 0
    if _CURSOR.fullmatch(text) is None:
        raise RedisError(errors.INVALID_CURSOR)
    value = int(text)
    if abs(value) >= UINT64_LIMIT:
        raise RedisError(errors.INVALID_CURSOR)
    return value % UINT64_LIMIT


# --- renaming, copying and moving ---------------------------------------------------

@command("rename", arity=3, flags=WRITE, keys=TWO_KEYS, summary="Rename a key")
def rename(ctx, args):
    """RENAME key newkey"""
    _rename(ctx.db, *args, replace=True)
    return OK


@command("renamenx", arity=3, flags=WRITE | FAST, keys=TWO_KEYS,
         summary="Rename a key, only if the new key does not exist")
def renamenx(ctx, args):
    """RENAMENX key newkey"""
    return int(_rename(ctx.db, *args, replace=False))


def _rename(db: Database, source: bytes, target: bytes, *, replace: bool) -> bool:
    """Move the value and its TTL to `target`; False when nothing moved."""
    value = db.lookup_for_write(source)
    if value is None:
        raise RedisError(errors.NO_SUCH_KEY)
    if source == target:
        return False  # renaming a key to itself leaves it as it is (RENAMENX says 0)
    if not replace and db.lookup_for_write(target) is not None:
        return False
    deadline = db.deadline(source)
    db.delete(source)
    _store(db, target, value, deadline)
    return True


@command("copy", arity=-3, flags=WRITE | DENYOOM, keys=TWO_KEYS, since="6.2.0",
         summary="Copy a key",
         complexity="O(N) worst case for collections, where N is the number of nested items. "
                    "O(1) for string values.")
def copy_(ctx, args):
    """COPY source destination [DB destination-db] [REPLACE]"""
    source, target = args[0], args[1]
    target_index, replace = ctx.client.db, False
    i = 2
    while i < len(args):
        option = keyword(args[i])
        if option == "REPLACE":
            replace = True
        elif option == "DB" and i + 1 < len(args):
            i += 1
            target_index = _parse_db_index(ctx, args[i])
        else:
            raise RedisError(errors.SYNTAX)
        i += 1
    if target_index == ctx.client.db and source == target:
        raise RedisError(errors.SAME_DB)
    source_db, target_db = ctx.db, ctx.server.keyspace[target_index]
    value = source_db.get(source)
    if value is None:
        return 0
    if not replace and target_db.lookup_for_write(target) is not None:
        return 0
    # A copy must not share any mutable part with the original: a list, hash or set
    # holds containers (a sorted set even two), and a later write to one key must not
    # show through the other. The members themselves are bytes, immutable and shared.
    _store(target_db, target, copy.deepcopy(value), source_db.deadline(source))
    return 1


@command("move", arity=3, flags=WRITE | FAST, keys=ONE_KEY,
         summary="Move a key to another database")
def move(ctx, args):
    """MOVE key db"""
    key = args[0]
    target_index = _parse_db_index(ctx, args[1])
    if target_index == ctx.client.db:
        raise RedisError(errors.SAME_DB)
    source_db, target_db = ctx.db, ctx.server.keyspace[target_index]
    value = source_db.lookup_for_write(key)
    if value is None or target_db.lookup_for_write(key) is not None:
        return 0
    deadline = source_db.deadline(key)
    source_db.delete(key)
    _store(target_db, key, value, deadline)
    return 1


def _parse_db_index(ctx, arg: bytes) -> int:
    index = parse_int_in_range(arg, INT32_MIN, INT32_MAX)  # Redis reads a C int first
    if not 0 <= index < len(ctx.server.keyspace.dbs):
        raise RedisError(errors.DB_INDEX_OUT_OF_RANGE)
    return index


def _store(db: Database, key: bytes, value, deadline: int | None) -> None:
    """Write `value` under `key`, replacing any old value, with the given deadline."""
    db.set(key, value)
    if deadline is not None:
        db.set_deadline(key, deadline)


# --- expiry: setting a deadline -----------------------------------------------------

EXPIRE_CONDITIONS = ("NX", "XX", "GT", "LT")
SECONDS_LIMIT = INT64_MAX // 1000  # seconds that still fit in int64 milliseconds


@command("expire", arity=-3, flags=WRITE | FAST, keys=ONE_KEY,
         summary="Set a key's time to live in seconds")
def expire(ctx, args):
    """EXPIRE key seconds [NX | XX | GT | LT]"""
    return _expire(ctx, args, "expire", seconds=True, relative=True)


@command("pexpire", arity=-3, flags=WRITE | FAST, keys=ONE_KEY, since="2.6.0",
         summary="Set a key's time to live in milliseconds")
def pexpire(ctx, args):
    """PEXPIRE key milliseconds [NX | XX | GT | LT]"""
    return _expire(ctx, args, "pexpire", seconds=False, relative=True)


@command("expireat", arity=-3, flags=WRITE | FAST, keys=ONE_KEY, since="1.2.0",
         summary="Set the expiration for a key as a UNIX timestamp")
def expireat(ctx, args):
    """EXPIREAT key unix-time-seconds [NX | XX | GT | LT]"""
    return _expire(ctx, args, "expireat", seconds=True, relative=False)


@command("pexpireat", arity=-3, flags=WRITE | FAST, keys=ONE_KEY, since="2.6.0",
         summary="Set the expiration for a key as a UNIX timestamp specified in milliseconds")
def pexpireat(ctx, args):
    """PEXPIREAT key unix-time-milliseconds [NX | XX | GT | LT]"""
    return _expire(ctx, args, "pexpireat", seconds=False, relative=False)


def _expire(ctx, args: list[bytes], name: str, *, seconds: bool, relative: bool) -> int:
    """The four commands differ only in the unit of the time and what it counts from.
    A deadline already in the past deletes the key, and still replies 1."""
    key = args[0]
    conditions = _parse_expire_conditions(args[2:])  # Redis checks these before the time
    when = parse_int(args[1])
    # Redis computes the deadline in int64 milliseconds and refuses what would overflow.
    if seconds:
        if abs(when) > SECONDS_LIMIT:
            raise RedisError(errors.invalid_expire_time(name))
        when *= 1000
    base = ctx.now_ms() if relative else 0
    if when > INT64_MAX - base:
        raise RedisError(errors.invalid_expire_time(name))
    deadline = when + base

    db = ctx.db
    if db.lookup_for_write(key) is None:
        return 0
    if not _conditions_allow(conditions, db.deadline(key), deadline):
        return 0
    db.set_deadline(key, deadline)
    return 1


def _parse_expire_conditions(args: list[bytes]) -> set[str]:
    conditions = set()
    for arg in args:
        condition = keyword(arg)
        if condition not in EXPIRE_CONDITIONS:
            raise RedisError(errors.unsupported_option(arg))
        conditions.add(condition)
    if "NX" in conditions and len(conditions) > 1:
        raise RedisError(errors.NX_XX_GT_LT)
    if {"GT", "LT"} <= conditions:
        raise RedisError(errors.GT_AND_LT)
    return conditions


def _conditions_allow(conditions: set[str], current: int | None, new: int) -> bool:
    """NX: only if no TTL yet. XX: only if one. GT/LT: only if the new deadline is
    later/earlier; no TTL counts as an infinite one, so GT always fails on it, and LT
    always succeeds."""
    if "NX" in conditions and current is not None:
        return False
    if "XX" in conditions and current is None:
        return False
    if "GT" in conditions and (current is None or new <= current):
        return False
    if "LT" in conditions and current is not None and new >= current:
        return False
    return True


# --- expiry: reading and removing the deadline --------------------------------------

@command("ttl", arity=2, flags=READONLY | FAST, keys=ONE_KEY,
         summary="Get the time to live for a key in seconds")
def ttl(ctx, args):
    """TTL key"""
    return _time_to_live(ctx, args[0], millis=False, absolute=False)


@command("pttl", arity=2, flags=READONLY | FAST, keys=ONE_KEY, since="2.6.0",
         summary="Get the time to live for a key in milliseconds")
def pttl(ctx, args):
    """PTTL key"""
    return _time_to_live(ctx, args[0], millis=True, absolute=False)


@command("expiretime", arity=2, flags=READONLY | FAST, keys=ONE_KEY, since="7.0.0",
         summary="Get the expiration Unix timestamp for a key")
def expiretime(ctx, args):
    """EXPIRETIME key"""
    return _time_to_live(ctx, args[0], millis=False, absolute=True)


@command("pexpiretime", arity=2, flags=READONLY | FAST, keys=ONE_KEY, since="7.0.0",
         summary="Get the expiration Unix timestamp for a key in milliseconds")
def pexpiretime(ctx, args):
    """PEXPIRETIME key"""
    return _time_to_live(ctx, args[0], millis=True, absolute=True)


def _time_to_live(ctx, key: bytes, *, millis: bool, absolute: bool) -> int:
    """-2 for a missing key, -1 for a key without TTL; otherwise the time left (or the
    deadline itself), where seconds are rounded to the nearest, as Redis does."""
    db = ctx.db
    if db.get(key) is None:
        return -2
    deadline = db.deadline(key)
    if deadline is None:
        return -1
    ms = max(0, deadline if absolute else deadline - ctx.now_ms())
    return ms if millis else (ms + 500) // 1000


@command("persist", arity=2, flags=WRITE | FAST, keys=ONE_KEY, since="2.2.0",
         summary="Remove the expiration from a key")
def persist(ctx, args):
    """PERSIST key"""
    db = ctx.db
    return int(db.lookup_for_write(args[0]) is not None and db.persist(args[0]))
