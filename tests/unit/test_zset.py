"""The sorted set without sockets: the skip list's shape and spans, a property test that
drives random operations against a plain sorted-list model, score and range parsing,
and a few commands run through the dispatcher on a socket-less server.
"""

from __future__ import annotations

import copy
import math
import random
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import redis_clone.commands  # noqa: F401  (registers the commands)
from common.clock import FakeClock
from common.resp import ErrorReply, encode
from redis_clone import errors
from redis_clone.arguments import parse_float, strtod
from redis_clone.commands.zsets import parse_lex_range, parse_score_range
from redis_clone.errors import RedisError
from redis_clone.registry import execute
from redis_clone.state import CommandContext, ServerState
from redis_clone.zset import LEX_MAX, LEX_MIN, MAX_LEVEL, LexRange, ScoreRange, ZSet, lex_bound


class FixedRandom:
    """A random source that always draws the same number: 0.0 grows every node to the
    top level, 0.99 keeps every node at level 1 (a plain linked list)."""

    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value

    def randrange(self, stop: int) -> int:
        return 0


def check_structure(zset: ZSet) -> None:
    """Every level is sorted, every span counts the level-0 steps it jumps, backward
    links mirror forward ones, and the hash table agrees with the list."""
    skiplist = zset._list
    nodes = list(skiplist)
    position = {id(node): rank for rank, node in enumerate(nodes, 1)}
    position[id(skiplist.header)] = 0
    assert skiplist.length == len(nodes) == len(zset)
    assert [(n.score, n.member) for n in nodes] == sorted((n.score, n.member) for n in nodes)
    for level in range(skiplist.level):
        node = skiplist.header
        while True:
            nxt = node.forward[level]
            target = len(nodes) if nxt is None else position[id(nxt)]
            if nxt is not None or node.span[level]:
                assert node.span[level] == target - position[id(node)]
            if nxt is None:
                break
            node = nxt
    for level in range(skiplist.level, MAX_LEVEL):
        assert skiplist.header.forward[level] is None
    previous = None
    for node in nodes:
        assert node.backward is previous
        assert zset.score(node.member) == node.score
        previous = node
    assert skiplist.tail is previous


# --- the skip list --------------------------------------------------------------------

def test_levels_come_from_the_injected_random_source():
    tall, flat = ZSet(FixedRandom(0.0)), ZSet(FixedRandom(0.99))
    for i in range(10):
        tall.add(b"m%d" % i, i)
        flat.add(b"m%d" % i, i)
    assert tall._list.level == MAX_LEVEL
    assert flat._list.level == 1
    for zset in (tall, flat):
        check_structure(zset)
        assert [zset.rank(b"m%d" % i) for i in range(10)] == list(range(10))


def test_the_same_seed_builds_the_same_skip_list():
    def heights(seed: int) -> list[int]:
        zset = ZSet(random.Random(seed))
        for i in range(200):
            zset.add(b"%d" % i, i)
        return [len(node.forward) for node in zset._list]

    assert heights(1) == heights(1)
    assert heights(1) != heights(2)


def test_spans_of_the_header_sum_to_the_rank_of_the_node_they_reach():
    zset = ZSet(random.Random(3))
    for i in range(50):
        zset.add(b"%02d" % i, i)
    header = zset._list.header
    for level in range(zset._list.level):
        node, rank = header.forward[level], header.span[level]
        while node is not None:
            assert zset.rank(node.member) == rank - 1
            rank += node.span[level]
            node = node.forward[level]


def test_members_with_equal_scores_are_ordered_by_their_bytes():
    zset = ZSet(random.Random(0))
    for member in (b"b", b"ab", b"a", b"B", b"", b"a\x00"):
        zset.add(member, 1)
    assert [m for m, _ in zset] == [b"", b"B", b"a", b"a\x00", b"ab", b"b"]


def test_updating_a_score_moves_the_member_and_keeps_one_entry():
    zset = ZSet(random.Random(0))
    assert zset.add(b"a", 1) is True
    zset.add(b"b", 2)
    assert zset.add(b"a", 3) is False
    assert list(zset) == [(b"b", 2), (b"a", 3)]
    check_structure(zset)


def test_a_compact_set_stores_negative_zero_as_zero_and_a_big_one_keeps_it():
    compact, big = ZSet(), ZSet(compact=False)
    compact.add(b"a", -0.0)
    big.add(b"a", -0.0)
    assert math.copysign(1, compact.score(b"a")) == 1
    assert math.copysign(1, big.score(b"a")) == -1


def test_deepcopy_of_a_big_set_is_independent_and_does_not_recurse():
    zset = ZSet(random.Random(0), compact=False)
    for i in range(20000):
        zset.add(b"%d" % i, i)
    clone = copy.deepcopy(zset)
    clone.add(b"new", -1)
    assert len(clone) == 20001 and len(zset) == 20000
    assert clone.compact is False
    assert list(clone)[1:] == list(zset)


def test_scan_returns_every_member_that_stays_in_the_set():
    zset = ZSet(random.Random(0))
    for i in range(100):
        zset.add(b"%d" % i, i)
    seen, cursor = set(), 0
    while True:
        cursor, batch = zset.scan(cursor, 7)
        seen.update(batch)
        zset.add(b"added%d" % len(seen), 0)  # changes during the scan do not hide anyone
        if cursor == 0:
            break
    assert {b"%d" % i for i in range(100)} <= seen


def test_random_items_are_members_with_their_scores():
    zset = ZSet(random.Random(0))
    for i in range(10):
        zset.add(b"%d" % i, i / 2)
    rng = random.Random(5)
    drawn = {zset.random_item(rng) for _ in range(500)}
    assert drawn == set(zset)


# --- random operations against a reference model ------------------------------------

members = st.lists(st.sampled_from([b"a", b"b", b"\x00"]), max_size=2).map(b"".join)
scores = st.sampled_from([-math.inf, -2.5, -1.0, -0.0, 0.0, 1.0, 1.5, 2.0, 1e300, math.inf])
lex_items = st.one_of(st.just(LEX_MIN), st.just(LEX_MAX), members.map(lex_bound))


class ReferenceModel:
    """What a sorted set means, written as plainly as possible: a dict and sorted()."""

    def __init__(self) -> None:
        self.scores: dict[bytes, float] = {}

    def ordered(self) -> list[tuple[bytes, float]]:
        return [(m, s) for s, m in sorted((s, m) for m, s in self.scores.items())]

    def within(self, bounds) -> list[tuple[bytes, float]]:
        def inside(member: bytes, score: float) -> bool:
            if isinstance(bounds, ScoreRange):
                key, low, high = score, bounds.min, bounds.max
            else:
                key, low, high = lex_bound(member), bounds.min, bounds.max
            above = key > low if bounds.min_exclusive else key >= low
            below = key < high if bounds.max_exclusive else key <= high
            return above and below
        return [(m, s) for m, s in self.ordered() if inside(m, s)]


class SortedSetMachine(RuleBasedStateMachine):
    """Two sorted sets follow one model: `scored` with the given scores, `lexical` with
    every score 0 (lex ranges are only meaningful when all scores are equal)."""

    def __init__(self) -> None:
        super().__init__()
        self.model = ReferenceModel()
        self.scored = ZSet(random.Random(0), compact=False)
        self.lexical = ZSet(random.Random(1), compact=False)

    def lexical_model(self) -> ReferenceModel:
        model = ReferenceModel()
        model.scores = dict.fromkeys(self.model.scores, 0.0)
        return model

    @rule(member=members, score=scores)
    def add_or_update(self, member, score):
        assert self.scored.add(member, score) == (member not in self.model.scores)
        self.lexical.add(member, 0.0)
        self.model.scores[member] = score

    @rule(member=members)
    def remove(self, member):
        expected = self.model.scores.pop(member, None) is not None
        assert self.scored.remove(member) == expected
        assert self.lexical.remove(member) == expected

    @rule(member=members, reverse=st.booleans())
    def rank(self, member, reverse):
        ordered = [m for m, _ in self.model.ordered()]
        expected = ordered.index(member) if member in self.model.scores else None
        if reverse and expected is not None:
            expected = len(ordered) - 1 - expected
        assert self.scored.rank(member, reverse=reverse) == expected

    @precondition(lambda self: self.model.scores)
    @rule(data=st.data(), reverse=st.booleans())
    def range_by_rank(self, data, reverse):
        size = len(self.model.scores)
        start = data.draw(st.integers(0, size - 1))
        stop = data.draw(st.integers(start, size - 1))
        ordered = self.model.ordered()
        if reverse:
            ordered.reverse()
        assert list(self.scored.range_by_rank(start, stop, reverse=reverse)) == ordered[start:stop + 1]

    @rule(low=scores, high=scores, low_ex=st.booleans(), high_ex=st.booleans(),
          reverse=st.booleans(), offset=st.integers(0, 4), limit=st.integers(-1, 4))
    def range_by_score(self, low, high, low_ex, high_ex, reverse, offset, limit):
        self._check_range(self.scored, self.model, ScoreRange(low, high, low_ex, high_ex),
                          reverse, offset, limit)

    @rule(low=lex_items, high=lex_items, low_ex=st.booleans(), high_ex=st.booleans(),
          reverse=st.booleans(), offset=st.integers(0, 4), limit=st.integers(-1, 4))
    def range_by_lex(self, low, high, low_ex, high_ex, reverse, offset, limit):
        self._check_range(self.lexical, self.lexical_model(), LexRange(low, high, low_ex, high_ex),
                          reverse, offset, limit)

    @staticmethod
    def _check_range(zset, model, bounds, reverse, offset, limit):
        expected = model.within(bounds)
        if reverse:
            expected.reverse()
        expected = expected[offset:] if limit < 0 else expected[offset:offset + limit]
        assert list(zset.range(bounds, reverse=reverse, offset=offset, limit=limit)) == expected
        assert zset.count(bounds) == len(model.within(bounds))

    @precondition(lambda self: self.model.scores)
    @rule(data=st.data())
    def remove_range_by_rank(self, data):
        size = len(self.model.scores)
        start = data.draw(st.integers(0, size - 1))
        stop = data.draw(st.integers(start, size - 1))
        doomed = self.model.ordered()[start:stop + 1]
        assert self.scored.remove_range_by_rank(start, stop) == len(doomed)
        self._forget(doomed)

    @rule(low=scores, high=scores, low_ex=st.booleans(), high_ex=st.booleans())
    def remove_range_by_score(self, low, high, low_ex, high_ex):
        bounds = ScoreRange(low, high, low_ex, high_ex)
        doomed = self.model.within(bounds)
        assert self.scored.remove_range(bounds) == len(doomed)
        self._forget(doomed)

    @rule(low=lex_items, high=lex_items, low_ex=st.booleans(), high_ex=st.booleans())
    def remove_range_by_lex(self, low, high, low_ex, high_ex):
        bounds = LexRange(low, high, low_ex, high_ex)
        doomed = self.lexical_model().within(bounds)
        assert self.lexical.remove_range(bounds) == len(doomed)
        for member, _ in doomed:
            self.scored.remove(member)
            del self.model.scores[member]

    def _forget(self, doomed):
        for member, _ in doomed:
            self.lexical.remove(member)
            del self.model.scores[member]

    @precondition(lambda self: self.model.scores)
    @rule(highest=st.booleans())
    def pop(self, highest):
        ordered = self.model.ordered()
        expected = ordered[-1] if highest else ordered[0]
        assert self.scored.pop(highest=highest) == expected
        self.lexical.remove(expected[0])
        del self.model.scores[expected[0]]

    @invariant()
    def agrees_with_the_model(self):
        assert list(self.scored) == self.model.ordered()
        assert list(reversed(self.scored)) == self.model.ordered()[::-1]
        assert [m for m, _ in self.lexical] == sorted(self.model.scores)
        check_structure(self.scored)
        check_structure(self.lexical)


SortedSetMachine.TestCase.settings = settings(
    max_examples=300, stateful_step_count=40, deadline=timedelta(seconds=5),
    suppress_health_check=[HealthCheck.too_slow])
test_sorted_set_matches_a_sorted_list_model = SortedSetMachine.TestCase


# --- parsing scores and ranges --------------------------------------------------------

@pytest.mark.parametrize("text,value", [
    (b"1", 1.0), (b"-2.5", -2.5), (b"1e3", 1000.0), (b"+.5", 0.5), (b"5.", 5.0),
    (b"0x10", 16.0), (b"-0X.8P1", -1.0), (b"inf", math.inf), (b"-Infinity", -math.inf),
    (b"+INF", math.inf), (b"4e-320", 4e-320), (b"-0", -0.0),
])
def test_zadd_scores_accept_strtod_syntax(text, value):
    assert parse_float(text) == value


@pytest.mark.parametrize("text", [
    b"", b" 1", b"1 ", b"nan", b"-nan", b"1e400", b"-1e400", b"1e-400", b"0x1p2000",
    b"1\x002", b"1_0", b"1e", b".", b"abc", b"0x",
])
def test_zadd_scores_refuse_what_redis_refuses(text):
    with pytest.raises(RedisError) as raised:
        parse_float(text)
    assert raised.value.message == errors.NOT_FLOAT


def test_strtod_reads_the_longest_number_at_the_start():
    assert strtod(b"  12abc") == (12.0, 4, False)
    assert strtod(b"0x") == (0.0, 1, False)
    assert strtod(b"infinite") == (math.inf, 3, False)
    assert strtod(b"junk").length == 0
    assert strtod(b"1e999").out_of_range


def test_score_range_bounds_are_lenient_like_a_bare_strtod():
    assert parse_score_range(b"(1.5", b"2") == ScoreRange(1.5, 2.0, True, False)
    assert parse_score_range(b"", b"(") == ScoreRange(0.0, 0.0, False, True)
    assert parse_score_range(b"  5", b"1e999") == ScoreRange(5.0, math.inf)
    assert parse_score_range(b"1\x00junk", b"-inf") == ScoreRange(1.0, -math.inf)


@pytest.mark.parametrize("low,high", [(b"a", b"1"), (b"1 ", b"2"), (b"nan", b"1"),
                                      (b"1", b"(nan"), (b"  ", b"1"), (b"[1", b"2")])
def test_bad_score_range_bounds_are_not_a_float(low, high):
    with pytest.raises(RedisError) as raised:
        parse_score_range(low, high)
    assert raised.value.message == errors.MIN_MAX_NOT_FLOAT


def test_lex_range_bounds():
    assert parse_lex_range(b"-", b"+") == LexRange(LEX_MIN, LEX_MAX, True, True)
    assert parse_lex_range(b"[a", b"(b") == LexRange(lex_bound(b"a"), lex_bound(b"b"), False, True)
    assert parse_lex_range(b"[", b"-\x00x").max == LEX_MIN
    for low, high in [(b"a", b"+"), (b"-", b"b"), (b"", b"+"), (b"-a", b"+"), (b"-", b"++")]:
        with pytest.raises(RedisError) as raised:
            parse_lex_range(low, high)
        assert raised.value.message == errors.LEX_RANGE_INVALID


# --- commands through the dispatcher ----------------------------------------------------

@pytest.fixture
def ctx():
    state = ServerState(clock=FakeClock())
    return CommandContext(state, state.clients.register())


@pytest.fixture
def run(ctx):
    def run_command(*args):
        return execute(ctx, [a if isinstance(a, bytes) else str(a).encode() for a in args])
    return run_command


def test_zadd_reports_option_conflicts_before_reading_scores(run):
    assert run("ZADD", "z", "NX", "XX", "x", "a") == ErrorReply(errors.ZADD_NX_AND_XX)
    assert run("ZADD", "z", "GT", "LT", "x", "a") == ErrorReply(errors.GT_LT_NX)
    assert run("ZADD", "z", "INCR", "1", "a", "2", "b") == ErrorReply(errors.ZADD_INCR_SINGLE_PAIR)
    assert run("ZADD", "z", "1", "a", "x", "b") == ErrorReply(errors.NOT_FLOAT)
    assert run("EXISTS", "z") == 0


def test_zincrby_reads_its_increment_through_zadds_option_parser(run):
    assert run("ZINCRBY", "z", "nx", "a") == ErrorReply(errors.SYNTAX)
    assert run("ZINCRBY", "z", "2.5", "a") == 2.5


def test_an_infinite_sum_of_opposite_signs_is_refused_and_changes_nothing(run):
    run("ZADD", "z", "inf", "a")
    assert run("ZINCRBY", "z", "-inf", "a") == ErrorReply(errors.SCORE_NAN)
    assert run("ZSCORE", "z", "a") == math.inf


def test_withscores_is_flat_in_resp2_and_pairs_in_resp3(ctx, run):
    run("ZADD", "z", "1.1", "a", "2", "b")
    flat = run("ZRANGE", "z", "0", "-1", "WITHSCORES")
    assert encode(flat, 2) == b"*4\r\n$1\r\na\r\n$18\r\n1.1000000000000001\r\n$1\r\nb\r\n$1\r\n2\r\n"
    ctx.client.protocol = 3
    pairs = run("ZRANGE", "z", "0", "-1", "WITHSCORES")
    assert encode(pairs, 3) == b"*2\r\n*2\r\n$1\r\na\r\n,1.1000000000000001\r\n*2\r\n$1\r\nb\r\n,2\r\n"


def test_a_sorted_set_leaves_the_compact_encoding_when_it_outgrows_the_limits(ctx, run):
    ctx.server.config.set("zset-max-listpack-entries", "3")
    run("ZADD", "z", "1", "a", "2", "b", "3", "c")
    assert ctx.db.get(b"z").compact
    run("ZADD", "z", "4", "d")
    assert not ctx.db.get(b"z").compact
    run("ZREM", "z", "a", "b")
    assert not ctx.db.get(b"z").compact  # Redis never converts back
    run("ZADD", "long", "1", "x" * 65)
    assert not ctx.db.get(b"long").compact


def test_emptied_sorted_sets_are_deleted(run):
    for command in (("ZREM", "z", "a", "b"), ("ZPOPMIN", "z", "5"), ("ZREMRANGEBYRANK", "z", "0", "-1"),
                    ("ZREMRANGEBYSCORE", "z", "-inf", "inf"), ("ZREMRANGEBYLEX", "z", "-", "+"),
                    ("ZMPOP", "1", "z", "MAX", "COUNT", "2")):
        run("ZADD", "z", "0", "a", "0", "b")
        assert run(*command) in (2, [b"a", 0.0, b"b", 0.0], [b"z", [[b"b", 0.0], [b"a", 0.0]]])
        assert run("EXISTS", "z") == 0, command


def test_zrandmember_with_a_count_past_the_size_returns_the_set_highest_first(run):
    run("ZADD", "z", "1", "a", "2", "b", "3", "c")
    assert run("ZRANDMEMBER", "z", "10") == [b"c", b"b", b"a"]
    assert len(run("ZRANDMEMBER", "z", "-10")) == 10
    assert sorted(run("ZRANDMEMBER", "z", "2")) in ([b"a", b"b"], [b"a", b"c"], [b"b", b"c"])


def test_union_sums_in_redis_order_smallest_input_first(run):
    # 0.3 + 0.1 + 0.2 differs from 0.1 + 0.2 + 0.3 in the last bit; Redis sorts the
    # inputs by size (stably), so a one-member set keeps its place before a bigger one.
    run("ZADD", "a", "0.1", "x")
    run("ZADD", "b", "0.2", "x")
    run("ZADD", "c", "0.3", "x", "1", "y")
    assert run("ZUNION", "3", "c", "a", "b", "WITHSCORES") == [b"x", 0.1 + 0.2 + 0.3, b"y", 1.0]
