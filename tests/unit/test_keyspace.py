"""The keyspace without sockets: DenseDict, lazy expiry in Database, the active expiry
cycle, and expiry as the generic key commands see it. Time is a FakeClock that tests
move by hand; nothing sleeps.
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.clock import FakeClock
from common.resp import ErrorReply, Status
from redis_clone import errors
from redis_clone.densedict import STALE_SLACK, DenseDict, StampedDict
from redis_clone.errors import RedisError
from redis_clone.keyspace import ACTIVE_EXPIRE_SAMPLE, Keyspace
from redis_clone.registry import execute
from redis_clone.state import CommandContext, ServerState

FUZZ = settings(max_examples=300, deadline=timedelta(seconds=5),
                suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def keyspace(clock):
    return Keyspace(databases=4, clock=clock)


@pytest.fixture
def db(keyspace):
    return keyspace[0]


def in_ms(clock: FakeClock, ms: int) -> int:
    """The absolute deadline `ms` milliseconds from now."""
    return clock.time_ms() + ms


# --- DenseDict and StampedDict ----------------------------------------------------------

TABLES = pytest.mark.parametrize("table", [DenseDict, StampedDict])
keys_st = st.binary(min_size=1, max_size=3)
operations = st.lists(st.tuples(st.sampled_from(["set", "pop"]), keys_st, st.integers()),
                      max_size=60)


@TABLES
@FUZZ
@given(operations)
def test_the_tables_behave_like_a_dict(table, ops):
    dense, reference = table(), {}
    for op, key, value in ops:
        if op == "set":
            dense[key] = value
            reference[key] = value
        else:
            assert dense.pop(key) == reference.pop(key, None)
        assert len(dense) == len(reference)
    assert dict(dense.items()) == reference
    assert sorted(dense) == sorted(reference)
    assert all(key in dense and dense[key] == value for key, value in reference.items())


@TABLES
def test_the_tables_sample_only_live_entries_and_all_of_them(table):
    dense = table()
    for i in range(100):
        dense[b"k%d" % i] = i
    for i in range(0, 100, 2):
        dense.pop(b"k%d" % i)
    rng = random.Random(7)
    sampled = {dense.random_item(rng)[0] for _ in range(2000)}
    assert sampled == {b"k%d" % i for i in range(1, 100, 2)}
    assert table().random_item(rng) is None


def test_stale_entries_never_outnumber_the_live_keys_for_long():
    dense = DenseDict()
    for round_ in range(50):  # the same keys deleted and added again, over and over
        for i in range(100):
            dense[b"k%d" % i] = round_
        for i in range(0, 100, 3):
            dense.pop(b"k%d" % i)
        assert len(dense._keys) <= 2 * len(dense) + STALE_SLACK + 1
    for i in range(100):
        dense.pop(b"k%d" % i)
    assert len(dense) == 0 and len(dense._keys) <= STALE_SLACK
    assert dense.random_item() is None


@TABLES
def test_scanning_an_empty_table_is_complete_at_once(table):
    assert table().scan(0, 10) == (0, [])


def full_scan(dense, count: int, between_steps=lambda: None) -> list[bytes]:
    returned, cursor, steps = [], 0, 0
    while True:
        cursor, batch = dense.scan(cursor, count)
        assert len(batch) == len(set(batch)), "a key twice in one SCAN reply"
        returned.extend(batch)
        steps += 1
        assert steps < 10_000, "the scan never finished"
        if cursor == 0:
            return returned
        between_steps()


@TABLES
def test_a_scan_without_changes_returns_every_key_exactly_once(table):
    dense = table()
    for i in range(95):
        dense[b"k%d" % i] = i
    returned = full_scan(dense, count=10)
    assert sorted(returned) == sorted(dense)


@TABLES
@FUZZ
@given(initial=st.integers(0, 60), count=st.integers(1, 12), seed=st.integers(0, 2**32),
       changes=st.integers(0, 8))
def test_a_scan_returns_every_key_present_throughout_despite_changes(table, initial, count, seed,
                                                                     changes):
    rng = random.Random(seed)
    dense = table()
    for i in range(initial):
        dense[b"k%d" % i] = i
    doomed = {key for key in dense if rng.random() < 0.3}  # deleted at some point
    gone: list[bytes] = []  # deleted, and may come back (a stale entry and a new one)
    extra = iter(range(10**6))

    def churn():
        for _ in range(rng.randint(0, changes)):
            roll = rng.random()
            if doomed and roll < 0.4:
                key = doomed.pop()
                dense.pop(key)
                gone.append(key)
            elif gone and roll < 0.6:
                dense[gone.pop()] = 1
            else:
                dense[b"new%d" % next(extra)] = 0

    stable = set(dense) - doomed
    returned = full_scan(dense, count, churn)
    assert stable <= set(returned)
    assert set(returned) <= set(dense) | doomed | set(gone)


# --- lazy expiry -----------------------------------------------------------------------

def test_a_key_lives_until_its_deadline_and_not_a_millisecond_more(db, clock):
    db.set(b"k", b"v")
    db.set_deadline(b"k", in_ms(clock, 1000))
    clock.advance(0.999)
    assert db.get(b"k") == b"v"
    clock.advance(0.001)
    assert db.get(b"k") is None


def test_an_expired_key_is_invisible_to_every_read(db, clock, keyspace):
    db.set(b"gone", b"v")
    db.set_deadline(b"gone", in_ms(clock, 10))
    clock.advance(1)
    assert db.get(b"gone") is None
    assert not db.exists(b"gone")
    assert db.deadline(b"gone") is None
    assert list(db.keys()) == []
    assert db.scan(0, 10) == (0, [])
    assert db.random_key() is None
    # Reads run under the shared lock, so they only hide the key; it is still stored.
    assert len(db) == 1
    assert keyspace.stats["expired_keys"] == 0


def test_a_write_lookup_deletes_an_expired_key_and_counts_it(db, clock, keyspace):
    db.set(b"gone", b"v")
    db.set_deadline(b"gone", in_ms(clock, 10))
    clock.advance(1)
    dirty = keyspace.dirty
    assert db.lookup_for_write(b"gone") is None
    assert len(db) == 0 and len(db.expires) == 0
    assert keyspace.stats["expired_keys"] == 1
    assert keyspace.dirty == dirty + 1


def test_deleting_an_expired_key_reclaims_it_but_reports_no_deletion(db, clock, keyspace):
    db.set(b"gone", b"v")
    db.set_deadline(b"gone", in_ms(clock, 10))
    clock.advance(1)
    assert db.delete(b"gone") is False
    assert len(db) == 0
    assert keyspace.stats["expired_keys"] == 1


@pytest.mark.parametrize("keep_ttl", [False, True])
def test_overwriting_an_expired_key_counts_an_expiry_and_keeps_no_dead_ttl(db, clock, keyspace,
                                                                          keep_ttl):
    db.set(b"k", b"old")
    db.set_deadline(b"k", in_ms(clock, 10))
    clock.advance(1)
    db.set(b"k", b"new", keep_ttl=keep_ttl)
    assert db.get(b"k") == b"new"
    assert db.deadline(b"k") is None
    assert keyspace.stats["expired_keys"] == 1  # as Redis's SET over an expired key


def test_set_drops_the_ttl_unless_asked_to_keep_it(db, clock):
    deadline = in_ms(clock, 5000)
    db.set(b"k", b"v")
    db.set_deadline(b"k", deadline)
    db.set(b"k", b"v2", keep_ttl=True)
    assert db.deadline(b"k") == deadline
    db.set(b"k", b"v3")
    assert db.deadline(b"k") is None


def test_a_deadline_in_the_past_deletes_the_key_as_a_deletion_not_an_expiry(db, clock, keyspace):
    db.set(b"k", b"v")
    db.set_deadline(b"k", clock.time_ms())
    assert len(db) == 0
    assert keyspace.stats["expired_keys"] == 0


def test_persist_removes_the_deadline_of_a_live_key_only(db, clock):
    db.set(b"k", b"v")
    assert db.persist(b"k") is False
    db.set_deadline(b"k", in_ms(clock, 5000))
    assert db.persist(b"k") is True
    assert db.deadline(b"k") is None
    db.set_deadline(b"k", in_ms(clock, 5))
    clock.advance(1)
    assert db.persist(b"k") is False


def test_reads_count_hits_and_misses_for_info(db, keyspace):
    db.set(b"k", b"v")
    db.get(b"k")
    db.get(b"missing")
    db.get(b"missing", count_stats=False)
    assert (keyspace.stats["keyspace_hits"], keyspace.stats["keyspace_misses"]) == (1, 1)


def test_reading_a_value_of_another_type_is_wrongtype(db):
    db.set(b"k", b"v")
    with pytest.raises(RedisError) as raised:
        db.get(b"k", expected=list)
    assert raised.value.message == errors.WRONGTYPE


def test_random_key_finds_the_one_live_key_among_expired_ones(db, clock):
    for i in range(200):
        db.set(b"k%d" % i, b"v")
        db.set_deadline(b"k%d" % i, in_ms(clock, 10))
    db.set(b"live", b"v")
    clock.advance(1)
    rng = random.Random(3)
    assert {db.random_key(rng) for _ in range(20)} == {b"live"}


# --- active expiry ---------------------------------------------------------------------

class CountingRandom(random.Random):
    """A seeded RNG that counts how many keys the cycle sampled."""

    def __init__(self, seed: int = 1) -> None:
        super().__init__(seed)
        self.draws = 0

    def randrange(self, *args, **kwargs):
        self.draws += 1
        return super().randrange(*args, **kwargs)


def fill(db, clock: FakeClock, count: int, ttl_ms: int | None, prefix: bytes = b"k") -> None:
    for i in range(count):
        key = b"%s%d" % (prefix, i)
        db.set(key, b"v")
        if ttl_ms is not None:
            db.set_deadline(key, in_ms(clock, ttl_ms))


def test_active_expiry_reclaims_every_expired_key_nobody_reads(keyspace, clock):
    fill(keyspace[0], clock, 1000, ttl_ms=1000)
    fill(keyspace[0], clock, 50, ttl_ms=None, prefix=b"forever")
    fill(keyspace[2], clock, 300, ttl_ms=2000)
    clock.advance(2)
    assert keyspace.active_expire_cycle(budget_s=1.0, rng=random.Random(1)) == 1300
    assert len(keyspace[0]) == 50 and len(keyspace[2]) == 0
    assert len(keyspace[0].expires) == 0
    assert keyspace.stats["expired_keys"] == 1300


def test_active_expiry_leaves_keys_that_are_not_due_yet(keyspace, clock):
    fill(keyspace[0], clock, 100, ttl_ms=10_000)
    clock.advance(5)
    rng = CountingRandom()
    assert keyspace.active_expire_cycle(budget_s=1.0, rng=rng) == 0
    assert len(keyspace[0]) == 100
    assert rng.draws == ACTIVE_EXPIRE_SAMPLE  # one sample, nothing expired: done


def test_active_expiry_stops_when_a_quarter_or_less_of_a_sample_had_expired(keyspace, clock):
    db = keyspace[0]
    fill(db, clock, 950, ttl_ms=60_000)
    fill(db, clock, 50, ttl_ms=1000, prefix=b"due")  # 5% of the keys with a TTL
    clock.advance(2)
    rng = CountingRandom()
    reclaimed = keyspace.active_expire_cycle(budget_s=1.0, rng=rng)
    assert rng.draws == ACTIVE_EXPIRE_SAMPLE  # a single round
    assert reclaimed <= ACTIVE_EXPIRE_SAMPLE * 0.25
    assert len(db) == 1000 - reclaimed


def test_active_expiry_stops_when_its_time_budget_is_spent(keyspace, clock):
    fill(keyspace[0], clock, 1000, ttl_ms=1000)
    clock.advance(2)
    ticks = iter(range(10**6))  # a monotonic clock that moves one second per reading
    reclaimed = keyspace.active_expire_cycle(budget_s=0.5, rng=random.Random(1),
                                             monotonic=lambda: next(ticks))
    assert reclaimed == ACTIVE_EXPIRE_SAMPLE
    assert len(keyspace[0]) == 1000 - ACTIVE_EXPIRE_SAMPLE


def test_a_cycle_out_of_time_lets_the_next_one_start_at_the_next_database(keyspace, clock):
    # Database 0 always has more expired keys than one round can take. If every cycle
    # started over at database 0, database 1 would never be reached.
    fill(keyspace[0], clock, 1000, ttl_ms=1000)
    fill(keyspace[1], clock, 10, ttl_ms=1000)
    clock.advance(2)
    ticks = iter(range(10**6))
    for _ in range(2):
        keyspace.active_expire_cycle(budget_s=0.5, rng=random.Random(1),
                                     monotonic=lambda: next(ticks))
    assert len(keyspace[1]) == 0
    assert len(keyspace[0]) == 1000 - ACTIVE_EXPIRE_SAMPLE


# --- expiry as the commands see it -------------------------------------------------------

@pytest.fixture
def server_state(clock):
    return ServerState(clock=clock)


@pytest.fixture
def run(server_state):
    """Run one command as a client of a socket-less server: run("SET", "k", "v")."""
    ctx = CommandContext(server_state, server_state.clients.register())

    def run_command(*args):
        return execute(ctx, [a if isinstance(a, bytes) else str(a).encode() for a in args])

    return run_command


@pytest.mark.parametrize("command,hits,misses", [
    (("EXISTS", "k", "missing", "k"), 2, 1),
    (("TOUCH", "k", "missing"), 1, 1),
    (("TYPE", "missing"), 0, 1),
    (("TTL", "k"), 1, 0),
    (("PEXPIRETIME", "missing"), 0, 1),
    (("COPY", "k", "k2"), 1, 0),
    (("KEYS", "*"), 0, 0),
    (("SCAN", "0", "TYPE", "string"), 0, 0),
    (("RANDOMKEY",), 0, 0),
    (("RENAME", "k", "k3"), 0, 0),
    (("EXPIRE", "k", "100"), 0, 0),
    (("PERSIST", "k"), 0, 0),
])
def test_keyspace_hits_and_misses_are_counted_by_the_same_commands_as_in_redis(
        run, server_state, command, hits, misses):
    run("SET", "k", "v")
    run(*command)
    stats = server_state.stats
    assert (stats["keyspace_hits"], stats["keyspace_misses"]) == (hits, misses)


def test_ttl_rounds_to_the_nearest_second(run, clock):
    run("SET", "k", "v")
    run("PEXPIRE", "k", 1500)
    assert run("TTL", "k") == 2
    clock.advance(0.501)
    assert run("PTTL", "k") == 999
    assert run("TTL", "k") == 1
    clock.advance(0.498)
    assert (run("PTTL", "k"), run("TTL", "k")) == (501, 1)  # 501 ms round up...
    clock.advance(0.002)
    assert (run("PTTL", "k"), run("TTL", "k")) == (499, 0)  # ...499 ms down
    clock.advance(0.498)
    assert run("PTTL", "k") == 1
    clock.advance(0.001)
    assert run("TTL", "k") == -2


def test_expiretime_is_the_deadline_itself(run, clock):
    run("SET", "k", "v")
    run("PEXPIRE", "k", 10_000)
    deadline = clock.time_ms() + 10_000
    clock.advance(3)
    assert run("PEXPIRETIME", "k") == deadline
    assert run("EXPIRETIME", "k") == (deadline + 500) // 1000


def test_an_expired_key_is_gone_for_every_command(run, clock):
    run("SET", "k", "v")
    run("EXPIRE", "k", 1)
    clock.advance(1)
    assert run("GET", "k") is None
    assert run("EXISTS", "k") == 0
    assert run("TYPE", "k") == Status("none")
    assert run("TTL", "k") == -2
    assert run("KEYS", "*") == []
    assert run("SCAN", "0") == [b"0", []]
    assert run("RANDOMKEY") is None
    assert run("RENAME", "k", "k2") == ErrorReply(errors.NO_SUCH_KEY)
    assert run("PERSIST", "k") == 0
    assert run("EXPIRE", "k", 100) == 0
    assert run("MOVE", "k", 1) == 0
    assert run("COPY", "k", "k2") == 0


def test_a_deadline_in_the_past_deletes_the_key_and_replies_one(run, server_state):
    run("SET", "k", "v")
    assert run("EXPIRE", "k", -10) == 1
    assert run("EXISTS", "k") == 0
    assert server_state.stats["expired_keys"] == 0  # a deletion, not an expiry


def test_rename_move_and_copy_carry_the_remaining_ttl(run, clock):
    run("SET", "k", "v")
    run("PEXPIRE", "k", 5000)
    clock.advance(1)
    run("RENAME", "k", "renamed")
    assert run("PTTL", "renamed") == 4000
    assert run("COPY", "renamed", "copied") == 1
    assert run("PTTL", "copied") == 4000
    assert run("MOVE", "renamed", 1) == 1
    run("SELECT", 1)
    assert run("PTTL", "renamed") == 4000
    clock.advance(4)
    assert run("EXISTS", "renamed") == 0


def test_gt_treats_no_ttl_as_infinite_and_lt_always_beats_it(run):
    run("SET", "k", "v")
    assert run("EXPIRE", "k", 100, "GT") == 0
    assert run("TTL", "k") == -1
    assert run("EXPIRE", "k", 100, "LT") == 1
    assert run("TTL", "k") == 100


def test_copy_shares_no_mutable_part_with_the_original(run, server_state):
    # Strings are immutable bytes; containers (as the data-type modules store them)
    # must be copied all the way down.
    db = server_state.keyspace[0]
    original = {b"field": [b"a", b"b"], b"set": {b"x"}}
    db.set(b"container", original)
    assert run("COPY", "container", "copy") == 1
    copied = db.get(b"copy")
    assert copied == original
    copied[b"field"].append(b"c")
    copied[b"set"].add(b"y")
    assert original == {b"field": [b"a", b"b"], b"set": {b"x"}}
