"""Set commands: unordered collections of distinct members (Redis's t_set.c).

A set is a Python `set` of bytes. Redis 7.0 keeps a set of up to 512 integers as an
*intset*, a sorted array of fixed-width integers (binary search, tiny memory), and any
other set as a hash table whose values are empty. Python's set is that hash table, so
membership is O(1) for every set, and the set algebra runs in C (`a & b`, `a - b`).
What we lose: an intset replies in numeric order; we reply in hash order, which Redis
documents as unspecified anyway.

    SADD/SREM/SISMEMBER/SMOVE   O(1) per member        SCARD  O(1)
    SMEMBERS/SSCAN              O(n)                   SINTER(CARD)  O(n * sets), n = smallest set
    SUNION/SDIFF (and STORE)    O(total members)       SPOP/SRANDMEMBER  O(n + |count|)

Random members. Redis picks a random member in O(1) by jumping to a random bucket of its
hash table. A Python set offers no access by position: the only ways to reach a random
member are to count along its iteration, or to copy it into a tuple first, both O(n).
So every SPOP/SRANDMEMBER (and HRANDFIELD, commands/hashes.py) copies the collection
into a tuple *once per call*, then draws in O(1) per pick: O(n + |count|) per call
where Redis has O(|count|). We accept that to keep the plain `set` (with C-speed
membership and algebra) rather than pair it with an index list kept in sync on every
write, the way `densedict.py` does for the keyspace, which must sample all the time.
Likewise SSCAN replies with the whole set and cursor 0, as Redis does for an intset
(see commands/hashes.py for why a stateless cursor needs buckets we cannot see).
A set with no members left is deleted.
"""

from __future__ import annotations

import random
from typing import Sequence

from common.resp import INT64_MAX, RespSet
from redis_clone import errors
from redis_clone.arguments import keyword, parse_int_at_least, parse_int_in_range
from redis_clone.commands.keys import (SCAN_COMPLEXITY, key_matcher, parse_scan_cursor,
                                       parse_scan_options)
from redis_clone.errors import RedisError
from redis_clone.keyspace import TYPE_NAMES
from redis_clone.registry import DENYOOM, FAST, READONLY, WRITE, command

TYPE_NAMES[set] = "set"

ONE_KEY = (1, 1, 1)
EVERY_KEY = (1, -1, 1)
C_LONG_MAX = INT64_MAX  # SRANDMEMBER's and HRANDFIELD's counts are C longs
NONDETERMINISTIC_ORDER = ("nondeterministic_output_order",)
SET_ORDER = ("Members come in Python's hash order. Redis replies an intset (up to 512 "
             "integers) in numeric order and a hash table in its bucket order.")
RANDOM_COST = ("O(N) per call, N the size of the set: a Python set has no random access, so "
               "its members are copied into a tuple once per call (Redis: O(1), or O(count)).")
ALL_MEMBERS = "O(N) where N is the total number of elements in all given sets."
INTERSECTION = ("O(N*M) worst case where N is the cardinality of the smallest set and M is "
                "the number of sets.")


def random_sample(population: Sequence, count: int) -> list:
    """SRANDMEMBER's count rules, which HRANDFIELD shares.

    A positive count asks for that many *distinct* items; at least the whole
    population is the whole population, in its own order, as Redis replies it. A
    negative count asks for |count| items drawn independently, so they may repeat.
    """
    if count < 0:
        return random.choices(population, k=-count) if population else []
    if count >= len(population):
        return list(population)
    return random.sample(population, count)


def _members(ctx, key: bytes) -> set:
    """The set at `key` for reading; a missing key reads as the empty set."""
    members = ctx.db.get(key, set)
    return set() if members is None else members


# --------------------------------------------------------------------------- adding, removing

@command("sadd", arity=-3, flags=WRITE | DENYOOM | FAST, keys=ONE_KEY, group="set",
         summary="Add one or more members to a set", key_flags=("RW", "insert"),
         complexity="O(1) for each element added, so O(N) to add N elements when the command "
                    "is called with multiple arguments.")
def sadd(ctx, args):
    """SADD key member [member ...]"""
    key = args[0]
    members = ctx.db.lookup_for_write(key, set)
    if members is None:
        members = set(args[1:])
        ctx.db.set(key, members, keep_ttl=True)
        return len(members)
    before = len(members)
    members.update(args[1:])
    if len(members) > before:
        ctx.db.modified(key)
    return len(members) - before


@command("srem", arity=-3, flags=WRITE | FAST, keys=ONE_KEY, group="set",
         summary="Remove one or more members from a set", key_flags=("RW", "delete"),
         complexity="O(N) where N is the number of members to be removed.")
def srem(ctx, args):
    """SREM key member [member ...]"""
    key = args[0]
    members = ctx.db.lookup_for_write(key, set)
    if members is None:
        return 0
    before = len(members)
    members.difference_update(args[1:])
    _after_removal(ctx, key, members, before - len(members))
    return before - len(members)


def _after_removal(ctx, key: bytes, members: set, removed: int) -> None:
    """Redis never keeps an empty set: delete the key, or count the change."""
    if not members:
        ctx.db.delete(key)
    elif removed:
        ctx.db.modified(key)


@command("smove", arity=4, flags=WRITE | FAST, keys=(1, 2, 1), group="set",
         summary="Move a member from one set to another", key_flags=("RW", "access", "delete"))
def smove(ctx, args):
    """SMOVE source destination member"""
    source_key, target_key, member = args
    source = ctx.db.lookup_for_write(source_key)
    target = ctx.db.lookup_for_write(target_key)
    if source is None:
        return 0  # even when the destination has the wrong type
    if type(source) is not set or (target is not None and type(target) is not set):
        raise RedisError(errors.WRONGTYPE)
    if member not in source:
        return 0
    if source is target:
        return 1  # moving a member to the set it is in changes nothing
    source.discard(member)
    _after_removal(ctx, source_key, source, 1)
    if target is None:
        ctx.db.set(target_key, {member}, keep_ttl=True)
    elif member not in target:
        target.add(member)
        ctx.db.modified(target_key)
    return 1


# --------------------------------------------------------------------------- reading

@command("scard", arity=2, flags=READONLY | FAST, keys=ONE_KEY, group="set",
         summary="Get the number of members in a set", key_flags=("RO",))
def scard(ctx, args):
    """SCARD key"""
    return len(_members(ctx, args[0]))


@command("sismember", arity=3, flags=READONLY | FAST, keys=ONE_KEY, group="set",
         summary="Determine if a given value is a member of a set", key_flags=("RO",))
def sismember(ctx, args):
    """SISMEMBER key member"""
    return int(args[1] in _members(ctx, args[0]))


@command("smismember", arity=-3, flags=READONLY | FAST, keys=ONE_KEY, group="set", since="6.2.0",
         summary="Returns the membership associated with the given elements for a set",
         complexity="O(N) where N is the number of elements being checked for membership")
def smismember(ctx, args):
    """SMISMEMBER key member [member ...]"""
    members = _members(ctx, args[0])
    return [int(member in members) for member in args[1:]]


@command("smembers", arity=2, flags=READONLY, keys=ONE_KEY, group="set",
         summary="Get all the members in a set", complexity="O(N) where N is the set cardinality.",
         tips=NONDETERMINISTIC_ORDER, differences=SET_ORDER)
def smembers(ctx, args):
    """SMEMBERS key"""
    return RespSet(_members(ctx, args[0]))  # a copy: the reply is encoded after the lock is gone


@command("sscan", arity=-3, flags=READONLY, keys=ONE_KEY, group="set", since="2.8.0",
         summary="Incrementally iterate Set elements",
         complexity=SCAN_COMPLEXITY + "..",
         tips=("nondeterministic_output",),
         differences="The whole set comes in one reply, with cursor 0, whatever its size (Redis "
                     "does that only for an intset); COUNT is checked, then ignored. " + SET_ORDER)
def sscan(ctx, args):
    """SSCAN key cursor [MATCH pattern] [COUNT count]"""
    parse_scan_cursor(args[1])  # validated, then not needed: the reply is the whole set
    members = ctx.db.get(args[0], set)
    if members is None:
        return [b"0", []]  # Redis does not even parse the options of a missing key
    pattern, _count, _ = parse_scan_options(args[2:], keyspace=False)
    matches = key_matcher(pattern)
    return [b"0", [member for member in members if matches(member)]]


# --------------------------------------------------------------------------- random members

@command("spop", arity=-2, flags=WRITE | FAST, keys=ONE_KEY, group="set",
         summary="Remove and return one or multiple random members from a set",
         key_flags=("RW", "access", "delete"), tips=("nondeterministic_output",),
         complexity="Without the count argument O(1), otherwise O(N) where N is the value of "
                    "the passed count.",
         differences=RANDOM_COST + " " + SET_ORDER)
def spop(ctx, args):
    """SPOP key [count]"""
    key = args[0]
    if len(args) > 2:
        raise RedisError(errors.SYNTAX)
    if len(args) == 1:
        members = ctx.db.lookup_for_write(key, set)
        if members is None:
            return None
        popped = random.choice(tuple(members))  # O(n): see the module docstring
        members.discard(popped)
        _after_removal(ctx, key, members, 1)
        return popped
    count = parse_int_at_least(args[1], 0, errors.NOT_POSITIVE)
    members = ctx.db.lookup_for_write(key, set)
    if members is None or count == 0:
        return RespSet()
    popped = random_sample(tuple(members), count)
    members.difference_update(popped)
    _after_removal(ctx, key, members, len(popped))
    return RespSet(popped)  # unlike SRANDMEMBER's array, SPOP's members are a set


@command("srandmember", arity=-2, flags=READONLY, keys=ONE_KEY, group="set",
         summary="Get one or multiple random members from a set", tips=("nondeterministic_output",),
         complexity="Without the count argument O(1), otherwise O(N) where N is the absolute "
                    "value of the passed count.",
         differences=RANDOM_COST + " " + SET_ORDER)
def srandmember(ctx, args):
    """SRANDMEMBER key [count]"""
    if len(args) > 2:
        raise RedisError(errors.SYNTAX)
    if len(args) == 1:
        members = ctx.db.get(args[0], set)
        return None if members is None else random.choice(tuple(members))
    # A negative count allows repeats; C's LONG_MIN has no positive counterpart.
    count = parse_int_in_range(args[1], -C_LONG_MAX, C_LONG_MAX)
    return random_sample(tuple(_members(ctx, args[0])), count)


# --------------------------------------------------------------------------- set algebra

def _sources(ctx, keys: list[bytes]) -> list[set]:
    """The sets named by `keys`; every key is type-checked, even after a missing one."""
    return [_members(ctx, key) for key in keys]


def _intersection(sets: list[set]) -> set:
    # Start from the smallest set: at most that many members to test against the others.
    smallest = min(sets, key=len)
    return smallest.intersection(*(s for s in sets if s is not smallest))


def _union(sets: list[set]) -> set:
    return set().union(*sets)


def _difference(sets: list[set]) -> set:
    return sets[0].difference(*sets[1:])


def _store(ctx, key: bytes, result: set) -> int:
    """The STORE variants replace the destination (and its TTL) with the result, or
    delete it when the result is empty."""
    if result:
        ctx.db.set(key, result)
    else:
        ctx.db.delete(key)
    return len(result)


@command("sinter", arity=-2, flags=READONLY, keys=EVERY_KEY, group="set",
         summary="Intersect multiple sets", complexity=INTERSECTION, tips=NONDETERMINISTIC_ORDER,
         differences=SET_ORDER)
def sinter(ctx, args):
    """SINTER key [key ...]"""
    return RespSet(_intersection(_sources(ctx, args)))


@command("sunion", arity=-2, flags=READONLY, keys=EVERY_KEY, group="set",
         summary="Add multiple sets", complexity=ALL_MEMBERS, tips=NONDETERMINISTIC_ORDER,
         differences=SET_ORDER)
def sunion(ctx, args):
    """SUNION key [key ...]"""
    return RespSet(_union(_sources(ctx, args)))


@command("sdiff", arity=-2, flags=READONLY, keys=EVERY_KEY, group="set",
         summary="Subtract multiple sets", complexity=ALL_MEMBERS, tips=NONDETERMINISTIC_ORDER,
         differences=SET_ORDER)
def sdiff(ctx, args):
    """SDIFF key [key ...]"""
    return RespSet(_difference(_sources(ctx, args)))


@command("sinterstore", arity=-3, flags=WRITE | DENYOOM, keys=EVERY_KEY, group="set",
         summary="Intersect multiple sets and store the resulting set in a key",
         complexity=INTERSECTION, key_flags=("RW", "update"))
def sinterstore(ctx, args):
    """SINTERSTORE destination key [key ...]"""
    return _store(ctx, args[0], _intersection(_sources(ctx, args[1:])))


@command("sunionstore", arity=-3, flags=WRITE | DENYOOM, keys=EVERY_KEY, group="set",
         summary="Add multiple sets and store the resulting set in a key",
         complexity=ALL_MEMBERS, key_flags=("OW", "update"))
def sunionstore(ctx, args):
    """SUNIONSTORE destination key [key ...]"""
    return _store(ctx, args[0], _union(_sources(ctx, args[1:])))


@command("sdiffstore", arity=-3, flags=WRITE | DENYOOM, keys=EVERY_KEY, group="set",
         summary="Subtract multiple sets and store the resulting set in a key",
         complexity=ALL_MEMBERS, key_flags=("OW", "update"))
def sdiffstore(ctx, args):
    """SDIFFSTORE destination key [key ...]"""
    return _store(ctx, args[0], _difference(_sources(ctx, args[1:])))


@command("sintercard", arity=-3, flags=READONLY, group="set", since="7.0.0",
         summary="Intersect multiple sets and return the cardinality of the result",
         complexity=INTERSECTION)
def sintercard(ctx, args):
    """SINTERCARD numkeys key [key ...] [LIMIT limit]"""
    # Redis's legacy key triple is 0 0 0 here: the keys' positions depend on numkeys.
    numkeys = parse_int_at_least(args[0], 1, errors.NUMKEYS_NOT_POSITIVE)
    if numkeys > len(args) - 1:
        raise RedisError(errors.NUMKEYS_TOO_MANY)
    limit = 0  # no limit
    options = args[1 + numkeys:]
    i = 0
    while i < len(options):
        if keyword(options[i]) != "LIMIT" or i + 1 == len(options):
            raise RedisError(errors.SYNTAX)
        limit = parse_int_at_least(options[i + 1], 0, errors.LIMIT_NEGATIVE)
        i += 2
    sets = _sources(ctx, args[1:1 + numkeys])
    # Count members of the smallest set found in all the others, stopping at the limit:
    # that early stop is why SINTERCARD exists (no need to build the intersection).
    smallest = min(sets, key=len)
    others = [s for s in sets if s is not smallest]
    count = 0
    for member in smallest:
        if all(member in other for other in others):
            count += 1
            if count == limit:
                break
    return count
