"""The sorted set: a skip list with spans, plus a hash table from member to score.

A sorted set must answer two kinds of question fast. "What is the score of m?" wants
a hash table. "What comes next in (score, member) order, and at which rank?" wants
an ordered structure. So, like Redis's `zset`, we keep both: `member -> score` in a
`DenseDict`, and every (score, member) pair in a skip list ordered by score, then by
member bytes (memcmp order: b"a" < b"ab" < b"b").

Why a skip list and not a balanced tree: it gives the same expected O(log n) search,
insert and delete with far simpler code (no rotations), and an in-order walk is just
following level-0 links, forwards or backwards. Each node gets a random height: level 1
always, and each further level with probability 1/4 (Redis's ZSKIPLIST_P), up to 32.
A search starts at the top level of the header, runs right while the next node is
still "before" the target, and drops a level when it would overshoot:

    level 2:  H ---------------------> 30 -----------------> nil
    level 1:  H --------> 10 --------> 30 --------> 50 ----> nil
    level 0:  H --> 5 --> 10 --> 20 --> 30 --> 40 --> 50 --> nil
              (each link also stores its *span*: how many nodes it jumps over)

Spans are what make ranks O(log n): summing the spans of the links taken on the way to
a node gives its rank, and "the node at rank r" is found by running right while the
running sum stays <= r. Insert and delete adjust the spans of the links they cross.

    operation                                    cost
    ZSCORE, membership                           O(1)        (hash table)
    ZADD / ZREM / score update                   O(log n)    (expected)
    ZRANK, ZCOUNT, ZLEXCOUNT                     O(log n)
    range by rank, score or lex, m results       O(log n + m)
    ZREMRANGEBY*, m removed                      O(log n + m)
    pop min / max                                O(log n)
    random member                                O(1)        (DenseDict slot)

Left out on purpose: Redis's compact "listpack" encoding for small sets. We always use
the skip list, but remember which encoding Redis *would* be using (`compact`), because
it shows through in replies: ZSCAN returns a small set in one step, in order, and a
listpack stores the score -0 as the integer 0.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Iterator, Protocol

from redis_clone.densedict import DenseDict

MAX_LEVEL = 32          # ZSKIPLIST_MAXLEVEL: enough for 4^32 elements
LEVEL_PROBABILITY = 0.25  # ZSKIPLIST_P: the chance that a node reaches one level higher


class RandomSource(Protocol):
    """What the skip list needs from `random`: tests inject a seeded `random.Random`."""

    def random(self) -> float: ...

    def randrange(self, stop: int) -> int: ...


class _Node:
    """One (score, member) pair. `forward[i]` is the next node at level i, and `span[i]`
    how many level-0 steps that link covers; `backward` is the previous level-0 node."""

    __slots__ = ("score", "member", "forward", "span", "backward")

    def __init__(self, level: int, score: float, member: bytes) -> None:
        self.score = score
        self.member = member
        self.forward: list[_Node | None] = [None] * level
        self.span = [0] * level
        self.backward: _Node | None = None


class SkipList:
    """Nodes ordered by (score, member), with 1-based ranks (the header is rank 0).

    The caller (ZSet) guarantees that a (score, member) pair is inserted at most once.
    """

    def __init__(self, rng: RandomSource) -> None:
        self.header = _Node(MAX_LEVEL, 0.0, b"")
        self.tail: _Node | None = None
        self.length = 0
        self.level = 1  # levels in use: the header's links above this are all None
        self._rng = rng

    def _random_level(self) -> int:
        level = 1
        while level < MAX_LEVEL and self._rng.random() < LEVEL_PROBABILITY:
            level += 1
        return level

    def _descend(self, go_right: Callable[[_Node, int], bool]) -> tuple[list[_Node], list[int]]:
        """The one search every operation uses. From the top level down, move right
        while `go_right(next_node, rank_of_next_node)` holds, then drop a level.

        Returns, per level, the last node reached (`update`: the node whose link a new
        or removed node sits behind) and its rank. `go_right` must be monotonic: true
        for a prefix of the list, false after it.
        """
        update = [self.header] * self.level
        ranks = [0] * self.level
        node, rank = self.header, 0
        for i in range(self.level - 1, -1, -1):
            nxt = node.forward[i]
            while nxt is not None and go_right(nxt, rank + node.span[i]):
                rank += node.span[i]
                node = nxt
                nxt = node.forward[i]
            update[i], ranks[i] = node, rank
        return update, ranks

    @staticmethod
    def _before(score: float, member: bytes, *,
                inclusive: bool = False) -> Callable[[_Node, int], bool]:
        """A predicate true for the nodes that sort before (score, member), and for the
        node holding it too when `inclusive`."""
        def before(node: _Node, _rank: int) -> bool:
            if node.score != score:
                return node.score < score
            return node.member <= member if inclusive else node.member < member
        return before

    def insert(self, score: float, member: bytes) -> None:
        update, ranks = self._descend(self._before(score, member))
        level = self._random_level()
        if level > self.level:
            # New levels start at the header, whose link there spans the whole list.
            for i in range(self.level, level):
                update.append(self.header)
                ranks.append(0)
                self.header.span[i] = self.length
            self.level = level
        node = _Node(level, score, member)
        for i in range(level):
            prev = update[i]
            node.forward[i] = prev.forward[i]
            prev.forward[i] = node
            # `prev` used to jump over span[i] nodes; the new node splits that jump at
            # the point (ranks[0] - ranks[i]) steps after prev, plus itself.
            node.span[i] = prev.span[i] - (ranks[0] - ranks[i])
            prev.span[i] = ranks[0] - ranks[i] + 1
        for i in range(level, self.level):
            update[i].span[i] += 1  # links above the new node now jump over one more
        node.backward = None if update[0] is self.header else update[0]
        if node.forward[0] is not None:
            node.forward[0].backward = node
        else:
            self.tail = node
        self.length += 1

    def delete(self, score: float, member: bytes) -> None:
        update, _ = self._descend(self._before(score, member))
        node = update[0].forward[0]
        assert node is not None and node.score == score and node.member == member
        self._unlink(node, update)

    def _unlink(self, node: _Node, update: list[_Node]) -> None:
        for i in range(self.level):
            if update[i].forward[i] is node:
                update[i].span[i] += node.span[i] - 1
                update[i].forward[i] = node.forward[i]
            else:
                update[i].span[i] -= 1  # the link passes over the node: one step shorter
        if node.forward[0] is not None:
            node.forward[0].backward = node.backward
        else:
            self.tail = node.backward
        while self.level > 1 and self.header.forward[self.level - 1] is None:
            self.level -= 1
        self.length -= 1

    def rank(self, score: float, member: bytes) -> int:
        """The 1-based rank of a pair that is in the list."""
        update, ranks = self._descend(self._before(score, member, inclusive=True))
        assert update[0].member == member
        return ranks[0]

    def at_rank(self, rank: int) -> _Node | None:
        """The node at a 1-based rank, or None past the end."""
        if not 1 <= rank <= self.length:
            return None
        update, _ = self._descend(lambda _node, node_rank: node_rank <= rank)
        return update[0]

    def first_after(self, before: Callable[[_Node], bool]) -> _Node | None:
        """The first node for which the monotonic predicate `before` is false."""
        update, _ = self._descend(lambda node, _rank: before(node))
        return update[0].forward[0]

    def last_while(self, within: Callable[[_Node], bool]) -> _Node | None:
        """The last node for which the monotonic predicate `within` is still true."""
        update, _ = self._descend(lambda node, _rank: within(node))
        return None if update[0] is self.header else update[0]

    def delete_run(self, before: Callable[[_Node, int], bool],
                   inside: Callable[[_Node, int], bool]) -> list[_Node]:
        """Unlink the consecutive nodes that follow the `before` prefix and satisfy
        `inside(node, rank)`, reusing one search: O(log n + removed)."""
        update, ranks = self._descend(before)
        removed = []
        node, rank = update[0].forward[0], ranks[0] + 1
        while node is not None and inside(node, rank):
            nxt = node.forward[0]
            self._unlink(node, update)
            removed.append(node)
            node, rank = nxt, rank + 1
        return removed

    def __iter__(self) -> Iterator[_Node]:
        node = self.header.forward[0]
        while node is not None:
            yield node
            node = node.forward[0]


# --- ranges -------------------------------------------------------------------------

class Range(Protocol):
    """A score or lex interval; both kinds drive the same skip-list searches."""

    def above_min(self, node: _Node) -> bool: ...

    def below_max(self, node: _Node) -> bool: ...


@dataclass(frozen=True)
class ScoreRange:
    """min <= score <= max, where either end may be exclusive: ZRANGEBYSCORE's "(1.5"."""

    min: float
    max: float
    min_exclusive: bool = False
    max_exclusive: bool = False

    def above_min(self, node: _Node) -> bool:
        return node.score > self.min if self.min_exclusive else node.score >= self.min

    def below_max(self, node: _Node) -> bool:
        return node.score < self.max if self.max_exclusive else node.score <= self.max


# Lex bounds are compared as (rank of the kind, bytes): "-" sorts before every member
# and "+" after every one, whatever the bytes, as Redis's sdscmplex does.
LEX_MIN = (0, b"")
LEX_MAX = (2, b"")


def lex_bound(member: bytes) -> tuple[int, bytes]:
    return (1, member)


@dataclass(frozen=True)
class LexRange:
    """Members between two bounds in byte order ("[a", "(a", "-", "+"). Meaningful only
    when all scores are equal, since the list is ordered by score first."""

    min: tuple[int, bytes]
    max: tuple[int, bytes]
    min_exclusive: bool = False
    max_exclusive: bool = False

    def above_min(self, node: _Node) -> bool:
        key = (1, node.member)
        return key > self.min if self.min_exclusive else key >= self.min

    def below_max(self, node: _Node) -> bool:
        key = (1, node.member)
        return key < self.max if self.max_exclusive else key <= self.max


# --- the sorted set -----------------------------------------------------------------

class ZSet:
    """A Redis sorted set. Members are bytes, scores floats (never NaN)."""

    __slots__ = ("_scores", "_list", "compact")

    def __init__(self, rng: RandomSource = random, *, compact: bool = True) -> None:
        self._scores = DenseDict()   # member -> score
        self._list = SkipList(rng)
        # True while real Redis would still hold this set as a listpack (see the module
        # docstring). Commands switch it off, for good, when the set outgrows the limits.
        self.compact = compact

    def __len__(self) -> int:
        return len(self._scores)

    def __contains__(self, member: bytes) -> bool:
        return member in self._scores

    def score(self, member: bytes) -> float | None:
        return self._scores.get(member)

    def add(self, member: bytes, score: float) -> bool:
        """Insert the member or move it to its new score; True if it is new."""
        if self.compact and score == 0:
            score = 0.0  # a listpack keeps "-0" as the integer 0
        old = self._scores.get(member)
        if old is not None:
            if old == score:
                return False
            self._list.delete(old, member)
        self._list.insert(score, member)
        self._scores[member] = score
        return old is None

    def remove(self, member: bytes) -> bool:
        score = self._scores.pop(member)
        if score is None:
            return False
        self._list.delete(score, member)
        return True

    def rank(self, member: bytes, *, reverse: bool = False) -> int | None:
        """0-based position of the member (from the highest score when `reverse`)."""
        score = self._scores.get(member)
        if score is None:
            return None
        rank = self._list.rank(score, member)
        return len(self) - rank if reverse else rank - 1

    def __iter__(self) -> Iterator[tuple[bytes, float]]:
        """(member, score) pairs, lowest score first."""
        for node in self._list:
            yield node.member, node.score

    def __reversed__(self) -> Iterator[tuple[bytes, float]]:
        """(member, score) pairs, highest score first."""
        return _walk(self._list.tail, True, -1, lambda node: True)

    # --- ranges: every one yields (member, score) pairs in the order asked --------

    def range_by_rank(self, start: int, stop: int, *,
                      reverse: bool = False) -> Iterator[tuple[bytes, float]]:
        """Ranks start..stop inclusive, 0-based and already clamped to the set."""
        rank = len(self) - start if reverse else start + 1
        return _walk(self._list.at_rank(rank), reverse, stop - start + 1, lambda node: True)

    def range(self, bounds: Range, *, reverse: bool = False, offset: int = 0,
              limit: int = -1) -> Iterator[tuple[bytes, float]]:
        """Members inside a score or lex range; LIMIT skips `offset` elements first
        (counting from the start of the range) and stops after `limit` (-1: no limit)."""
        if reverse:
            node = self._list.last_while(bounds.below_max)
            inside = bounds.above_min
        else:
            node = self._list.first_after(lambda n: not bounds.above_min(n))
            inside = bounds.below_max
        for _ in range(offset):
            if node is None:
                break
            node = node.backward if reverse else node.forward[0]
        return _walk(node, reverse, limit, inside)

    def count(self, bounds: Range) -> int:
        """How many members fall inside the range: a difference of two ranks."""
        first = self._list.first_after(lambda n: not bounds.above_min(n))
        if first is None or not bounds.below_max(first):
            return 0
        last = self._list.last_while(bounds.below_max)
        rank = self._list.rank
        return rank(last.score, last.member) - rank(first.score, first.member) + 1

    def remove_range_by_rank(self, start: int, stop: int) -> int:
        """Remove ranks start..stop inclusive (0-based, clamped); how many went."""
        removed = self._list.delete_run(lambda _node, rank: rank <= start,
                                        lambda _node, rank: rank <= stop + 1)
        return self._forget(removed)

    def remove_range(self, bounds: Range) -> int:
        removed = self._list.delete_run(lambda node, _rank: not bounds.above_min(node),
                                        lambda node, _rank: bounds.below_max(node))
        return self._forget(removed)

    def _forget(self, removed: list[_Node]) -> int:
        for node in removed:
            self._scores.pop(node.member)
        return len(removed)

    def pop(self, *, highest: bool = False) -> tuple[bytes, float]:
        """Remove and return the member with the lowest (or highest) score."""
        node = self._list.tail if highest else self._list.header.forward[0]
        assert node is not None, "pop from an empty sorted set"
        self.remove(node.member)
        return node.member, node.score

    # --- sampling and scanning -------------------------------------------------------

    def random_item(self, rng: RandomSource = random) -> tuple[bytes, float]:
        item = self._scores.random_item(rng)
        assert item is not None, "random member of an empty sorted set"
        return item

    def scan(self, cursor: int, count: int) -> tuple[int, list[bytes]]:
        """One ZSCAN step over the members (DenseDict's stateless cursor)."""
        return self._scores.scan(cursor, count)

    def copy(self) -> "ZSet":
        clone = ZSet(self._list._rng, compact=self.compact)
        for member, score in self:
            clone.add(member, score)
        return clone

    def __deepcopy__(self, memo) -> "ZSet":
        # copy.deepcopy would recurse along the node links, one Python frame per
        # node, and overflow the stack on a big set: rebuild it instead (COPY uses this).
        return self.copy()

    def __repr__(self) -> str:
        return f"ZSet({list(self)!r})"


def _walk(node: _Node | None, reverse: bool, limit: int,
          inside: Callable[[_Node], bool]) -> Iterator[tuple[bytes, float]]:
    """Follow level-0 links from `node` while `inside` holds, at most `limit` nodes
    (a negative limit means no limit)."""
    while node is not None and limit != 0 and inside(node):
        yield node.member, node.score
        node = node.backward if reverse else node.forward[0]
        limit -= 1
