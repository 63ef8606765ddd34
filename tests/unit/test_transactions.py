"""MULTI/EXEC/WATCH without sockets: clients are CommandContexts on one ServerState,
and time is a FakeClock, so expiry between WATCH and EXEC is exact."""

from __future__ import annotations

import pytest

from common.clock import FakeClock
from common.resp import NULL_ARRAY, ErrorReply, Status
from redis_clone import errors, transactions
from redis_clone.blocking import Block, Waiter
from redis_clone.commands.connection import client_line
from redis_clone.registry import execute
from redis_clone.state import CommandContext, ServerState

import redis_clone.commands  # noqa: F401  (registers the commands)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def state(clock):
    return ServerState(clock=clock)


@pytest.fixture
def connect(state):
    return lambda: CommandContext(state, state.clients.register())


@pytest.fixture
def ctx(connect):
    return connect()


def run(ctx, *argv):
    return execute(ctx, [a if isinstance(a, bytes) else str(a).encode() for a in argv])


def transaction(ctx, *commands):
    """MULTI, the commands (each must be QUEUED), EXEC: returns EXEC's reply."""
    assert run(ctx, "MULTI") == "OK"
    for command in commands:
        assert run(ctx, *command) == Status("QUEUED")
    return run(ctx, "EXEC")


# --- queuing --------------------------------------------------------------------------

def test_commands_after_multi_are_queued_and_run_by_exec_in_order(ctx):
    assert transaction(ctx, ["SET", "k", "1"], ["INCR", "k"], ["GET", "k"]) == ["OK", 2, b"2"]


def test_a_runtime_error_is_returned_in_place_and_the_rest_still_runs(ctx):
    reply = transaction(ctx, ["SET", "k", "x"], ["INCR", "k"], ["SET", "j", "y"])
    assert reply == ["OK", ErrorReply(errors.NOT_INTEGER), "OK"]
    assert run(ctx, "GET", "j") == b"y"


def test_an_unknown_command_while_queuing_aborts_the_whole_transaction(ctx):
    run(ctx, "MULTI")
    assert run(ctx, "SET", "k", "1") == "QUEUED"
    assert run(ctx, "NOPE").startswith("ERR unknown command 'NOPE'")
    assert run(ctx, "EXEC") == ErrorReply(errors.EXECABORT)
    assert run(ctx, "GET", "k") is None
    assert not ctx.client.transaction.active


def test_a_wrong_arity_while_queuing_aborts_too(ctx):
    run(ctx, "MULTI")
    assert run(ctx, "GET") == ErrorReply(errors.wrong_arity("get"))
    assert run(ctx, "EXEC") == ErrorReply(errors.EXECABORT)


def test_exec_with_the_wrong_arity_ends_the_transaction_and_says_why(ctx):
    run(ctx, "MULTI")
    run(ctx, "SET", "k", "1")
    assert run(ctx, "EXEC", "extra") == (
        "EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command")
    assert not ctx.client.transaction.active


def test_no_multi_commands_are_refused_inside_multi(ctx):
    run(ctx, "MULTI")
    assert run(ctx, "SHUTDOWN") == ErrorReply(errors.NOT_ALLOWED_IN_MULTI)
    assert run(ctx, "EXEC") == ErrorReply(errors.EXECABORT)


def test_nested_multi_and_watch_inside_multi_are_errors_that_keep_the_transaction(ctx):
    run(ctx, "MULTI")
    assert run(ctx, "MULTI") == ErrorReply(errors.MULTI_NESTED)
    assert run(ctx, "WATCH", "k") == ErrorReply(errors.WATCH_INSIDE_MULTI)
    run(ctx, "SET", "k", "1")
    assert run(ctx, "EXEC") == ["OK"]


def test_exec_and_discard_without_multi_are_errors(ctx):
    assert run(ctx, "EXEC") == ErrorReply(errors.EXEC_WITHOUT_MULTI)
    assert run(ctx, "DISCARD") == ErrorReply(errors.DISCARD_WITHOUT_MULTI)


def test_discard_drops_the_queue(ctx):
    run(ctx, "MULTI")
    run(ctx, "SET", "k", "1")
    assert run(ctx, "DISCARD") == "OK"
    assert run(ctx, "GET", "k") is None


def test_blocking_commands_inside_multi_answer_as_on_timeout_instead_of_blocking(ctx):
    assert transaction(ctx, ["BLPOP", "nothing", "0"], ["BLMOVE", "nothing", "x", "LEFT", "LEFT", "0"],
                       ["BZPOPMIN", "nothing", "0"]) == [NULL_ARRAY, None, NULL_ARRAY]


def test_clients_blocked_on_a_key_pushed_inside_exec_are_served_after_it(state, ctx, connect):
    waiting = connect()
    block = run(waiting, "BLPOP", "q", "0")
    assert isinstance(block, Block)
    woken = []
    waiter = Waiter(block, 0, waiting.client, wake=lambda: woken.append("woken"))
    assert state.keyspace.blocking.register(waiter) is None
    assert transaction(ctx, ["RPUSH", "q", "a"], ["LLEN", "q"]) == [1, 1]  # still there inside
    assert waiter.reply == [b"q", b"a"] and woken == ["woken"]


# --- WATCH -----------------------------------------------------------------------------

def test_a_write_by_another_client_to_a_watched_key_makes_exec_return_a_nil_array(ctx, connect):
    other = connect()
    run(ctx, "WATCH", "k")
    run(other, "SET", "k", "theirs")
    assert transaction(ctx, ["SET", "k", "mine"]) is NULL_ARRAY
    assert run(ctx, "GET", "k") == b"theirs"


def test_the_same_client_writing_a_watched_key_also_fails_its_transaction(ctx):
    run(ctx, "WATCH", "k")
    run(ctx, "SET", "k", "1")
    assert transaction(ctx, ["PING"]) is NULL_ARRAY


def test_writes_that_change_nothing_leave_the_watch_clean(ctx, connect):
    other = connect()
    run(other, "SET", "k", "v")
    run(ctx, "WATCH", "k", "missing")
    run(other, "SET", "k", "v2", "NX")
    run(other, "DEL", "missing")
    run(other, "GET", "k")
    assert transaction(ctx, ["PING"]) == ["PONG"]


def test_flushall_fails_a_transaction_watching_an_existing_key_only(ctx, connect):
    other = connect()
    run(other, "SET", "k", "v")
    run(ctx, "WATCH", "k")
    run(other, "FLUSHALL")
    assert transaction(ctx, ["PING"]) is NULL_ARRAY
    run(ctx, "WATCH", "never-existed")
    run(other, "FLUSHALL")
    assert transaction(ctx, ["PING"]) == ["PONG"]


def test_in_place_changes_to_a_container_fail_the_transaction(ctx, connect):
    other = connect()
    for setup, change in ((["RPUSH", "k", "a"], ["RPUSH", "k", "b"]),
                          (["HSET", "k", "f", "1"], ["HINCRBY", "k", "f", "1"]),
                          (["SADD", "k", "a"], ["SADD", "k", "b"]),
                          (["ZADD", "k", "1", "a"], ["ZINCRBY", "k", "1", "a"])):
        run(other, "DEL", "k")
        run(other, *setup)
        run(ctx, "WATCH", "k")
        run(other, *change)
        assert transaction(ctx, ["PING"]) is NULL_ARRAY, change


def test_a_key_expiring_between_watch_and_exec_fails_it_even_if_nothing_reclaimed_it(ctx, clock):
    run(ctx, "SET", "k", "v", "PX", "100")
    run(ctx, "WATCH", "k")
    clock.advance(0.5)
    assert transaction(ctx, ["PING"]) is NULL_ARRAY


def test_a_key_expiring_between_watch_and_exec_fails_it_when_active_expiry_reclaims_it(state, ctx, clock):
    run(ctx, "SET", "k", "v", "PX", "100")
    run(ctx, "WATCH", "k")
    clock.advance(0.5)
    state.keyspace.active_expire_cycle(1.0)
    assert transaction(ctx, ["PING"]) is NULL_ARRAY


def test_a_key_already_expired_at_watch_time_may_be_reclaimed_without_failing_exec(state, ctx, clock):
    run(ctx, "SET", "k", "v", "PX", "100")
    clock.advance(0.5)
    run(ctx, "WATCH", "k")
    state.keyspace.active_expire_cycle(1.0)
    assert transaction(ctx, ["PING"]) == ["PONG"]


def test_exec_discard_unwatch_and_exec_abort_all_forget_the_watches(state, ctx):
    watchers = state.keyspace.dbs[0].watchers
    for end in (["EXEC"], ["DISCARD"]):
        run(ctx, "WATCH", "k")
        run(ctx, "MULTI")
        run(ctx, *end)
        assert watchers == {} and ctx.client.transaction.watched == {}
    run(ctx, "WATCH", "k")
    run(ctx, "SET", "k", "1")
    assert run(ctx, "UNWATCH") == "OK"
    assert watchers == {} and not ctx.client.transaction.dirty
    assert transaction(ctx, ["PING"]) == ["PONG"]


def test_unwatch_all_forgets_a_client_that_is_gone(state, ctx):
    run(ctx, "WATCH", "a", "b")
    transactions.unwatch_all(state.keyspace, ctx.client.transaction)
    assert state.keyspace.dbs[0].watchers == {}


def test_client_list_shows_multi_and_a_dirty_watch(ctx, connect):
    other = connect()
    run(ctx, "WATCH", "k")
    run(other, "SET", "k", "1")
    run(ctx, "MULTI")
    run(ctx, "PING")
    line = client_line(ctx.client, 0.0)
    assert b" flags=xd " in line and b" multi=1 " in line
    run(ctx, "DISCARD")
    assert b" flags=N " in client_line(ctx.client, 0.0) and b" multi=-1 " in client_line(ctx.client, 0.0)
