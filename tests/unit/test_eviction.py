"""Eviction (eviction.py) without sockets: the LRU clock, the LFU counter's math against
Redis's evict.c formulas, the candidate pool, and each policy's choice of victim.
Time comes from a FakeClock and randomness from seeded generators."""

from __future__ import annotations

import random

import pytest

import redis_clone.commands  # noqa: F401  (registers the commands and value types)
from common.clock import FakeClock
from common.resp import OK
from redis_clone import errors
from redis_clone.errors import RedisError
from redis_clone.eviction import (LFU_INIT_VAL, LRU_CLOCK_MAX, AccessClock, EvictionPool,
                                  Evictor)
from redis_clone.state import ServerState

START = 1_700_000_000.0


class FixedRandom:
    """random.Random's .random() answering a chosen value, to hit LFULogIncr's branches."""

    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


@pytest.fixture
def clock():
    return FakeClock(START)


def test_lru_clock_is_unix_seconds_in_24_bits(clock):
    assert AccessClock(clock).lru_clock() == int(START) & LRU_CLOCK_MAX


def test_idle_time_counts_seconds_since_the_stamp(clock):
    access = AccessClock(clock)
    stamp = access.new_stamp()
    clock.advance(42.9)
    assert access.idle_ms(stamp) == 42_000


def test_idle_time_survives_the_clock_wrapping(clock):
    access = AccessClock(clock)
    now = access.lru_clock()
    stamp = (now + 10) & LRU_CLOCK_MAX  # "in the future": the clock wrapped since
    assert access.idle_ms(stamp) == (now + LRU_CLOCK_MAX - stamp) * 1000


def test_a_new_key_starts_with_lfu_init_val(clock):
    access = AccessClock(clock)
    access.lfu = True
    assert access.new_stamp() & 255 == LFU_INIT_VAL == 5


@pytest.mark.parametrize("counter, factor, r, expected", [
    (5, 10, 0.99, 6),    # at or below LFU_INIT_VAL every hit counts: p = 1
    (3, 10, 0.99, 4),
    (15, 10, 0.0099, 16),  # p = 1 / ((15 - 5) * 10 + 1) = 0.0099...: r below it counts
    (15, 10, 0.0100, 15),  # ... and r at 0.01 does not
    (105, 1, 0.0098, 106),  # p = 1/101
    (255, 10, 0.0, 255),  # saturated
])
def test_lfu_log_incr_follows_redis_probability(clock, counter, factor, r, expected):
    access = AccessClock(clock, rng=FixedRandom(r))
    access.log_factor = factor
    assert access.log_incr(counter) == expected


def test_lfu_counter_needs_about_a_million_hits_to_saturate(clock):
    access = AccessClock(clock, rng=random.Random(1))
    counter = LFU_INIT_VAL
    for _ in range(100_000):
        counter = access.log_incr(counter)
    # Redis's table for factor 10: 100K hits -> 255 is reached only at ~1M.
    assert 130 < counter < 200


def test_lfu_counter_decays_one_per_decay_time_minutes(clock):
    access = AccessClock(clock)
    access.lfu, access.decay_time = True, 2
    stamp = access.minutes() << 8 | 20
    clock.advance(7 * 60)
    assert access.decayed_counter(stamp) == 20 - 3  # 7 minutes = 3 whole periods
    access.decay_time = 0
    assert access.decayed_counter(stamp) == 20      # decay-time 0: never decays


def test_lfu_counter_decays_to_zero_not_below(clock):
    access = AccessClock(clock)
    stamp = access.minutes() << 8 | 3
    clock.advance(3600)
    assert access.decayed_counter(stamp) == 0


def test_pool_keeps_the_best_candidates_sorted():
    pool = EvictionPool(size=3)
    for score, key in [(5, b"a"), (1, b"b"), (9, b"c"), (7, b"d"), (0, b"e")]:
        pool.offer(score, 0, key)
    assert [entry[2] for entry in pool.entries] == [b"a", b"d", b"c"]
    assert pool.pop_best() == (9, 0, b"c")


def test_pool_ignores_a_key_sampled_twice():
    pool = EvictionPool()
    pool.offer(5, 0, b"a")
    pool.offer(5, 0, b"a")
    assert len(pool) == 1


# --- policies, through a ServerState ---------------------------------------------------

def build(clock, policy: str, maxmemory: int = 0) -> ServerState:
    state = ServerState(clock=clock)
    state.config.set("maxmemory-policy", policy)
    state.config.set("maxmemory", str(maxmemory))
    state.evictor = Evictor(state.keyspace, state.config, rng=random.Random(7))
    return state


def set_maxmemory(state, maxmemory: int) -> None:
    state.config.set("maxmemory", str(maxmemory))
    state.evictor.configure(state.config)


def fill(state, count: int, *, ttl_every: int = 0) -> None:
    db = state.keyspace[0]
    for i in range(count):
        db.set(b"key:%d" % i, b"v" * 10)
        if ttl_every and i % ttl_every == 0:
            db.set_deadline(b"key:%d" % i, state.clock.time_ms() + 1_000_000 + i * 1000)


def limit_to(state, keys_to_keep: int) -> None:
    per_key = state.keyspace.used_memory // len(state.keyspace[0])
    set_maxmemory(state, per_key * keys_to_keep)


def test_nothing_is_evicted_under_the_limit(clock):
    state = build(clock, "allkeys-lru", maxmemory=10**9)
    fill(state, 100)
    state.evictor.make_room()
    assert len(state.keyspace[0]) == 100


def test_noeviction_refuses_with_oom(clock):
    state = build(clock, "noeviction", maxmemory=1)
    fill(state, 10)
    with pytest.raises(RedisError) as raised:
        state.evictor.make_room()
    assert raised.value.message == errors.OOM


def test_allkeys_lru_evicts_the_idle_keys_first(clock):
    state = build(clock, "allkeys-lru")
    fill(state, 200)
    clock.advance(100)
    db = state.keyspace[0]
    for i in range(100, 200):  # the newer half is read again
        db.get(b"key:%d" % i)
    limit_to(state, 150)
    state.evictor.make_room()
    assert state.keyspace.used_memory <= state.config.get_int("maxmemory")
    evicted = [i for i in range(200) if not db.exists(b"key:%d" % i)]
    assert evicted and sum(i < 100 for i in evicted) >= 0.9 * len(evicted)
    assert state.stats["evicted_keys"] == len(evicted)


def test_allkeys_lfu_evicts_the_rarely_read_keys_first(clock):
    state = build(clock, "allkeys-lfu")
    fill(state, 200)
    db = state.keyspace[0]
    for _ in range(30):
        for i in range(0, 200, 2):  # even keys are hot
            db.get(b"key:%d" % i)
    limit_to(state, 150)
    state.evictor.make_room()
    evicted = [i for i in range(200) if not db.exists(b"key:%d" % i)]
    assert evicted and all(i % 2 for i in evicted)


@pytest.mark.parametrize("policy", ["volatile-lru", "volatile-lfu", "volatile-random",
                                    "volatile-ttl"])
def test_volatile_policies_only_evict_keys_with_a_ttl(clock, policy):
    state = build(clock, policy)
    fill(state, 100, ttl_every=2)
    limit_to(state, 80)
    state.evictor.make_room()
    db = state.keyspace[0]
    assert all(db.exists(b"key:%d" % i) for i in range(1, 100, 2))
    assert len(db) < 100


def test_volatile_policies_refuse_when_no_key_has_a_ttl(clock):
    state = build(clock, "volatile-lru")
    fill(state, 50)
    limit_to(state, 10)
    with pytest.raises(RedisError):
        state.evictor.make_room()


def test_volatile_ttl_evicts_the_soonest_to_expire(clock):
    state = build(clock, "volatile-ttl")
    fill(state, 100, ttl_every=1)  # key:i expires i seconds after key:0
    limit_to(state, 90)
    state.evictor.make_room()
    db = state.keyspace[0]
    evicted = [i for i in range(100) if not db.exists(b"key:%d" % i)]
    assert evicted and max(evicted) < 40  # sampling: the soonest, approximately


def test_allkeys_random_evicts_across_databases(clock):
    state = build(clock, "allkeys-random")
    for index in (0, 5):
        for i in range(50):
            state.keyspace[index].set(b"k%d" % i, b"v" * 10)
    set_maxmemory(state, state.keyspace.used_memory // 2)
    state.evictor.make_room()
    assert len(state.keyspace[0]) < 50 and len(state.keyspace[5]) < 50


def test_stamps_follow_their_keys_through_swap_remove():
    from redis_clone.densedict import StampedDict

    class Counter:
        def __init__(self):
            self.next = 0

        def new_stamp(self):
            self.next += 1
            return self.next

        def refresh(self, stamp):
            return stamp + 1000

    table, access = StampedDict(), Counter()
    for key in (b"a", b"b", b"c", b"d"):
        table.put(key, key.upper(), access)
    table.pop(b"a")  # d moves into a's slot, and its stamp with it
    table.pop(b"zzz")
    assert [table.stamp(k) for k in (b"b", b"c", b"d")] == [2, 3, 4]
    assert table.put(b"c", b"C2", access) == b"C"  # an overwrite refreshes the stamp
    assert table.stamp(b"c") == 1003
    assert table.get_touched(b"b", access.refresh) == b"B" and table.stamp(b"b") == 1002
    table.clear()
    assert len(table) == 0 and table.get_touched(b"b", access.refresh) is None


# --- access stamps only where a policy reads them ----------------------------------------

def run(state, *argv: bytes):
    from redis_clone.clients import ClientState
    from redis_clone.registry import execute
    from redis_clone.state import CommandContext
    return execute(CommandContext(state, ClientState(id=1)), list(argv))


@pytest.mark.parametrize("policy,stamped", [("noeviction", False), ("allkeys-random", False),
                                            ("volatile-ttl", False), ("allkeys-lru", True),
                                            ("volatile-lfu", True)])
def test_the_keyspace_keeps_access_stamps_only_under_lru_and_lfu(clock, policy, stamped):
    from redis_clone.densedict import DenseDict, StampedDict
    state = build(clock, policy)
    assert state.keyspace.stamped is stamped
    expected = StampedDict if stamped else DenseDict
    assert all(type(db.data) is expected for db in state.keyspace.dbs)


def test_switching_policy_rebuilds_the_tables_and_keeps_every_key(clock):
    state = build(clock, "noeviction")
    fill(state, 300, ttl_every=7)
    before = {key: state.keyspace[0].get(key) for key in state.keyspace[0].keys()}
    memory_before = state.keyspace.used_memory
    assert run(state, b"CONFIG", b"SET", b"maxmemory-policy", b"allkeys-lru") == OK
    assert state.keyspace.stamped
    clock.advance(30)
    assert {key: state.keyspace[0].get(key) for key in state.keyspace[0].keys()} == before
    assert state.keyspace.used_memory == memory_before  # same data, same model
    assert run(state, b"OBJECT", b"IDLETIME", b"key:1") == 0  # just read by get() above
    clock.advance(12)
    assert run(state, b"OBJECT", b"IDLETIME", b"key:1") == 12
    assert run(state, b"CONFIG", b"SET", b"maxmemory-policy", b"noeviction") == OK
    assert not state.keyspace.stamped
    assert {key: state.keyspace[0].get(key) for key in state.keyspace[0].keys()} == before


def test_idletime_says_it_is_not_tracked_without_an_lru_policy(clock):
    state = build(clock, "noeviction")
    fill(state, 1)
    reply = run(state, b"OBJECT", b"IDLETIME", b"key:0")
    assert reply == errors.LRU_NOT_SELECTED
    assert run(state, b"OBJECT", b"IDLETIME", b"missing") is None  # as Redis: nil first
