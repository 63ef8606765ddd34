"""List commands: pushes and pops at both ends, ranges, and the blocking pops (t_list.c).

A Redis list is a sequence of byte strings used from its ends: a queue (LPUSH + RPOP),
a stack, a capped log (LPUSH + LTRIM), a job queue with workers waiting in BRPOP. We
store it as a `collections.deque`: a doubly-linked list of 64-slot blocks, so a push or
pop at either end is O(1) and an index walks block by block from the nearer end.
Redis's quicklist is the same shape in C: a doubly-linked list of *listpacks*, compact
byte arrays holding several elements each, which cost far less memory than one node
per element. Both trade the middle for the ends: LINDEX, LSET, LINSERT and LREM away
from the ends are O(n), as Redis documents; a Python list would make indexing O(1)
but LPUSH and LPOP O(n), the wrong trade for a queue.

    LPUSH/RPUSH/LPOP/RPOP/LMOVE  O(1) per element    LLEN  O(1)
    LRANGE  O(s + n), s = distance of the range from the nearer end
    LINDEX/LSET  O(distance from the nearer end)     LINSERT/LREM/LPOS  O(n)

An empty list is never kept: the command that takes the last element deletes the key.
Adding elements calls `signal_ready`, and a blocking pop that finds nothing returns a
`Block` (redis_clone/blocking.py explains who serves it, and when).
"""

from __future__ import annotations

from collections import deque
from itertools import islice
from typing import Iterable

from common.resp import INT64_MAX, NULL_ARRAY, OK
from redis_clone import errors
from redis_clone.arguments import (clamp_range, keyword, parse_int, parse_int_at_least,
                                   parse_mpop)
from redis_clone.blocking import SERVED_FROM_FIRST_KEY, Block, parse_timeout
from redis_clone.errors import RedisError
from redis_clone.keyspace import TYPE_NAMES, Database
from redis_clone.registry import BLOCKING, DENYOOM, FAST, NOSCRIPT, READONLY, WRITE, command

TYPE_NAMES[deque] = "list"

ONE_KEY = (1, 1, 1)
TWO_KEYS = (1, 2, 1)
NO_FIXED_KEYS = (0, 0, 0)  # LMPOP/BLMPOP: numkeys says where the keys are (movablekeys)
ENDS = ("LEFT", "RIGHT")

PUSH_COMPLEXITY = ("O(1) for each element added, so O(N) to add N elements when the command "
                   "is called with multiple arguments.")
MPOP_COMPLEXITY = ("O(N+M) where N is the number of provided keys and M is the number of "
                   "elements returned.")
# Key-spec flags, as Redis's commands/*.json give them.
INSERTS = ("RW", "insert")
TAKES = ("RW", "access", "delete")
READS = ("RO", "access")


# --------------------------------------------------------------------------- building blocks

def _parse_end(arg: bytes) -> bool:
    """LEFT or RIGHT (any case) -> True for the left end (the head)."""
    end = keyword(arg)
    if end not in ENDS:
        raise RedisError(errors.SYNTAX)
    return end == "LEFT"


def _push(db: Database, key: bytes, items: deque | None, values: Iterable[bytes],
          left: bool) -> deque:
    """Push `values` one by one onto the list `items` at `key` (looked up by the caller,
    None to create it). LPUSH k a b c leaves c first, as if pushed one at a time."""
    if items is None:
        items = deque()
        db.set(key, items, keep_ttl=True)
    else:
        db.modified(key)
    if left:
        items.extendleft(values)
    else:
        items.extend(values)
    db.signal_ready(key)
    return items


def _pop(db: Database, key: bytes, items: deque, left: bool, count: int = 1) -> list[bytes]:
    """Take up to `count` elements from one end, in the order they come off."""
    take = items.popleft if left else items.pop
    popped = [take() for _ in range(min(count, len(items)))]
    _after_removal(db, key, items)
    return popped


def _after_removal(db: Database, key: bytes, items: deque) -> None:
    """Redis keeps no empty lists: the last element out takes the key with it."""
    if items:
        db.modified(key)
    else:
        db.delete(key)


def _move(db: Database, source: bytes, items: deque, destination: bytes,
          from_left: bool, to_left: bool) -> bytes:
    """LMOVE's core: pop from `items` (the list at `source`), push onto `destination`.

    The destination's type is checked before anything moves. With source and
    destination the same key the list rotates: the destination is looked up before
    the pop, so a one-element list is not deleted and recreated on the way.
    """
    target = db.lookup_for_write(destination, deque)
    value = (items.popleft if from_left else items.pop)()
    _push(db, destination, target, (value,), to_left)
    _after_removal(db, source, items)
    return value


def _slice(items: deque, start: int, stop: int) -> list[bytes]:
    """items[start:stop + 1]. A deque cannot slice, so walk in from the nearer end, as
    quicklist does for LRANGE: the last 10 of a long list cost 10 steps, not n."""
    length = len(items)
    if start > length - 1 - stop:
        from_tail = list(islice(reversed(items), length - 1 - stop, length - start))
        from_tail.reverse()
        return from_tail
    return list(islice(items, start, stop + 1))


def _normalize_index(index: int, length: int) -> int | None:
    """LINDEX/LSET: a negative index counts from the end; None when out of range."""
    if index < 0:
        index += length
    return index if 0 <= index < length else None


# --------------------------------------------------------------------------- pushing

@command("lpush", arity=-3, flags=WRITE | DENYOOM | FAST, keys=ONE_KEY, group="list",
         summary="Prepend one or multiple elements to a list", complexity=PUSH_COMPLEXITY,
         key_flags=INSERTS)
def lpush(ctx, args):
    """LPUSH key element [element ...]"""
    return len(_push(ctx.db, args[0], ctx.db.lookup_for_write(args[0], deque), args[1:], True))


@command("rpush", arity=-3, flags=WRITE | DENYOOM | FAST, keys=ONE_KEY, group="list",
         summary="Append one or multiple elements to a list", complexity=PUSH_COMPLEXITY,
         key_flags=INSERTS)
def rpush(ctx, args):
    """RPUSH key element [element ...]"""
    return len(_push(ctx.db, args[0], ctx.db.lookup_for_write(args[0], deque), args[1:], False))


@command("lpushx", arity=-3, flags=WRITE | DENYOOM | FAST, keys=ONE_KEY, group="list",
         since="2.2.0", summary="Prepend an element to a list, only if the list exists",
         complexity=PUSH_COMPLEXITY, key_flags=INSERTS)
def lpushx(ctx, args):
    """LPUSHX key element [element ...]"""
    return _push_existing(ctx.db, args[0], args[1:], left=True)


@command("rpushx", arity=-3, flags=WRITE | DENYOOM | FAST, keys=ONE_KEY, group="list",
         since="2.2.0", summary="Append an element to a list, only if the list exists",
         complexity=PUSH_COMPLEXITY, key_flags=INSERTS)
def rpushx(ctx, args):
    """RPUSHX key element [element ...]"""
    return _push_existing(ctx.db, args[0], args[1:], left=False)


def _push_existing(db: Database, key: bytes, values: list[bytes], left: bool) -> int:
    items = db.lookup_for_write(key, deque)
    if items is None:
        return 0
    return len(_push(db, key, items, values, left))


@command("linsert", arity=5, flags=WRITE | DENYOOM, keys=ONE_KEY, group="list", since="2.2.0",
         summary="Insert an element before or after another element in a list",
         complexity="O(N) where N is the number of elements to traverse before seeing the value "
                    "pivot. This means that inserting somewhere on the left end on the list "
                    "(head) can be considered O(1) and inserting somewhere on the right end "
                    "(tail) is O(N).",
         key_flags=INSERTS)
def linsert(ctx, args):
    """LINSERT key <BEFORE | AFTER> pivot element"""
    key, where, pivot, element = args
    where = keyword(where)
    if where not in ("BEFORE", "AFTER"):
        raise RedisError(errors.SYNTAX)
    items = ctx.db.lookup_for_write(key, deque)
    if items is None:
        return 0
    try:
        index = items.index(pivot)
    except ValueError:
        return -1  # no such pivot: nothing inserted
    items.insert(index + (where == "AFTER"), element)
    ctx.db.modified(key)
    ctx.db.signal_ready(key)
    return len(items)


# --------------------------------------------------------------------------- popping

@command("lpop", arity=-2, flags=WRITE | FAST, keys=ONE_KEY, group="list",
         summary="Remove and get the first elements in a list",
         complexity="O(N) where N is the number of elements returned", key_flags=TAKES)
def lpop(ctx, args):
    """LPOP key [count]"""
    return _pop_command(ctx, args, left=True)


@command("rpop", arity=-2, flags=WRITE | FAST, keys=ONE_KEY, group="list",
         summary="Remove and get the last elements in a list",
         complexity="O(N) where N is the number of elements returned", key_flags=TAKES)
def rpop(ctx, args):
    """RPOP key [count]"""
    return _pop_command(ctx, args, left=False)


def _pop_command(ctx, args: list[bytes], left: bool):
    """LPOP/RPOP. Without a count the reply is one element (or nil); with a count it is
    an array, even of one, and a missing key is a *null array* (RESP2 `*-1`)."""
    if len(args) > 2:
        raise RedisError(errors.wrong_arity(ctx.command.name))
    count = parse_int_at_least(args[1], 0, errors.NOT_POSITIVE) if len(args) == 2 else None
    key = args[0]
    items = ctx.db.lookup_for_write(key, deque)
    if items is None:
        return None if count is None else NULL_ARRAY
    if count is None:
        return _pop(ctx.db, key, items, left)[0]
    return _pop(ctx.db, key, items, left, count) if count else []


@command("lmove", arity=5, flags=WRITE | DENYOOM, keys=TWO_KEYS, group="list", since="6.2.0",
         summary="Pop an element from a list, push it to another list and return it",
         key_flags=TAKES)
def lmove(ctx, args):
    """LMOVE source destination <LEFT | RIGHT> <LEFT | RIGHT>"""
    return _move_command(ctx, args[0], args[1], _parse_end(args[2]), _parse_end(args[3]))


@command("rpoplpush", arity=3, flags=WRITE | DENYOOM, keys=TWO_KEYS, group="list", since="1.2.0",
         summary="Remove the last element in a list, prepend it to another list and return it",
         key_flags=TAKES)
def rpoplpush(ctx, args):
    """RPOPLPUSH source destination"""
    return _move_command(ctx, args[0], args[1], from_left=False, to_left=True)


def _move_command(ctx, source: bytes, destination: bytes, from_left: bool, to_left: bool):
    items = ctx.db.lookup_for_write(source, deque)
    if items is None:
        return None
    return _move(ctx.db, source, items, destination, from_left, to_left)


@command("lmpop", arity=-4, flags=WRITE, keys=NO_FIXED_KEYS, group="list", since="7.0.0",
         summary="Pop elements from a list", complexity=MPOP_COMPLEXITY, key_flags=TAKES)
def lmpop(ctx, args):
    """LMPOP numkeys key [key ...] <LEFT | RIGHT> [COUNT count]"""
    keys, end, count = parse_mpop(args, ENDS)
    found = _first_list(ctx.db, keys, strict=True)
    if found is None:
        return NULL_ARRAY
    key, items = found
    return [key, _pop(ctx.db, key, items, end == "LEFT", count)]


def _first_list(db: Database, keys: list[bytes], *, strict: bool) -> tuple[bytes, deque] | None:
    """The first of `keys` holding a list (lists are never empty), or None.

    `strict`: a key of another type is WRONGTYPE, as when the command runs. When a
    blocked client is served later it is skipped instead: Redis 7.0 serves a client
    blocked on lists only from lists, and leaves it waiting otherwise. (Served later,
    Redis pops from the key that was signalled; we pop from the first key with data.
    They differ only when one write fills two of a client's keys, e.g. in MULTI.)
    """
    for key in keys:
        value = db.lookup_for_write(key)
        if type(value) is deque:
            return key, value
        if value is not None and strict:
            raise RedisError(errors.WRONGTYPE)
    return None


# --------------------------------------------------------------------------- blocking pops

@command("blpop", arity=-3, flags=WRITE | NOSCRIPT | BLOCKING, keys=(1, -2, 1), group="list",
         since="2.0.0",
         summary="Remove and get the first element in a list, or block until one is available",
         complexity="O(N) where N is the number of provided keys.", key_flags=TAKES,
         differences=SERVED_FROM_FIRST_KEY)
def blpop(ctx, args):
    """BLPOP key [key ...] timeout"""
    return _blocking_pop(ctx, args[:-1], parse_timeout(args[-1]), left=True)


@command("brpop", arity=-3, flags=WRITE | NOSCRIPT | BLOCKING, keys=(1, -2, 1), group="list",
         since="2.0.0",
         summary="Remove and get the last element in a list, or block until one is available",
         complexity="O(N) where N is the number of provided keys.", key_flags=TAKES,
         differences=SERVED_FROM_FIRST_KEY)
def brpop(ctx, args):
    """BRPOP key [key ...] timeout"""
    return _blocking_pop(ctx, args[:-1], parse_timeout(args[-1]), left=False)


@command("blmpop", arity=-5, flags=WRITE | BLOCKING, keys=NO_FIXED_KEYS, group="list",
         since="7.0.0", summary="Pop elements from a list, or block until one is available",
         complexity=MPOP_COMPLEXITY, key_flags=TAKES, differences=SERVED_FROM_FIRST_KEY)
def blmpop(ctx, args):
    """BLMPOP timeout numkeys key [key ...] <LEFT | RIGHT> [COUNT count]"""
    keys, end, count = parse_mpop(args[1:], ENDS)
    return _blocking_pop(ctx, keys, parse_timeout(args[0]), end == "LEFT", count)


def _blocking_pop(ctx, keys: list[bytes], timeout: float, left: bool, count: int | None = None):
    """BLPOP/BRPOP reply [key, element]; BLMPOP (with a count) [key, [elements...]]."""
    db = ctx.db

    def pop_first(strict: bool):
        found = _first_list(db, keys, strict=strict)
        if found is None:
            return None
        key, items = found
        if count is None:
            return [key, _pop(db, key, items, left)[0]]
        return [key, _pop(db, key, items, left, count)]

    reply = pop_first(strict=True)
    if reply is not None:
        return reply
    return Block(keys, timeout, attempt=lambda: pop_first(strict=False))


@command("blmove", arity=6, flags=WRITE | DENYOOM | NOSCRIPT | BLOCKING, keys=TWO_KEYS,
         group="list", since="6.2.0",
         summary="Pop an element from a list, push it to another list and return it; or block "
                 "until one is available",
         key_flags=TAKES)
def blmove(ctx, args):
    """BLMOVE source destination <LEFT | RIGHT> <LEFT | RIGHT> timeout"""
    from_left, to_left = _parse_end(args[2]), _parse_end(args[3])
    return _blocking_move(ctx, args[0], args[1], from_left, to_left, parse_timeout(args[4]))


@command("brpoplpush", arity=4, flags=WRITE | DENYOOM | NOSCRIPT | BLOCKING, keys=TWO_KEYS,
         group="list", since="2.2.0",
         summary="Pop an element from a list, push it to another list and return it; or block "
                 "until one is available",
         key_flags=TAKES)
def brpoplpush(ctx, args):
    """BRPOPLPUSH source destination timeout"""
    return _blocking_move(ctx, args[0], args[1], False, True, parse_timeout(args[2]))


def _blocking_move(ctx, source: bytes, destination: bytes, from_left: bool, to_left: bool,
                   timeout: float):
    """BLMOVE/BRPOPLPUSH. Only the source is waited on. When a blocked client is served
    and the destination holds another type by then, it gets WRONGTYPE and the element
    stays where it was, as in Redis."""
    db = ctx.db
    reply = _move_command(ctx, source, destination, from_left, to_left)
    if reply is not None:
        return reply

    def attempt():
        items = db.lookup_for_write(source)
        if type(items) is not deque:
            return None
        return _move(db, source, items, destination, from_left, to_left)

    return Block([source], timeout, attempt, nonblocking_reply=None)


# --------------------------------------------------------------------------- reading

@command("llen", arity=2, flags=READONLY | FAST, keys=ONE_KEY, group="list",
         summary="Get the length of a list", key_flags=("RO",))
def llen(ctx, args):
    """LLEN key"""
    items = ctx.db.get(args[0], deque)
    return 0 if items is None else len(items)


@command("lrange", arity=4, flags=READONLY, keys=ONE_KEY, group="list",
         summary="Get a range of elements from a list",
         complexity="O(S+N) where S is the distance of start offset from HEAD for small lists, "
                    "from nearest end (HEAD or TAIL) for large lists; and N is the number of "
                    "elements in the specified range.",
         key_flags=READS)
def lrange(ctx, args):
    """LRANGE key start stop"""
    start, stop = parse_int(args[1]), parse_int(args[2])
    items = ctx.db.get(args[0], deque)
    if items is None:
        return []
    bounds = clamp_range(start, stop, len(items))
    return [] if bounds is None else _slice(items, *bounds)


@command("lindex", arity=3, flags=READONLY, keys=ONE_KEY, group="list",
         summary="Get an element from a list by its index",
         complexity="O(N) where N is the number of elements to traverse to get to the element at "
                    "index. This makes asking for the first or the last element of the list O(1).",
         key_flags=READS)
def lindex(ctx, args):
    """LINDEX key index"""
    items = ctx.db.get(args[0], deque)
    if items is None:
        return None  # before the index is parsed: LINDEX nokey abc is nil, as in Redis
    index = _normalize_index(parse_int(args[1]), len(items))
    return None if index is None else items[index]


@command("lpos", arity=-3, flags=READONLY, keys=ONE_KEY, group="list", since="6.0.6",
         summary="Return the index of matching elements on a list",
         complexity="O(N) where N is the number of elements in the list, for the average case. "
                    "When searching for elements near the head or the tail of the list, or when "
                    "the MAXLEN option is provided, the command may run in constant time.",
         key_flags=READS)
def lpos(ctx, args):
    """LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]"""
    key, element = args[0], args[1]
    rank, count, maxlen = 1, None, 0  # count None: no COUNT, reply one index (or nil)
    for i in range(2, len(args), 2):
        option = keyword(args[i])
        if i + 1 >= len(args):
            raise RedisError(errors.SYNTAX)
        if option == "RANK":
            rank = parse_int(args[i + 1])
            if rank == 0:
                raise RedisError(errors.LPOS_RANK_ZERO)
        elif option == "COUNT":
            count = parse_int_at_least(args[i + 1], 0, errors.LPOS_COUNT_NEGATIVE)
        elif option == "MAXLEN":
            maxlen = parse_int_at_least(args[i + 1], 0, errors.LPOS_MAXLEN_NEGATIVE)
        else:
            raise RedisError(errors.SYNTAX)
    from_tail = rank < 0
    rank = abs(rank)
    if rank > INT64_MAX:
        # C negates RANK -9223372036854775808 to itself, still negative: every match
        # then qualifies, and COUNT's test overflows so it never ends the scan.
        rank, count = 1, None if count is None else 0
    items = ctx.db.get(key, deque)
    if items is None:
        return None if count is None else []
    positions = _find(items, element, rank, 1 if count is None else count, maxlen, from_tail)
    if count is None:
        return positions[0] if positions else None
    return positions


def _find(items: deque, element: bytes, rank: int, count: int, maxlen: int,
          from_tail: bool) -> list[int]:
    """Indexes (from the head) of matches number rank, rank+1... of `element`, scanning
    at most `maxlen` elements (0: all) from one end, stopping after `count` (0: all)."""
    length = len(items)
    scan = reversed(items) if from_tail else iter(items)
    if maxlen:
        scan = islice(scan, maxlen)
    positions: list[int] = []
    matches = 0
    for offset, value in enumerate(scan):
        if value != element:
            continue
        matches += 1
        if matches >= rank:
            positions.append(length - 1 - offset if from_tail else offset)
            if len(positions) == count:
                break
    return positions


# --------------------------------------------------------------------------- changing in place

@command("lset", arity=4, flags=WRITE | DENYOOM, keys=ONE_KEY, group="list",
         summary="Set the value of an element in a list by its index",
         complexity="O(N) where N is the length of the list. Setting either the first or the "
                    "last element of the list is O(1).",
         key_flags=("RW", "update"))
def lset(ctx, args):
    """LSET key index element"""
    key, index, element = args
    items = ctx.db.lookup_for_write(key, deque)
    if items is None:
        raise RedisError(errors.NO_SUCH_KEY)
    position = _normalize_index(parse_int(index), len(items))
    if position is None:
        raise RedisError(errors.INDEX_OUT_OF_RANGE)
    items[position] = element
    ctx.db.modified(key)
    return OK


@command("lrem", arity=4, flags=WRITE, keys=ONE_KEY, group="list",
         summary="Remove elements from a list",
         complexity="O(N+M) where N is the length of the list and M is the number of elements "
                    "removed.",
         key_flags=("RW", "delete"))
def lrem(ctx, args):
    """LREM key count element"""
    key, element = args[0], args[2]
    count = parse_int(args[1])
    items = ctx.db.lookup_for_write(key, deque)
    if items is None:
        return 0
    # count > 0: the first `count` matches from the head; < 0: from the tail; 0: all.
    from_tail = count < 0
    limit = abs(count) or len(items)
    kept, removed = [], 0
    for value in reversed(items) if from_tail else items:
        if removed < limit and value == element:
            removed += 1
        else:
            kept.append(value)
    if removed:
        items.clear()
        items.extend(reversed(kept) if from_tail else kept)
        _after_removal(ctx.db, key, items)
    return removed


@command("ltrim", arity=4, flags=WRITE, keys=ONE_KEY, group="list",
         summary="Trim a list to the specified range",
         complexity="O(N) where N is the number of elements to be removed by the operation.",
         key_flags=("RW", "delete"))
def ltrim(ctx, args):
    """LTRIM key start stop"""
    key = args[0]
    start, stop = parse_int(args[1]), parse_int(args[2])
    items = ctx.db.lookup_for_write(key, deque)
    if items is None:
        return OK
    bounds = clamp_range(start, stop, len(items))
    if bounds is None:
        items.clear()  # an empty range keeps nothing
    else:
        # Popping from the ends costs what is removed, not what is kept: the usual
        # LPUSH + LTRIM 0 99 capped log drops one element per call.
        first, last = bounds
        for _ in range(first):
            items.popleft()
        for _ in range(len(items) - 1 - (last - first)):
            items.pop()
    _after_removal(ctx.db, key, items)
    return OK
