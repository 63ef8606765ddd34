"""Hash commands: field -> value maps stored under one key (Redis's t_hash.c).

A hash is a Python `dict` of bytes -> bytes. Redis keeps a small hash (up to 512 fields
of up to 64 bytes) as a *listpack*, one flat byte array searched linearly (compact and
cache-friendly; O(n) lookups are cheap at that size), and converts it to a hash table
when it grows. A Python dict already is a compact hash table (a dense, insertion-ordered
entry array plus a small index), so one representation serves every size. Its insertion
order is even the listpack's order, so HGETALL on a small hash replies in Redis's order.

    HSET/HSETNX/HGET/HDEL/HEXISTS/HSTRLEN/HINCRBY*   O(1) per field    HLEN  O(1)
    HKEYS/HVALS/HGETALL/HSCAN                         O(n)
    HRANDFIELD                                        O(n + |count|): see commands/sets.py

HSCAN returns the whole hash in one reply, with cursor 0, as Redis does for a listpack:
a stateless cursor needs to see a hash table's buckets (Redis's reverse-binary cursor
walks them), which a dict does not expose, and an index into the insertion order would
skip fields when others are deleted between calls. A hash with no fields left is deleted.
"""

from __future__ import annotations

import random

from common.resp import INT64_MAX, INT64_MIN, OK
from redis_clone import errors, longdouble
from redis_clone.arguments import keyword, parse_int, parse_int_in_range
from redis_clone.commands.keys import (SCAN_COMPLEXITY, key_matcher, parse_scan_cursor,
                                       parse_scan_options)
from redis_clone.commands.sets import C_LONG_MAX, random_sample
from redis_clone.commands.strings import add_long_doubles
from redis_clone.errors import RedisError
from redis_clone.keyspace import TYPE_NAMES
from redis_clone.registry import DENYOOM, FAST, READONLY, WRITE, command

TYPE_NAMES[dict] = "hash"

ONE_KEY = (1, 1, 1)
WHOLE_HASH = "O(N) where N is the size of the hash."
HASH_ORDER = ("Fields come in insertion order: Redis's order too while the hash is small "
              "enough for a listpack (512 fields of up to 64 bytes), not beyond that.")
NONDETERMINISTIC_ORDER = ("nondeterministic_output_order",)


def _hash_for_write(ctx, key: bytes) -> dict:
    """The hash at `key` for a write about to change it: created empty (and stored) if
    there is none, otherwise counted as modified."""
    fields = ctx.db.lookup_for_write(key, dict)
    if fields is None:
        fields = {}
        ctx.db.set(key, fields, keep_ttl=True)
    else:
        ctx.db.modified(key)
    return fields


# --------------------------------------------------------------------------- setting

@command("hset", arity=-4, flags=WRITE | DENYOOM | FAST, keys=ONE_KEY, group="hash", since="2.0.0",
         summary="Set the string value of a hash field", key_flags=("RW", "update"),
         complexity="O(1) for each field/value pair added, so O(N) to add N field/value pairs "
                    "when the command is called with multiple field/value pairs.")
def hset(ctx, args):
    """HSET key field value [field value ...]"""
    return _set_fields(ctx, args)


@command("hmset", arity=-4, flags=WRITE | DENYOOM | FAST, keys=ONE_KEY, group="hash", since="2.0.0",
         summary="Set multiple hash fields to multiple values", key_flags=("RW", "update"),
         complexity="O(N) where N is the number of fields being set.")
def hmset(ctx, args):
    """HMSET key field value [field value ...]"""
    _set_fields(ctx, args)
    return OK  # HSET's older name (deprecated in 4.0), which replies OK instead of a count


def _set_fields(ctx, args: list[bytes]) -> int:
    """Store the field/value pairs; returns how many fields are new."""
    if len(args) % 2 == 0:  # key + pairs is odd; a dangling field is an arity error
        raise RedisError(errors.wrong_arity(ctx.command.name))
    fields = _hash_for_write(ctx, args[0])
    before = len(fields)
    for field, value in zip(args[1::2], args[2::2]):
        fields[field] = value
    return len(fields) - before


@command("hsetnx", arity=4, flags=WRITE | DENYOOM | FAST, keys=ONE_KEY, group="hash", since="2.0.0",
         summary="Set the value of a hash field, only if the field does not exist",
         key_flags=("RW", "insert"))
def hsetnx(ctx, args):
    """HSETNX key field value"""
    key, field, value = args
    fields = ctx.db.lookup_for_write(key, dict)
    if fields is not None and field in fields:
        return 0
    _hash_for_write(ctx, key)[field] = value
    return 1


# --------------------------------------------------------------------------- reading

@command("hget", arity=3, flags=READONLY | FAST, keys=ONE_KEY, group="hash", since="2.0.0",
         summary="Get the value of a hash field")
def hget(ctx, args):
    """HGET key field"""
    return _hash(ctx, args[0]).get(args[1])


@command("hmget", arity=-3, flags=READONLY | FAST, keys=ONE_KEY, group="hash", since="2.0.0",
         summary="Get the values of all the given hash fields",
         complexity="O(N) where N is the number of fields being requested.")
def hmget(ctx, args):
    """HMGET key field [field ...]"""
    fields = _hash(ctx, args[0])
    return [fields.get(field) for field in args[1:]]


@command("hlen", arity=2, flags=READONLY | FAST, keys=ONE_KEY, group="hash", since="2.0.0",
         summary="Get the number of fields in a hash", key_flags=("RO",))
def hlen(ctx, args):
    """HLEN key"""
    return len(_hash(ctx, args[0]))


@command("hstrlen", arity=3, flags=READONLY | FAST, keys=ONE_KEY, group="hash", since="3.2.0",
         summary="Get the length of the value of a hash field", key_flags=("RO",))
def hstrlen(ctx, args):
    """HSTRLEN key field"""
    return len(_hash(ctx, args[0]).get(args[1], b""))


@command("hexists", arity=3, flags=READONLY | FAST, keys=ONE_KEY, group="hash", since="2.0.0",
         summary="Determine if a hash field exists", key_flags=("RO",))
def hexists(ctx, args):
    """HEXISTS key field"""
    return int(args[1] in _hash(ctx, args[0]))


@command("hkeys", arity=2, flags=READONLY, keys=ONE_KEY, group="hash", since="2.0.0",
         summary="Get all the fields in a hash", complexity=WHOLE_HASH, tips=NONDETERMINISTIC_ORDER,
         differences=HASH_ORDER)
def hkeys(ctx, args):
    """HKEYS key"""
    return list(_hash(ctx, args[0]))


@command("hvals", arity=2, flags=READONLY, keys=ONE_KEY, group="hash", since="2.0.0",
         summary="Get all the values in a hash", complexity=WHOLE_HASH, tips=NONDETERMINISTIC_ORDER,
         differences=HASH_ORDER)
def hvals(ctx, args):
    """HVALS key"""
    return list(_hash(ctx, args[0]).values())


@command("hgetall", arity=2, flags=READONLY, keys=ONE_KEY, group="hash", since="2.0.0",
         summary="Get all the fields and values in a hash", complexity=WHOLE_HASH,
         tips=NONDETERMINISTIC_ORDER, differences=HASH_ORDER)
def hgetall(ctx, args):
    """HGETALL key"""
    return dict(_hash(ctx, args[0]))  # a map in RESP3, a flat field/value array in RESP2


def _hash(ctx, key: bytes) -> dict:
    """The hash at `key` for reading; a missing key reads as an empty hash."""
    fields = ctx.db.get(key, dict)
    return {} if fields is None else fields


# --------------------------------------------------------------------------- deleting

@command("hdel", arity=-3, flags=WRITE | FAST, keys=ONE_KEY, group="hash", since="2.0.0",
         summary="Delete one or more hash fields", key_flags=("RW", "delete"),
         complexity="O(N) where N is the number of fields to be removed.")
def hdel(ctx, args):
    """HDEL key field [field ...]"""
    key = args[0]
    fields = ctx.db.lookup_for_write(key, dict)
    if fields is None:
        return 0
    deleted = sum(fields.pop(field, None) is not None for field in args[1:])
    if not fields:
        ctx.db.delete(key)
    elif deleted:
        ctx.db.modified(key)
    return deleted


# --------------------------------------------------------------------------- counters

@command("hincrby", arity=4, flags=WRITE | DENYOOM | FAST, keys=ONE_KEY, group="hash", since="2.0.0",
         summary="Increment the integer value of a hash field by the given number")
def hincrby(ctx, args):
    """HINCRBY key field increment"""
    key, field = args[0], args[1]
    increment = parse_int(args[2])
    current = _current_value(ctx, key, field)
    value = 0 if current is None else parse_int(current, errors.HASH_VALUE_NOT_INTEGER)
    result = value + increment
    if not INT64_MIN <= result <= INT64_MAX:
        raise RedisError(errors.OVERFLOW)
    _hash_for_write(ctx, key)[field] = b"%d" % result
    return result


@command("hincrbyfloat", arity=4, flags=WRITE | DENYOOM | FAST, keys=ONE_KEY, group="hash",
         since="2.6.0", summary="Increment the float value of a hash field by the given amount")
def hincrbyfloat(ctx, args):
    """HINCRBYFLOAT key field increment"""
    key, field = args[0], args[1]
    # The same long double arithmetic as INCRBYFLOAT (see redis_clone/longdouble.py),
    # but, unlike it, an infinite increment is refused before the key is even looked at.
    increment = longdouble.parse(args[2])
    if increment is None:
        raise RedisError(errors.NOT_FLOAT)
    if not longdouble.is_finite(increment):
        raise RedisError(errors.NAN_OR_INFINITY)
    current = _current_value(ctx, key, field)
    value = longdouble.ZERO if current is None else longdouble.parse(current)
    if value is None:
        raise RedisError(errors.HASH_VALUE_NOT_FLOAT)
    text = add_long_doubles(value, increment)
    _hash_for_write(ctx, key)[field] = text
    return text


def _current_value(ctx, key: bytes, field: bytes) -> bytes | None:
    fields = ctx.db.lookup_for_write(key, dict)
    return None if fields is None else fields.get(field)


# --------------------------------------------------------------------------- sampling, scanning

@command("hrandfield", arity=-2, flags=READONLY, keys=ONE_KEY, group="hash", since="6.2.0",
         summary="Get one or multiple random fields from a hash",
         complexity="O(N) where N is the number of fields returned", tips=("nondeterministic_output",),
         differences="O(N) per call, N the size of the hash: a dict has no random access, so "
                     "its fields are copied into a tuple once per call (Redis: O(count)).")
def hrandfield(ctx, args):
    """HRANDFIELD key [count [WITHVALUES]]"""
    if len(args) == 1:
        fields = ctx.db.get(args[0], dict)
        return None if fields is None else random.choice(tuple(fields))  # O(n): see sets.py
    # A negative count means "that many, repeats allowed"; C's LONG_MIN has no positive
    # counterpart, so it is out of range. Options are checked before the key.
    count = parse_int_in_range(args[1], -C_LONG_MAX, C_LONG_MAX)
    with_values = len(args) == 3 and keyword(args[2]) == "WITHVALUES"
    if len(args) > 3 or (len(args) == 3 and not with_values):
        raise RedisError(errors.SYNTAX)
    if with_values and abs(count) > C_LONG_MAX // 2:
        raise RedisError(errors.VALUE_OUT_OF_RANGE)  # count * 2 replies must not overflow
    fields = _hash(ctx, args[0])
    chosen = random_sample(tuple(fields), count)
    if not with_values:
        return chosen
    pairs = [[field, fields[field]] for field in chosen]
    if ctx.client.protocol == 3:
        return pairs  # RESP3 nests each field with its value
    return [item for pair in pairs for item in pair]


@command("hscan", arity=-3, flags=READONLY, keys=ONE_KEY, group="hash", since="2.8.0",
         summary="Incrementally iterate hash fields and associated values",
         complexity=SCAN_COMPLEXITY + "..",
         tips=("nondeterministic_output",),
         differences="The whole hash comes in one reply, with cursor 0, whatever its size "
                     "(Redis does that only for a listpack); COUNT is checked, then ignored.")
def hscan(ctx, args):
    """HSCAN key cursor [MATCH pattern] [COUNT count]"""
    parse_scan_cursor(args[1])  # validated, then not needed: the reply is the whole hash
    fields = ctx.db.get(args[0], dict)
    if fields is None:
        return [b"0", []]  # Redis does not even parse the options of a missing key
    pattern, _count, _ = parse_scan_options(args[2:], keyspace=False)
    matches = key_matcher(pattern)
    return [b"0", [item for field, value in fields.items() if matches(field)
                   for item in (field, value)]]
