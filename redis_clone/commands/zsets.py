"""Sorted-set commands (Redis's t_zset.c): ZADD, ranges, pops, set algebra, scanning.

The command layer over `redis_clone.zset.ZSet` (skip list + hash table; that module
explains the structure and its costs): arguments are parsed as Redis parses them, with
the same errors in the same order (options, then numbers, then the key's type).
Scores are C doubles read with strtod() rules ("inf", "1e3", "0x1p4", never NaN; "(1.5"
makes a range bound exclusive) and sent back as floats, which `common.resp` prints
with %.17g as a RESP2 bulk string or a RESP3 double. WITHSCORES replies are flat in
RESP2 and [member, score] pairs in RESP3. No empty sorted set is ever stored, and
writes that add members wake clients blocked in BZPOPMIN & co.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from common.resp import INT64_MAX, NULL_ARRAY, format_double
from redis_clone import errors
from redis_clone.arguments import (clamp_range, keyword, parse_float, parse_int,
                                   parse_int_at_least, parse_int_in_range, parse_mpop, strtod)
from redis_clone.blocking import SERVED_FROM_FIRST_KEY, Block, parse_timeout
from redis_clone.commands.keys import (SCAN_COMPLEXITY, key_matcher, parse_scan_cursor,
                                       parse_scan_options)
from redis_clone.errors import RedisError
from redis_clone.keyspace import TYPE_NAMES
from redis_clone.registry import BLOCKING, DENYOOM, FAST, NOSCRIPT, READONLY, WRITE, command
from redis_clone.zset import LEX_MAX, LEX_MIN, LexRange, ScoreRange, ZSet, lex_bound

TYPE_NAMES[ZSet] = "zset"

ONE_KEY = (1, 1, 1)
MOVABLE_KEYS = (0, 0, 0)  # keys found through numkeys: COMMAND INFO lists no range
GROUP = "sorted-set"
# Key-spec flags (COMMAND INFO) where Redis's differ from the usual read/write ones.
ADDS = ("RW", "update")
REMOVES = ("RW", "delete")
TAKES = ("RW", "access", "delete")

Pairs = list[tuple[bytes, float]]


# --- reading scores and ranges ------------------------------------------------------

def parse_score_range(low: bytes, high: bytes) -> ScoreRange:
    """ZRANGEBYSCORE's min and max (zslParseRange): "(" makes a bound exclusive.

    Redis reads bounds with a bare strtod(), more lenient than ZADD's scores: leading
    spaces pass, an empty bound is 0, "1e999" is inf. Only NaN and trailing junk fail.
    """
    (lo, lo_ex), (hi, hi_ex) = _score_bound(low), _score_bound(high)
    return ScoreRange(lo, hi, lo_ex, hi_ex)


def _score_bound(arg: bytes) -> tuple[float, bool]:
    text = arg.split(b"\0", 1)[0]  # a C string ends at the first NUL
    exclusive = text[:1] == b"("
    if exclusive:
        text = text[1:]
    number = strtod(text)
    if number.length != len(text) or math.isnan(number.value):
        raise RedisError(errors.MIN_MAX_NOT_FLOAT)
    return number.value, exclusive


def parse_lex_range(low: bytes, high: bytes) -> LexRange:
    """ZRANGEBYLEX's min and max: "[a" inclusive, "(a" exclusive, "-" and "+" the ends."""
    (lo, lo_ex), (hi, hi_ex) = _lex_bound(low), _lex_bound(high)
    return LexRange(lo, hi, lo_ex, hi_ex)


def _lex_bound(arg: bytes) -> tuple[tuple[int, bytes], bool]:
    lead, rest = arg[:1], arg[1:]
    # "-" and "+" must stand alone, but Redis tests that with C's c[1] == '\0', so a
    # NUL byte right after them still counts as the end.
    if lead in (b"-", b"+") and rest[:1] in (b"", b"\0"):
        return (LEX_MIN if lead == b"-" else LEX_MAX), True
    if lead == b"(" or lead == b"[":
        return lex_bound(rest), lead == b"("
    raise RedisError(errors.LEX_RANGE_INVALID)


# --- shaping replies ------------------------------------------------------------------

def scored_reply(ctx, pairs: Iterable[tuple[bytes, float]], withscores: bool) -> list:
    """Members, or members with scores: flat in RESP2, [member, score] pairs in RESP3."""
    if not withscores:
        return [member for member, _ in pairs]
    if ctx.client.protocol == 3:
        return [[member, score] for member, score in pairs]
    return [item for pair in pairs for item in pair]


# --- writing --------------------------------------------------------------------------

def _fits_listpack(ctx, entries: int, longest_member: int) -> bool:
    """Would Redis keep a sorted set this big in its compact listpack encoding?"""
    config = ctx.server.config
    return (entries <= config.get_int("zset-max-listpack-entries")
            and longest_member <= config.get_int("zset-max-listpack-value"))


def _admit(ctx, zset: ZSet, member: bytes) -> None:
    """Before a new member goes in: does Redis now convert the set to a skip list?
    (It never converts back, however small the set gets again.)"""
    if zset.compact and not _fits_listpack(ctx, len(zset) + 1, len(member)):
        zset.compact = False


def _store(ctx, key: bytes, zset: ZSet) -> int:
    """The STORE commands' ending: replace `key` (dropping its TTL) or delete it when
    the result is empty; the reply is the new cardinality."""
    if not zset:
        ctx.db.delete(key)
        return 0
    ctx.db.set(key, zset)  # set() also wakes clients blocked on `key`
    return len(zset)


def _after_removal(ctx, key: bytes, zset: ZSet, removed: int) -> int:
    if removed:
        if zset:
            ctx.db.modified(key)
        else:
            ctx.db.delete(key)
    return removed


# --- ZADD and ZINCRBY -----------------------------------------------------------------

ZADD_FLAGS = ("NX", "XX", "GT", "LT", "CH", "INCR")
ADDED, UPDATED, UNCHANGED, SKIPPED = "added", "updated", "unchanged", "skipped"


@command("zadd", arity=-4, flags=WRITE | DENYOOM | FAST, keys=ONE_KEY, group=GROUP,
         since="1.2.0",
         summary="Add one or more members to a sorted set, or update its score if it already "
                 "exists",
         complexity="O(log(N)) for each item added, where N is the number of elements in the "
                    "sorted set.", key_flags=ADDS)
def zadd(ctx, args):
    """ZADD key [NX | XX] [GT | LT] [CH] [INCR] score member [score member ...]"""
    return _zadd(ctx, args, incr=False)


@command("zincrby", arity=4, flags=WRITE | DENYOOM | FAST, keys=ONE_KEY, group=GROUP,
         since="1.2.0", summary="Increment the score of a member in a sorted set",
         complexity="O(log(N)) where N is the number of elements in the sorted set.")
def zincrby(ctx, args):
    """ZINCRBY key increment member"""
    # Redis runs ZINCRBY through ZADD's own parser, flags included: so an increment
    # spelled "nx" is read as the NX flag, leaving one argument: a syntax error.
    return _zadd(ctx, args, incr=True)


def _zadd(ctx, args: list[bytes], *, incr: bool):
    """ZADD and ZINCRBY (zaddGenericCommand). Every check runs before any change, so
    the command applies fully or not at all (a NaN sum can only come from INCR, which
    takes a single pair)."""
    key = args[0]
    flags: set[str] = set()
    i = 1
    while i < len(args) and keyword(args[i]) in ZADD_FLAGS:
        flags.add(keyword(args[i]))
        i += 1
    pairs = args[i:]
    if not pairs or len(pairs) % 2:
        raise RedisError(errors.SYNTAX)
    if {"NX", "XX"} <= flags:
        raise RedisError(errors.ZADD_NX_AND_XX)
    if "NX" in flags and flags & {"GT", "LT"} or {"GT", "LT"} <= flags:
        raise RedisError(errors.GT_LT_NX)
    incr = incr or "INCR" in flags
    if incr and len(pairs) > 2:
        raise RedisError(errors.ZADD_INCR_SINGLE_PAIR)
    scores = [parse_float(arg) for arg in pairs[::2]]

    db = ctx.db
    zset = db.lookup_for_write(key, ZSet)
    if zset is None:
        if "XX" in flags:
            return None if incr else 0
        zset = ZSet()
        db.set(key, zset)
    counts = {ADDED: 0, UPDATED: 0, UNCHANGED: 0, SKIPPED: 0}
    score = None
    for increment_or_score, member in zip(scores, pairs[1::2]):
        outcome, score = _zadd_one(ctx, zset, member, increment_or_score, flags, incr)
        counts[outcome] += 1
    if counts[ADDED] or counts[UPDATED]:
        db.modified(key)
    if counts[ADDED]:
        db.signal_ready(key)
    if incr:
        return score if counts[SKIPPED] == 0 else None
    return counts[ADDED] + (counts[UPDATED] if "CH" in flags else 0)


def _zadd_one(ctx, zset: ZSet, member: bytes, score: float, flags: set[str],
              incr: bool) -> tuple[str, float]:
    """One score-member pair under ZADD's rules (Redis's zsetAdd): what happened to
    it, and the score it has now."""
    current = zset.score(member)
    if current is None:
        if "XX" in flags:
            return SKIPPED, score
        _admit(ctx, zset, member)
        zset.add(member, score)
        return ADDED, score
    if "NX" in flags:
        return SKIPPED, current
    if incr:
        score += current
        if math.isnan(score):  # inf + -inf
            raise RedisError(errors.SCORE_NAN)
    # GT/LT compare with the current score, and never stop a new member being added.
    if ("LT" in flags and score >= current) or ("GT" in flags and score <= current):
        return SKIPPED, current
    if score == current:
        return UNCHANGED, score
    zset.add(member, score)
    return UPDATED, score


# --- single-member reads and removal --------------------------------------------------

@command("zrem", arity=-3, flags=WRITE | FAST, keys=ONE_KEY, group=GROUP, since="1.2.0",
         summary="Remove one or more members from a sorted set",
         complexity="O(M*log(N)) with N being the number of elements in the sorted set and M "
                    "the number of elements to be removed.", key_flags=REMOVES)
def zrem(ctx, args):
    """ZREM key member [member ...]"""
    zset = ctx.db.lookup_for_write(args[0], ZSet)
    if zset is None:
        return 0
    return _after_removal(ctx, args[0], zset, sum(zset.remove(member) for member in args[1:]))


@command("zcard", arity=2, flags=READONLY | FAST, keys=ONE_KEY, group=GROUP, since="1.2.0",
         summary="Get the number of members in a sorted set", key_flags=("RO",))
def zcard(ctx, args):
    """ZCARD key"""
    zset = ctx.db.get(args[0], ZSet)
    return 0 if zset is None else len(zset)


@command("zscore", arity=3, flags=READONLY | FAST, keys=ONE_KEY, group=GROUP, since="1.2.0",
         summary="Get the score associated with the given member in a sorted set")
def zscore(ctx, args):
    """ZSCORE key member"""
    zset = ctx.db.get(args[0], ZSet)
    return None if zset is None else zset.score(args[1])


@command("zmscore", arity=-3, flags=READONLY | FAST, keys=ONE_KEY, group=GROUP, since="6.2.0",
         summary="Get the score associated with the given members in a sorted set",
         complexity="O(N) where N is the number of members being requested.")
def zmscore(ctx, args):
    """ZMSCORE key member [member ...]"""
    zset = ctx.db.get(args[0], ZSet)
    return [None if zset is None else zset.score(member) for member in args[1:]]


@command("zrank", arity=3, flags=READONLY | FAST, keys=ONE_KEY, group=GROUP, since="2.0.0",
         summary="Determine the index of a member in a sorted set", complexity="O(log(N))")
def zrank(ctx, args):
    """ZRANK key member"""
    zset = ctx.db.get(args[0], ZSet)
    return None if zset is None else zset.rank(args[1])


@command("zrevrank", arity=3, flags=READONLY | FAST, keys=ONE_KEY, group=GROUP, since="2.0.0",
         summary="Determine the index of a member in a sorted set, with scores ordered from "
                 "high to low", complexity="O(log(N))")
def zrevrank(ctx, args):
    """ZREVRANK key member"""
    zset = ctx.db.get(args[0], ZSet)
    return None if zset is None else zset.rank(args[1], reverse=True)


@command("zcount", arity=4, flags=READONLY | FAST, keys=ONE_KEY, group=GROUP, since="2.0.0",
         summary="Count the members in a sorted set with scores within the given values",
         complexity="O(log(N)) with N being the number of elements in the sorted set.")
def zcount(ctx, args):
    """ZCOUNT key min max"""
    bounds = parse_score_range(args[1], args[2])
    zset = ctx.db.get(args[0], ZSet)
    return 0 if zset is None else zset.count(bounds)


@command("zlexcount", arity=4, flags=READONLY | FAST, keys=ONE_KEY, group=GROUP, since="2.8.9",
         summary="Count the number of members in a sorted set between a given lexicographical "
                 "range",
         complexity="O(log(N)) with N being the number of elements in the sorted set.")
def zlexcount(ctx, args):
    """ZLEXCOUNT key min max"""
    bounds = parse_lex_range(args[1], args[2])
    zset = ctx.db.get(args[0], ZSet)
    return 0 if zset is None else zset.count(bounds)


# --- ranges: ZRANGE and its older spellings -------------------------------------------

RANK, SCORE, LEX = "rank", "score", "lex"


@dataclass
class RangeQuery:
    """A parsed ZRANGE: which elements, in which order, and what to reply."""

    by: str
    reverse: bool
    start: int = 0
    stop: int = 0
    bounds: ScoreRange | LexRange | None = None
    offset: int = 0
    limit: int = -1   # -1: no LIMIT
    withscores: bool = False

    def run(self, zset: ZSet) -> Pairs:
        if self.by == RANK:
            ranks = clamp_range(self.start, self.stop, len(zset))
            return [] if ranks is None else list(zset.range_by_rank(*ranks, reverse=self.reverse))
        if self.offset < 0:
            return []  # Redis's `while (ln && offset--)` walks off the end of the set
        return list(zset.range(self.bounds, reverse=self.reverse, offset=self.offset,
                               limit=self.limit))


def parse_range(args: list[bytes], *, by: str | None = None, reverse: bool | None = None,
                store: bool = False) -> RangeQuery:
    """`key min max [options]` as zrangeGenericCommand reads it, errors in its order.

    The old commands fix `by` and `reverse`, and then their keywords (BYSCORE, REV...)
    are syntax errors, as is any such keyword given twice to ZRANGE.
    """
    withscores, offset, limit = False, 0, -1
    i = 3
    while i < len(args):
        option, left = keyword(args[i]), len(args) - i - 1
        if option == "WITHSCORES" and not store:
            withscores = True
        elif option == "LIMIT" and left >= 2:
            offset, limit = parse_int(args[i + 1]), parse_int(args[i + 2])
            i += 2
        elif option == "REV" and reverse is None:
            reverse = True
        elif option in ("BYSCORE", "BYLEX") and by is None:
            by = SCORE if option == "BYSCORE" else LEX
        else:
            raise RedisError(errors.SYNTAX)
        i += 1
    by = by or RANK
    reverse = bool(reverse)
    if limit != -1 and by == RANK:
        raise RedisError(errors.LIMIT_NEEDS_BYSCORE_OR_BYLEX)
    if withscores and by == LEX:
        raise RedisError(errors.WITHSCORES_WITH_BYLEX)
    low, high = args[1], args[2]
    if reverse and by != RANK:
        low, high = high, low  # a reversed score or lex range is written max first
    query = RangeQuery(by, reverse, offset=offset, limit=limit, withscores=withscores)
    if by == RANK:
        query.start, query.stop = parse_int(low), parse_int(high)
    elif by == SCORE:
        query.bounds = parse_score_range(low, high)
    else:
        query.bounds = parse_lex_range(low, high)
    return query


def _range_reply(ctx, args: list[bytes], **fixed) -> list:
    query = parse_range(args, **fixed)
    zset = ctx.db.get(args[0], ZSet)
    if zset is None:
        return []
    return scored_reply(ctx, query.run(zset), query.withscores)


RANGE_COMPLEXITY = ("O(log(N)+M) with N being the number of elements in the sorted set and M the "
                    "number of elements returned.")
BY_COMPLEXITY = ("O(log(N)+M) with N being the number of elements in the sorted set and M the "
                 "number of elements being returned. If M is constant (e.g. always asking for "
                 "the first 10 elements with LIMIT), you can consider it O(log(N)).")


@command("zrange", arity=-4, flags=READONLY, keys=ONE_KEY, group=GROUP, since="1.2.0",
         summary="Return a range of members in a sorted set", complexity=RANGE_COMPLEXITY)
def zrange(ctx, args):
    """ZRANGE key start stop [BYSCORE | BYLEX] [REV] [LIMIT offset count] [WITHSCORES]"""
    return _range_reply(ctx, args)


@command("zrevrange", arity=-4, flags=READONLY, keys=ONE_KEY, group=GROUP, since="1.2.0",
         summary="Return a range of members in a sorted set, by index, with scores ordered "
                 "from high to low", complexity=RANGE_COMPLEXITY)
def zrevrange(ctx, args):
    """ZREVRANGE key start stop [WITHSCORES]"""
    return _range_reply(ctx, args, by=RANK, reverse=True)


@command("zrangebyscore", arity=-4, flags=READONLY, keys=ONE_KEY, group=GROUP, since="1.0.5",
         summary="Return a range of members in a sorted set, by score", complexity=BY_COMPLEXITY)
def zrangebyscore(ctx, args):
    """ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]"""
    return _range_reply(ctx, args, by=SCORE, reverse=False)


@command("zrevrangebyscore", arity=-4, flags=READONLY, keys=ONE_KEY, group=GROUP, since="2.2.0",
         summary="Return a range of members in a sorted set, by score, with scores ordered "
                 "from high to low", complexity=BY_COMPLEXITY)
def zrevrangebyscore(ctx, args):
    """ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]"""
    return _range_reply(ctx, args, by=SCORE, reverse=True)


@command("zrangebylex", arity=-4, flags=READONLY, keys=ONE_KEY, group=GROUP, since="2.8.9",
         summary="Return a range of members in a sorted set, by lexicographical range",
         complexity=BY_COMPLEXITY)
def zrangebylex(ctx, args):
    """ZRANGEBYLEX key min max [LIMIT offset count]"""
    return _range_reply(ctx, args, by=LEX, reverse=False)


@command("zrevrangebylex", arity=-4, flags=READONLY, keys=ONE_KEY, group=GROUP, since="2.8.9",
         summary="Return a range of members in a sorted set, by lexicographical range, "
                 "ordered from higher to lower strings.", complexity=BY_COMPLEXITY)
def zrevrangebylex(ctx, args):
    """ZREVRANGEBYLEX key max min [LIMIT offset count]"""
    return _range_reply(ctx, args, by=LEX, reverse=True)


@command("zrangestore", arity=-5, flags=WRITE | DENYOOM, keys=(1, 2, 1), group=GROUP,
         since="6.2.0", summary="Store a range of members from sorted set into another key",
         complexity="O(log(N)+M) with N being the number of elements in the sorted set and M "
                    "the number of elements stored into the destination key.")
def zrangestore(ctx, args):
    """ZRANGESTORE dst src min max [BYSCORE | BYLEX] [REV] [LIMIT offset count]"""
    query = parse_range(args[1:], store=True)
    source = ctx.db.get(args[1], ZSet)
    pairs = [] if source is None else query.run(source)
    # Redis sizes the new set up front only when it knows the count (a rank range);
    # otherwise it starts compact and converts as members arrive, like ZADD.
    zset = ZSet(compact=_fits_listpack(ctx, len(pairs) if query.by == RANK else 0, 0))
    for member, score in pairs:
        _admit(ctx, zset, member)
        zset.add(member, score)
    return _store(ctx, args[0], zset)


# --- removing ranges -----------------------------------------------------------------

REMRANGE_COMPLEXITY = ("O(log(N)+M) with N being the number of elements in the sorted set and "
                       "M the number of elements removed by the operation.")


@command("zremrangebyrank", arity=4, flags=WRITE, keys=ONE_KEY, group=GROUP, since="2.0.0",
         summary="Remove all members in a sorted set within the given indexes",
         complexity=REMRANGE_COMPLEXITY, key_flags=REMOVES)
def zremrangebyrank(ctx, args):
    """ZREMRANGEBYRANK key start stop"""
    start, stop = parse_int(args[1]), parse_int(args[2])
    zset = ctx.db.lookup_for_write(args[0], ZSet)
    if zset is None:
        return 0
    ranks = clamp_range(start, stop, len(zset))
    removed = 0 if ranks is None else zset.remove_range_by_rank(*ranks)
    return _after_removal(ctx, args[0], zset, removed)


@command("zremrangebyscore", arity=4, flags=WRITE, keys=ONE_KEY, group=GROUP, since="1.2.0",
         summary="Remove all members in a sorted set within the given scores",
         complexity=REMRANGE_COMPLEXITY, key_flags=REMOVES)
def zremrangebyscore(ctx, args):
    """ZREMRANGEBYSCORE key min max"""
    return _remove_range(ctx, args[0], parse_score_range(args[1], args[2]))


@command("zremrangebylex", arity=4, flags=WRITE, keys=ONE_KEY, group=GROUP, since="2.8.9",
         summary="Remove all members in a sorted set between the given lexicographical range",
         complexity=REMRANGE_COMPLEXITY, key_flags=REMOVES)
def zremrangebylex(ctx, args):
    """ZREMRANGEBYLEX key min max"""
    return _remove_range(ctx, args[0], parse_lex_range(args[1], args[2]))


def _remove_range(ctx, key: bytes, bounds: ScoreRange | LexRange) -> int:
    zset = ctx.db.lookup_for_write(key, ZSet)
    if zset is None:
        return 0
    return _after_removal(ctx, key, zset, zset.remove_range(bounds))


# --- popping ------------------------------------------------------------------------

POP_COMPLEXITY = ("O(log(N)*M) with N being the number of elements in the sorted set, and M "
                  "being the number of elements popped.")


@command("zpopmin", arity=-2, flags=WRITE | FAST, keys=ONE_KEY, group=GROUP, since="5.0.0",
         summary="Remove and return members with the lowest scores in a sorted set",
         complexity=POP_COMPLEXITY, key_flags=TAKES)
def zpopmin(ctx, args):
    """ZPOPMIN key [count]"""
    return _zpop(ctx, args, highest=False)


@command("zpopmax", arity=-2, flags=WRITE | FAST, keys=ONE_KEY, group=GROUP, since="5.0.0",
         summary="Remove and return members with the highest scores in a sorted set",
         complexity=POP_COMPLEXITY, key_flags=TAKES)
def zpopmax(ctx, args):
    """ZPOPMAX key [count]"""
    return _zpop(ctx, args, highest=True)


def _zpop(ctx, args: list[bytes], *, highest: bool) -> list:
    if len(args) > 2:
        raise RedisError(errors.SYNTAX)
    count = parse_int_at_least(args[1], 0, errors.NOT_POSITIVE) if len(args) == 2 else None
    popped = pop_first(ctx, args[:1], highest, 1 if count is None else count)
    if popped is None:
        return []
    pairs = popped[1]
    if count is None:
        return list(pairs[0])  # one member and its score: a flat array, even in RESP3
    return scored_reply(ctx, pairs, True)


def pop_first(ctx, keys: list[bytes], highest: bool, count: int, *,
              strict: bool = True) -> tuple[bytes, Pairs] | None:
    """Pop up to `count` members from the first of `keys` that holds a sorted set
    (genericZpopCommand); None when none does. A zero count pops nothing.

    `strict`: a key of another type met first is WRONGTYPE, as when the command runs.
    When a blocked client is served later such a key is skipped instead: Redis serves
    a client blocked on sorted sets only from sorted sets.
    """
    db = ctx.db
    for key in keys:
        zset = db.lookup_for_write(key)
        if zset is None or (type(zset) is not ZSet and not strict):
            continue
        if type(zset) is not ZSet:
            raise RedisError(errors.WRONGTYPE)
        popped = [zset.pop(highest=highest) for _ in range(min(count, len(zset)))]
        _after_removal(ctx, key, zset, len(popped))
        return key, popped
    return None


ENDS = ("MIN", "MAX")  # ZMPOP's and BZMPOP's end to pop from
MPOP_COMPLEXITY = ("O(K) + O(M*log(N)) where K is the number of provided keys, N being the "
                   "number of elements in the sorted set, and M being the number of elements "
                   "popped.")


@command("zmpop", arity=-4, flags=WRITE, keys=MOVABLE_KEYS, group=GROUP, since="7.0.0",
         summary="Remove and return members with scores in a sorted set",
         complexity=MPOP_COMPLEXITY)
def zmpop(ctx, args):
    """ZMPOP numkeys key [key ...] <MIN | MAX> [COUNT count]"""
    keys, end, count = parse_mpop(args, ENDS)
    return mpop_reply(pop_first(ctx, keys, end == "MAX", count))


def mpop_reply(popped: tuple[bytes, Pairs] | None):
    """ZMPOP's [key, [[member, score], ...]] (nested in RESP2 too), or a null array."""
    if popped is None:
        return NULL_ARRAY
    key, pairs = popped
    return [key, [[member, score] for member, score in pairs]]


# --- blocking pops ----------------------------------------------------------------------

BZPOP_COMPLEXITY = "O(log(N)) with N being the number of elements in the sorted set."


@command("bzpopmin", arity=-3, flags=WRITE | NOSCRIPT | FAST | BLOCKING, keys=(1, -2, 1),
         group=GROUP, since="5.0.0",
         summary="Remove and return the member with the lowest score from one or more sorted "
                 "sets, or block until one is available",
         complexity=BZPOP_COMPLEXITY, key_flags=TAKES, differences=SERVED_FROM_FIRST_KEY)
def bzpopmin(ctx, args):
    """BZPOPMIN key [key ...] timeout"""
    return _blocking_pop(ctx, args[:-1], parse_timeout(args[-1]), False, 1, _bzpop_reply)


@command("bzpopmax", arity=-3, flags=WRITE | NOSCRIPT | FAST | BLOCKING, keys=(1, -2, 1),
         group=GROUP, since="5.0.0",
         summary="Remove and return the member with the highest score from one or more sorted "
                 "sets, or block until one is available",
         complexity=BZPOP_COMPLEXITY, key_flags=TAKES, differences=SERVED_FROM_FIRST_KEY)
def bzpopmax(ctx, args):
    """BZPOPMAX key [key ...] timeout"""
    return _blocking_pop(ctx, args[:-1], parse_timeout(args[-1]), True, 1, _bzpop_reply)


@command("bzmpop", arity=-5, flags=WRITE | BLOCKING, keys=MOVABLE_KEYS, group=GROUP,
         since="7.0.0",
         summary="Remove and return members with scores in a sorted set or block until one is "
                 "available", complexity=MPOP_COMPLEXITY, differences=SERVED_FROM_FIRST_KEY)
def bzmpop(ctx, args):
    """BZMPOP timeout numkeys key [key ...] <MIN | MAX> [COUNT count]"""
    timeout = parse_timeout(args[0])  # Redis 7.0 reads the timeout before anything else
    keys, end, count = parse_mpop(args[1:], ENDS)
    return _blocking_pop(ctx, keys, timeout, end == "MAX", count, mpop_reply)


def _bzpop_reply(popped: tuple[bytes, Pairs]) -> list:
    """BZPOPMIN's flat [key, member, score]."""
    key, [(member, score)] = popped
    return [key, member, score]


def _blocking_pop(ctx, keys: list[bytes], timeout: float, highest: bool, count: int,
                  shape: Callable[[tuple[bytes, Pairs]], object]):
    """Pop now if one of the keys holds a sorted set; otherwise block until a write
    makes one of them ready (see redis_clone.blocking), or the timeout ends it with a
    null array."""
    def attempt(strict: bool):
        popped = pop_first(ctx, keys, highest, count, strict=strict)
        return None if popped is None else shape(popped)

    reply = attempt(strict=True)
    if reply is not None:
        return reply
    return Block(keys, timeout, attempt=lambda: attempt(strict=False))


# --- set algebra: ZUNION, ZINTER, ZDIFF and their STORE forms ------------------------

UNION, INTER, DIFF = "union", "inter", "diff"
AGGREGATES = {
    # Redis's zunionInterAggregate. inf + -inf is NaN: the sum counts it as 0. MIN and
    # MAX compare with < and >, so a NaN value never replaces the current score.
    "SUM": lambda total, value: 0.0 if math.isnan(total + value) else total + value,
    "MIN": lambda total, value: value if value < total else total,
    "MAX": lambda total, value: value if value > total else total,
}


@dataclass
class SetOp:
    """A parsed ZUNION/ZINTER/ZDIFF: the inputs with their weights, and the options."""

    sources: list[tuple[ZSet | set | None, float]]
    aggregate: str = "SUM"
    withscores: bool = False
    limit: int = 0   # ZINTERCARD: stop counting there (0: no limit)


def parse_setop(ctx, name: str, args: list[bytes], op: str, *, store: bool = False,
                cardinality: bool = False) -> SetOp:
    """`numkeys key [key ...] [options]`, as zunionInterDiffGenericCommand reads it:
    the keys are looked up (and type-checked) *before* the options are parsed.
    Plain sets are valid inputs, every member scoring 1."""
    numkeys = parse_int(args[0])
    if numkeys < 1:
        raise RedisError(errors.at_least_one_input_key(name))
    if numkeys > len(args) - 1:
        raise RedisError(errors.SYNTAX)
    db = ctx.db
    sources = []
    for key in args[1:numkeys + 1]:
        value = db.get(key)  # a read even for the STORE forms, as in Redis
        if value is not None and not isinstance(value, (ZSet, set)):
            raise RedisError(errors.WRONGTYPE)
        sources.append(value)
    setop = SetOp([(source, 1.0) for source in sources])
    weighted = op != DIFF and not cardinality
    i = numkeys + 1
    while i < len(args):
        option, left = keyword(args[i]), len(args) - i
        if weighted and option == "WEIGHTS" and left > numkeys:
            weights = [parse_float(arg, errors.WEIGHT_NOT_FLOAT)
                       for arg in args[i + 1:i + 1 + numkeys]]
            setop.sources = [(source, weight)
                             for (source, _), weight in zip(setop.sources, weights)]
            i += 1 + numkeys
        elif weighted and option == "AGGREGATE" and left >= 2:
            setop.aggregate = keyword(args[i + 1])
            if setop.aggregate not in AGGREGATES:
                raise RedisError(errors.SYNTAX)
            i += 2
        elif not store and not cardinality and option == "WITHSCORES":
            setop.withscores = True
            i += 1
        elif cardinality and option == "LIMIT" and left >= 2:
            setop.limit = parse_int_at_least(args[i + 1], 0, errors.LIMIT_NEGATIVE)
            i += 2
        else:
            raise RedisError(errors.SYNTAX)
    return setop


def _scores_of(source: ZSet | set | None) -> Iterator[tuple[bytes, float]]:
    if source is None:
        return iter(())
    if isinstance(source, set):
        return ((member, 1.0) for member in source)
    return iter(source)


def _score_in(source: ZSet | set | None, member: bytes) -> float | None:
    if source is None:
        return None
    if isinstance(source, set):
        return 1.0 if member in source else None
    return source.score(member)


def compute_setop(setop: SetOp, op: str) -> dict[bytes, float]:
    """member -> score of the result. Union and intersection visit the inputs smallest
    first, as Redis does, so floating-point sums add up in Redis's order too."""
    aggregate = AGGREGATES[setop.aggregate]
    sources = setop.sources
    if op != DIFF:
        sources = sorted(sources, key=lambda item: 0 if item[0] is None else len(item[0]))
    result: dict[bytes, float] = {}
    if op == UNION:
        for source, weight in sources:
            for member, score in _scores_of(source):
                value = _weighted(score, weight)
                result[member] = value if member not in result else aggregate(result[member], value)
    elif op == INTER:
        (first, first_weight), others = sources[0], sources[1:]
        for member, score in _scores_of(first):
            total = _weighted(score, first_weight)
            for source, weight in others:
                other = _score_in(source, member)
                if other is None:
                    break
                total = aggregate(total, other * weight)
            else:
                result[member] = total
                if setop.limit and len(result) >= setop.limit:
                    break
    else:
        first, others = sources[0][0], [source for source, _ in sources[1:]]
        for member, score in _scores_of(first):
            if all(_score_in(source, member) is None for source in others):
                result[member] = score
    return result


def _weighted(score: float, weight: float) -> float:
    value = score * weight
    return 0.0 if math.isnan(value) else value  # 0 * inf


def _setop_reply(ctx, name: str, args: list[bytes], op: str) -> list:
    setop = parse_setop(ctx, name, args, op)
    result = compute_setop(setop, op)
    return scored_reply(ctx, _in_order(result), setop.withscores)


def _setop_store(ctx, name: str, args: list[bytes], op: str) -> int:
    setop = parse_setop(ctx, name, args[1:], op, store=True)
    result = compute_setop(setop, op)
    # Redis builds the result as a skip list, then converts it to a listpack if it is
    # small enough: all members at once, so `compact` is decided up front here.
    zset = ZSet(compact=_fits_listpack(ctx, len(result), max(map(len, result), default=0)))
    for member, score in result.items():
        zset.add(member, score)
    return _store(ctx, args[0], zset)


def _in_order(result: dict[bytes, float]) -> Pairs:
    return sorted(result.items(), key=lambda item: (item[1], item[0]))


UNION_COMPLEXITY = ("O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted "
                    "sets, and M being the number of elements in the resulting sorted set.")
INTER_COMPLEXITY = ("O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, "
                    "K being the number of input sorted sets and M being the number of elements "
                    "in the resulting sorted set.")
DIFF_COMPLEXITY = ("O(L + (N-K)log(N)) worst case where L is the total number of elements in "
                   "all the sets, N is the size of the first set, and K is the size of the "
                   "result set.")


@command("zunion", arity=-3, flags=READONLY, keys=MOVABLE_KEYS, group=GROUP, since="6.2.0",
         summary="Add multiple sorted sets", complexity=UNION_COMPLEXITY)
def zunion(ctx, args):
    """ZUNION numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE <SUM | MIN | MAX>] [WITHSCORES]"""
    return _setop_reply(ctx, "zunion", args, UNION)


@command("zinter", arity=-3, flags=READONLY, keys=MOVABLE_KEYS, group=GROUP, since="6.2.0",
         summary="Intersect multiple sorted sets", complexity=INTER_COMPLEXITY)
def zinter(ctx, args):
    """ZINTER numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE <SUM | MIN | MAX>] [WITHSCORES]"""
    return _setop_reply(ctx, "zinter", args, INTER)


@command("zdiff", arity=-3, flags=READONLY, keys=MOVABLE_KEYS, group=GROUP, since="6.2.0",
         summary="Subtract multiple sorted sets", complexity=DIFF_COMPLEXITY)
def zdiff(ctx, args):
    """ZDIFF numkeys key [key ...] [WITHSCORES]"""
    return _setop_reply(ctx, "zdiff", args, DIFF)


@command("zunionstore", arity=-4, flags=WRITE | DENYOOM, keys=ONE_KEY, group=GROUP, since="2.0.0",
         summary="Add multiple sorted sets and store the resulting sorted set in a new key",
         complexity="O(N)+O(M log(M)) with N being the sum of the sizes of the input sorted "
                    "sets, and M being the number of elements in the resulting sorted set.")
def zunionstore(ctx, args):
    """ZUNIONSTORE destination numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE <SUM | MIN | MAX>]"""
    return _setop_store(ctx, "zunionstore", args, UNION)


@command("zinterstore", arity=-4, flags=WRITE | DENYOOM, keys=ONE_KEY, group=GROUP, since="2.0.0",
         summary="Intersect multiple sorted sets and store the resulting sorted set in a new key",
         complexity=INTER_COMPLEXITY)
def zinterstore(ctx, args):
    """ZINTERSTORE destination numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE <SUM | MIN | MAX>]"""
    return _setop_store(ctx, "zinterstore", args, INTER)


@command("zdiffstore", arity=-4, flags=WRITE | DENYOOM, keys=ONE_KEY, group=GROUP, since="6.2.0",
         summary="Subtract multiple sorted sets and store the resulting sorted set in a new key",
         complexity=DIFF_COMPLEXITY)
def zdiffstore(ctx, args):
    """ZDIFFSTORE destination numkeys key [key ...]"""
    return _setop_store(ctx, "zdiffstore", args, DIFF)


@command("zintercard", arity=-3, flags=READONLY, keys=MOVABLE_KEYS, group=GROUP, since="7.0.0",
         summary="Intersect multiple sorted sets and return the cardinality of the result",
         complexity="O(N*K) worst case with N being the smallest input sorted set, K being the "
                    "number of input sorted sets.")
def zintercard(ctx, args):
    """ZINTERCARD numkeys key [key ...] [LIMIT limit]"""
    setop = parse_setop(ctx, "zintercard", args, INTER, cardinality=True)
    return len(compute_setop(setop, INTER))


# --- sampling and scanning -------------------------------------------------------------

@command("zrandmember", arity=-2, flags=READONLY, keys=ONE_KEY, group=GROUP, since="6.2.0",
         summary="Get one or multiple random elements from a sorted set",
         complexity="O(N) where N is the number of elements returned",
         tips=("nondeterministic_output",))
def zrandmember(ctx, args):
    """ZRANDMEMBER key [count [WITHSCORES]]"""
    if len(args) == 1:
        zset = ctx.db.get(args[0], ZSet)
        return None if zset is None else zset.random_item()[0]
    count = parse_int_in_range(args[1], -INT64_MAX, INT64_MAX)
    if len(args) > 3 or (len(args) == 3 and keyword(args[2]) != "WITHSCORES"):
        raise RedisError(errors.SYNTAX)
    withscores = len(args) == 3
    if withscores and abs(count) > INT64_MAX // 2:
        raise RedisError(errors.VALUE_OUT_OF_RANGE)  # the reply would be 2*count long
    zset = ctx.db.get(args[0], ZSet)
    if zset is None or count == 0:
        return []
    return scored_reply(ctx, _random_pairs(zset, count), withscores)


def _random_pairs(zset: ZSet, count: int) -> Pairs:
    """ZRANDMEMBER's cases: a negative count may repeat members; a count at least the
    size returns the whole set, highest score first (Redis's set-algebra iterator walks
    a sorted set from its tail); otherwise distinct members at random."""
    if count < 0 or count == 1:
        return [zset.random_item() for _ in range(abs(count))]
    if count >= len(zset):
        return list(reversed(zset))
    if count * 3 > len(zset):
        # Asking for most of the set: drawing until `count` distinct ones would take
        # long, so pick from the whole set at once (Redis removes random ones instead).
        return random.sample(list(zset), count)
    picked: dict[bytes, float] = {}
    while len(picked) < count:
        member, score = zset.random_item()
        picked[member] = score
    return list(picked.items())


@command("zscan", arity=-3, flags=READONLY, keys=ONE_KEY, group=GROUP, since="2.8.0",
         summary="Incrementally iterate sorted sets elements and associated scores",
         complexity=SCAN_COMPLEXITY + "..",
         tips=("nondeterministic_output",),
         differences="A set Redis would keep as a listpack comes whole in one reply, in order, "
                     "as in Redis. A bigger one is walked with our member table's slot cursor "
                     "(redis_clone/densedict.py), not Redis's reverse-binary bucket cursor: "
                     "cursor values and member order differ, the guarantee is the same.")
def zscan(ctx, args):
    """ZSCAN key cursor [MATCH pattern] [COUNT count]"""
    cursor = parse_scan_cursor(args[1])
    zset = ctx.db.get(args[0], ZSet)
    if zset is None:
        return [b"0", []]
    pattern, count, _ = parse_scan_options(args[2:], keyspace=False)
    if zset.compact:
        # A listpack cannot be walked a bit at a time: Redis returns all of it in one
        # step, in order, whatever the cursor and COUNT.
        members, cursor = [member for member, _ in zset], 0
    else:
        cursor, members = zset.scan(cursor, count)
    matches = key_matcher(pattern)
    found = []
    for member in members:
        if matches(member):
            found += [member, format_double(zset.score(member))]
    return [str(cursor).encode(), found]
