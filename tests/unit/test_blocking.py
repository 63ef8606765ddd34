"""The blocked-clients registry without sockets: who gets served, in which order, when.

Clients are plain CommandContexts; a waiter's wake-up is a list append, so each test
can see exactly who was woken and with what. Commands run through registry.execute,
which serves blocked clients at the end of every write, as server.py relies on.
"""

from __future__ import annotations

import pytest

from common.clock import FakeClock
from common.resp import NULL_ARRAY, ErrorReply
from redis_clone import errors
from redis_clone.blocking import BLOCKED_FLAG, Block, Waiter, parse_timeout
from redis_clone.errors import RedisError
from redis_clone.registry import execute
from redis_clone.state import CommandContext, ServerState


@pytest.fixture
def state():
    return ServerState(clock=FakeClock())


@pytest.fixture
def woken() -> list[str]:
    return []


@pytest.fixture
def connect(state):
    def new_client(name: str = "") -> CommandContext:
        return CommandContext(state, state.clients.register(name=name.encode()))
    return new_client


def run(ctx, *argv):
    return execute(ctx, [a if isinstance(a, bytes) else str(a).encode() for a in argv])


def block(ctx, woken: list[str], *argv) -> Waiter:
    """Run a blocking command that finds nothing, and queue its client as server.py does."""
    outcome = run(ctx, *argv)
    assert isinstance(outcome, Block), outcome
    name = ctx.client.name.decode()
    waiter = Waiter(outcome, ctx.client.db, ctx.client, wake=lambda: woken.append(name))
    assert ctx.server.keyspace.blocking.register(waiter) is None
    return waiter


# --------------------------------------------------------------------------- serving

def test_a_push_serves_the_blocked_client_and_wakes_it(connect, woken):
    a, b = connect("a"), connect("b")
    waiter = block(a, woken, "BLPOP", "q", 0)
    assert run(b, "LPUSH", "q", "x") == 1
    assert waiter.reply == [b"q", b"x"]
    assert woken == ["a"]
    assert run(b, "EXISTS", "q") == 0  # the element went to the waiter, the list is gone


def test_clients_blocked_on_a_key_are_served_first_come_first_served(connect, woken):
    pusher = connect("pusher")
    waiters = [block(connect(name), woken, "BRPOP", "q", 0)
               for name in ("first", "second", "third")]
    run(pusher, "RPUSH", "q", "1")
    assert woken == ["first"]
    run(pusher, "RPUSH", "q", "2", "3")
    assert woken == ["first", "second", "third"]
    assert [w.reply for w in waiters] == [[b"q", b"1"], [b"q", b"3"], [b"q", b"2"]]


def test_a_push_of_several_elements_serves_several_clients_in_one_write(connect, woken, state):
    first = block(connect("first"), woken, "BLPOP", "q", 0)
    second = block(connect("second"), woken, "BLPOP", "q", 0)
    run(connect(), "RPUSH", "q", "a", "b", "c")
    assert (first.reply, second.reply) == ([b"q", b"a"], [b"q", b"b"])
    assert run(connect(), "LRANGE", "q", 0, -1) == [b"c"]
    assert len(state.keyspace.blocking) == 0


def test_serving_stops_when_the_key_is_used_up(connect, woken):
    waiters = [block(connect(name), woken, "BLPOP", "q", 0) for name in ("first", "second")]
    run(connect(), "LPUSH", "q", "only")
    assert woken == ["first"]
    assert waiters[1].reply is None
    assert waiters[1] in connect().server.keyspace.blocking.waiters_on(0, b"q")


def test_a_client_blocked_on_several_keys_is_served_by_any_and_leaves_all_queues(
        connect, woken, state):
    waiter = block(connect("multi"), woken, "BLPOP", "a", "b", "c", 0)
    run(connect(), "RPUSH", "b", "x")
    assert waiter.reply == [b"b", b"x"]
    for key in (b"a", b"b", b"c"):
        assert state.keyspace.blocking.waiters_on(0, key) == []


def test_a_key_named_twice_queues_the_client_once(connect, woken, state):
    waiter = block(connect("twice"), woken, "BLPOP", "k", "k", 0)
    assert state.keyspace.blocking.waiters_on(0, b"k") == [waiter]
    run(connect(), "RPUSH", "k", "v")
    assert waiter.reply == [b"k", b"v"]
    assert len(state.keyspace.blocking) == 0


def test_a_waiter_wanting_another_type_is_skipped_not_a_barrier(connect, woken, state):
    # A BZPOPMIN-like waiter queued first on the key: attempt() gives None for a list.
    other = connect("zset-waiter")
    zset_like = Waiter(Block([b"q"], 0, attempt=lambda: None), 0, other.client,
                       wake=lambda: woken.append("zset"))
    state.keyspace.blocking.register(zset_like)
    list_waiter = block(connect("list"), woken, "BLPOP", "q", 0)
    run(connect(), "RPUSH", "q", "x")
    assert woken == ["list"]
    assert list_waiter.reply == [b"q", b"x"]
    assert state.keyspace.blocking.waiters_on(0, b"q") == [zset_like]


def test_a_blocked_client_is_served_only_in_its_own_database(connect, woken):
    waiter = block(connect("db0"), woken, "BLPOP", "q", 0)
    other = connect("db1")
    run(other, "SELECT", 1)
    run(other, "RPUSH", "q", "x")
    assert waiter.reply is None
    assert run(other, "LLEN", "q") == 1


def test_blmove_pushes_to_its_destination_and_that_serves_the_next_client(connect, woken):
    mover = block(connect("mover"), woken, "BLMOVE", "src", "dst", "LEFT", "RIGHT", 0)
    popper = block(connect("popper"), woken, "BLPOP", "dst", 0)
    run(connect(), "RPUSH", "src", "job")
    assert mover.reply == b"job"
    assert popper.reply == [b"dst", b"job"]
    assert woken == ["mover", "popper"]


def test_blmove_to_a_destination_of_the_wrong_type_gets_wrongtype_and_leaves_the_element(
        connect, woken, state):
    mover = block(connect("mover"), woken, "BRPOPLPUSH", "src", "dst", 0)
    writer = connect()
    run(writer, "SET", "dst", "string")
    run(writer, "RPUSH", "src", "x")
    assert mover.reply == ErrorReply(errors.WRONGTYPE)
    assert run(writer, "LRANGE", "src", 0, -1) == [b"x"]
    assert state.stats["total_error_replies"] == 1


def test_a_key_created_by_rename_serves_blocked_clients(connect, woken):
    waiter = block(connect("waiter"), woken, "BLPOP", "q", 0)
    writer = connect()
    run(writer, "RPUSH", "tmp", "x")
    run(writer, "RENAME", "tmp", "q")
    assert waiter.reply == [b"q", b"x"]


def test_blmpop_served_later_pops_up_to_its_count(connect, woken):
    waiter = block(connect("mpop"), woken, "BLMPOP", 0, 2, "a", "b", "RIGHT", "COUNT", 2)
    run(connect(), "RPUSH", "b", "1", "2", "3")
    assert waiter.reply == [b"b", [b"3", b"2"]]


# ------------------------------------------------------------------ registering, cancelling

def test_registering_serves_at_once_when_the_key_filled_in_between(connect, woken, state):
    ctx = connect("late")
    outcome = run(ctx, "BLPOP", "q", 0)
    run(connect(), "RPUSH", "q", "x")  # before the waiter is registered: nobody served
    waiter = Waiter(outcome, 0, ctx.client, wake=lambda: woken.append("late"))
    assert state.keyspace.blocking.register(waiter) == [b"q", b"x"]
    assert len(state.keyspace.blocking) == 0
    assert woken == []


def test_a_blocked_client_is_counted_and_flagged_until_cancelled(connect, woken, state):
    ctx = connect("c")
    waiter = block(ctx, woken, "BLPOP", "q", 0)
    assert len(state.keyspace.blocking) == 1
    assert BLOCKED_FLAG in ctx.client.flags
    assert state.keyspace.blocking.cancel(waiter) is None
    assert len(state.keyspace.blocking) == 0
    assert BLOCKED_FLAG not in ctx.client.flags
    run(connect(), "RPUSH", "q", "x")
    assert waiter.reply is None
    assert run(connect(), "LLEN", "q") == 1


def test_only_waiters_with_a_timeout_are_counted_as_timed(connect, woken, state):
    forever = block(connect("forever"), woken, "BLPOP", "q", 0)
    timed = block(connect("timed"), woken, "BLPOP", "q", "2.5")
    assert (len(state.keyspace.blocking), state.keyspace.blocking.timed) == (2, 1)
    state.keyspace.blocking.cancel(timed)
    state.keyspace.blocking.cancel(forever)
    assert (len(state.keyspace.blocking), state.keyspace.blocking.timed) == (0, 0)


def test_cancelling_a_waiter_that_was_just_served_returns_its_reply(connect, woken, state):
    waiter = block(connect("c"), woken, "BLPOP", "q", 0)
    run(connect(), "RPUSH", "q", "x")
    assert state.keyspace.blocking.cancel(waiter) == [b"q", b"x"]


def test_wake_all_wakes_every_waiter_without_serving_it(connect, woken, state):
    waiters = [block(connect(name), woken, "BLPOP", name, 0) for name in ("a", "b")]
    state.keyspace.blocking.wake_all()
    assert sorted(woken) == ["a", "b"]
    assert [w.reply for w in waiters] == [None, None]


def test_the_timeout_reply_is_a_null_array(connect):
    assert run(connect(), "BLPOP", "q", "1.5").timeout_reply is NULL_ARRAY
    assert run(connect(), "BLMOVE", "q", "d", "LEFT", "LEFT", "1.5").timeout_reply is NULL_ARRAY


def test_a_blocking_command_that_finds_data_replies_at_once(connect):
    ctx = connect()
    run(ctx, "RPUSH", "q", "a")
    assert run(ctx, "BLPOP", "nothing", "q", 0) == [b"q", b"a"]


# --------------------------------------------------------------------------- timeouts

@pytest.mark.parametrize("text,seconds", [
    (b"0", 0.0), (b"1", 1.0), (b"0.5", 0.5), (b"1.5e3", 1500.0), (b"0x10", 16.0),
    (b"0.0001", 0.001),    # rounded up to a whole millisecond, not down to "forever"
    (b"-0.0005", 0.0),     # rounds up to 0: blocks forever, as in Redis 7.0
    (b"-0.001", 0.0),      # -0.001 * 1000 is just above -1 in long double arithmetic
])
def test_timeouts_are_seconds_rounded_up_to_milliseconds(text, seconds):
    assert parse_timeout(text) == seconds


@pytest.mark.parametrize("text", [b"-1", b"-0.002", b"inf", b"-inf", b"1e20", b"1e400"])
def test_negative_and_unrepresentable_timeouts_are_negative(text):
    with pytest.raises(RedisError) as raised:
        parse_timeout(text)
    assert raised.value.message == errors.TIMEOUT_NEGATIVE


@pytest.mark.parametrize("text", [b"", b"abc", b" 1", b"1 ", b"nan", b"1e5000", b"1,5"])
def test_timeouts_that_are_not_numbers_are_refused(text):
    with pytest.raises(RedisError) as raised:
        parse_timeout(text)
    assert raised.value.message == errors.TIMEOUT_NOT_FLOAT
