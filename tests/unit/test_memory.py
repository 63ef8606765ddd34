"""The memory cost model (memory.py) and the keyspace's running total of it.

String costs are checked against what real Redis 7.0 (jemalloc, 64-bit) answers to
MEMORY USAGE; the running total is checked against a from-scratch recount after a
seeded random mix of writes, expiries, evictions and in-place container changes.
"""

from __future__ import annotations

import random
from collections import deque

import pytest

import redis_clone.commands  # noqa: F401  (registers the commands and value types)
from common.clock import FakeClock
from redis_clone import memory
from redis_clone.registry import execute
from redis_clone.state import CommandContext, ServerState
from redis_clone.zset import ZSet


@pytest.fixture
def state():
    return ServerState(clock=FakeClock())


@pytest.fixture
def run(state):
    ctx = CommandContext(state, state.clients.register(addr="127.0.0.1:5000"))

    def run(*args):
        return execute(ctx, [a if isinstance(a, bytes) else str(a).encode() for a in args])
    return run


def recount(state) -> int:
    return sum(db.used_memory() for db in state.keyspace.dbs)


@pytest.mark.parametrize("n, expected", [
    (1, 8), (8, 8), (9, 16), (16, 16), (17, 32), (48, 48), (120, 128), (129, 160),
    (256, 256), (257, 320), (1025, 1280), (16385, 20480),
])
def test_size_class_rounds_up_like_jemalloc(n, expected):
    assert memory.size_class(n) == expected


@pytest.mark.parametrize("key, value, redis_says", [
    (b"foo", b"bar", 64),          # embstr
    (b"k", b"123", 48),            # int, shared
    (b"k", b"123456789012", 48),   # int
    (b"k", b"x" * 44, 96),         # the longest embstr
    (b"k", b"x" * 45, 112),        # raw: robj + its own sds
    (b"k", b"12345678901234567890", 80),  # beyond int64: a string
    (b"q" * 31, b"v", 104),       # sdshdr5 key
    (b"q" * 32, b"v", 104),       # sdshdr8 key
])
def test_string_costs_match_redis_memory_usage(key, value, redis_says):
    assert memory.entry_cost(key, value) == redis_says


def test_container_cost_grows_with_elements_and_their_size():
    small = memory.value_cost({b"f%d" % i: b"v" for i in range(10)})
    more = memory.value_cost({b"f%d" % i: b"v" for i in range(100)})
    bigger = memory.value_cost({b"f%d" % i: b"v" * 100 for i in range(100)})
    assert small < more < bigger


def test_samples_zero_measures_every_element():
    items = deque([b"x"] * 10 + [b"y" * 1000])
    assert memory.value_cost(items, samples=0) > memory.value_cost(items, samples=5)


def test_zset_costs_more_than_a_set_of_the_same_members():
    zset = ZSet()
    for i in range(20):
        zset.add(b"m%d" % i, float(i))
    assert memory.value_cost(zset) > memory.value_cost({b"m%d" % i for i in range(20)})


def test_set_and_delete_return_used_memory_to_zero(state, run):
    run("set", "foo", "bar")
    assert state.keyspace.used_memory == 64
    run("expire", "foo", 100)
    assert state.keyspace.used_memory == 64 + memory.DICT_ENTRY
    run("persist", "foo")
    assert state.keyspace.used_memory == 64
    run("del", "foo")
    assert state.keyspace.used_memory == 0


def test_in_place_container_change_is_remeasured(state, run):
    run("hset", "h", "a", "1")
    before = state.keyspace.used_memory
    run("hset", "h", "b", "2", "c", "3")
    assert state.keyspace.used_memory > before
    assert state.keyspace.used_memory == recount(state)


def test_expired_key_reclaimed_lazily_gives_its_memory_back(state, run):
    run("set", "k", "v", "px", 10)
    state.clock.advance(1)
    run("set", "k", "other")  # overwriting an expired key expires it first
    assert state.keyspace.used_memory == memory.entry_cost(b"k", b"other")


def test_flushall_empties_the_total(state, run):
    run("rpush", "l", "a", "b")
    run("select", 3)
    run("sadd", "s", "x")
    run("flushall")
    assert state.keyspace.used_memory == 0


WRITES = [
    lambda r, k: r("set", k, "v" * r.rng.randrange(1, 80)),
    lambda r, k: r("append", k, "tail"),
    lambda r, k: r("incr", k),
    lambda r, k: r("del", k),
    lambda r, k: r("expire", k, r.rng.randrange(1, 5)),
    lambda r, k: r("persist", k),
    lambda r, k: r("rpush", "l" + k, *["e" * r.rng.randrange(1, 30)] * r.rng.randrange(1, 4)),
    lambda r, k: r("lpop", "l" + k),
    lambda r, k: r("ltrim", "l" + k, 1, -1),
    lambda r, k: r("hset", "h" + k, "f%d" % r.rng.randrange(20), "v" * r.rng.randrange(90)),
    lambda r, k: r("hdel", "h" + k, "f%d" % r.rng.randrange(20)),
    lambda r, k: r("sadd", "s" + k, *[str(r.rng.randrange(50)) for _ in range(3)]),
    lambda r, k: r("srem", "s" + k, str(r.rng.randrange(50))),
    lambda r, k: r("spop", "s" + k),
    lambda r, k: r("zadd", "z" + k, r.rng.randrange(9), "m%d" % r.rng.randrange(30)),
    lambda r, k: r("zrem", "z" + k, "m%d" % r.rng.randrange(30)),
    lambda r, k: r("rename", k, "renamed"),
    lambda r, k: r("copy", "h" + k, "hcopy", "replace"),
    lambda r, k: r("move", k, 1),
    lambda r, k: r("getdel", k),
    lambda r, k: r("setrange", k, r.rng.randrange(60), "patch"),
    lambda r, k: r("incrbyfloat", k, "1.5"),
    lambda r, k: r("lset", "l" + k, 0, "x" * r.rng.randrange(40)),
    lambda r, k: r("linsert", "l" + k, "before", "x", "y" * r.rng.randrange(40)),
    lambda r, k: r("lrem", "l" + k, 0, "e"),
    lambda r, k: r("lmove", "l" + k, "lother", "left", "right"),
    lambda r, k: r("rpoplpush", "lother", "l" + k),
    lambda r, k: r("lmpop", 1, "l" + k, "right", "count", 2),
    lambda r, k: r("hincrby", "h" + k, "n", 7),
    lambda r, k: r("hincrbyfloat", "h" + k, "fl", "0.25"),
    lambda r, k: r("hsetnx", "h" + k, "f%d" % r.rng.randrange(30), "new"),
    lambda r, k: r("smove", "s" + k, "sother", str(r.rng.randrange(50))),
    lambda r, k: r("spop", "s" + k, 2),
    lambda r, k: r("sinterstore", "sinter", "s" + k, "sother"),
    lambda r, k: r("sunionstore", "s" + k, "s" + k, "sother"),
    lambda r, k: r("zincrby", "z" + k, 2, "m%d" % r.rng.randrange(30)),
    lambda r, k: r("zpopmin", "z" + k),
    lambda r, k: r("zremrangebyrank", "z" + k, 0, 1),
    lambda r, k: r("zmpop", 1, "z" + k, "max"),
    lambda r, k: r("zunionstore", "zu", 2, "z" + k, "sother"),
    lambda r, k: r("sort", "l" + k, "alpha", "store", "sorted"),
    lambda r, k: r("blpop", "l" + k, 0.01),
]


def test_running_total_equals_a_recount_after_random_writes(state, run):
    run.rng = random.Random(6)
    for step in range(6000):
        key = "k%d" % run.rng.randrange(12)
        run.rng.choice(WRITES)(run, key)
        if step % 97 == 0:
            state.clock.advance(2)  # let some TTLs lapse: lazily and actively reclaimed
            state.keyspace.active_expire_cycle(1.0, rng=run.rng)
        if step == 4000:
            run("config", "set", "maxmemory", state.keyspace.used_memory // 2)
            run("config", "set", "maxmemory-policy", "allkeys-lru")
    assert state.stats["evicted_keys"] > 0
    assert state.stats["expired_keys"] > 0
    assert state.keyspace.used_memory == recount(state)


def test_recount_after_a_direct_load_costs_and_stamps_every_key(state):
    state.config.set("maxmemory-policy", "allkeys-lru")  # stamps are kept under LRU/LFU only
    state.evictor.configure(state.config)
    db = state.keyspace[2]
    db.data[b"loaded"] = b"value"        # how a snapshot is installed: straight in
    db.data[b"hash"] = {b"f": b"v"}
    db.expires[b"loaded"] = state.clock.time_ms() + 1000
    state.clock.advance(5)
    state.keyspace.recount_memory()
    assert state.keyspace.used_memory == recount(state) > 0
    assert state.keyspace.access.idle_ms(db.data.stamp(b"hash")) == 0
