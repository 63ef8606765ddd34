"""The command table and dispatcher, driven without sockets through a test-only table.

Each test registers small probe handlers in its own `CommandTable`, so nothing here
depends on which real commands exist. Expected error texts are Redis 7.0.15's.
"""

from __future__ import annotations


import pytest

from common.clock import FakeClock
from common.resp import ErrorReply, Status
from common.rwlock import RWLock
from redis_clone import errors
from redis_clone.errors import RedisError
from redis_clone.registry import FAST, READONLY, WRITE, CommandTable, command, container, execute
from redis_clone.state import CommandContext, ServerState


class SpyLock:
    """Stands in for the keyspace lock and says which side is held while a handler runs."""

    def __init__(self) -> None:
        self._lock = RWLock()
        self.held: str | None = None

    def acquire_read(self, timeout: float | None = None) -> bool:
        if self._lock.acquire_read(timeout):
            self.held = "read"
            return True
        return False

    def release_read(self) -> None:
        self.held = None
        self._lock.release_read()

    def acquire_write(self, timeout: float | None = None) -> bool:
        if self._lock.acquire_write(timeout):
            self.held = "write"
            return True
        return False

    def release_write(self) -> None:
        self.held = None
        self._lock.release_write()


@pytest.fixture
def state():
    return ServerState(clock=FakeClock())


@pytest.fixture
def ctx(state):
    return CommandContext(state, state.clients.register(addr="127.0.0.1:5000"))


@pytest.fixture
def table():
    """A table of probes: each returns the args it was given, or what the lock was."""
    t = CommandTable()

    @command("exact", arity=2, table=t)
    def exact(ctx, args):
        """EXACT key"""
        return args

    @command("atleast", arity=-3, table=t)
    def atleast(ctx, args):
        """ATLEAST key value [value ...]"""
        return args

    @command("nameonly", arity=1, table=t)
    def nameonly(ctx, args):
        """NAMEONLY"""
        return Status("OK")

    @command("failing", arity=1, table=t)
    def failing(ctx, args):
        """FAILING"""
        raise RedisError(errors.SYNTAX)

    container("box", group="server", since="1.0.0", summary="holds subcommands", table=t)

    @command("box|open", arity=3, table=t)
    def box_open(ctx, args):
        """BOX OPEN lid"""
        return args

    @command("box|list", arity=-2, table=t)
    def box_list(ctx, args):
        """BOX LIST [pattern]"""
        return args

    @command("docs", arity=-1, table=t)
    def docs(ctx, args):
        """DOCS [name ...]"""
        return [b"everything"]

    @command("docs|count", arity=2, table=t)
    def docs_count(ctx, args):
        """DOCS COUNT"""
        return 3

    return t


@pytest.fixture
def lock_probes(state, table):
    spy = SpyLock()
    state.keyspace.lock = spy
    for name, flags in (("writer", WRITE), ("reader", READONLY | FAST), ("neither", FAST)):
        command(name, arity=1, flags=flags, table=table)(lambda ctx, args: spy.held)
    return spy


def run(ctx, table, *argv):
    return execute(ctx, [a if isinstance(a, bytes) else a.encode() for a in argv], table=table)


# --------------------------------------------------------------------------- arity

def test_positive_arity_is_exact_and_counts_the_command_name(ctx, table):
    assert run(ctx, table, "EXACT", "k") == [b"k"]
    assert run(ctx, table, "EXACT") == "ERR wrong number of arguments for 'exact' command"
    assert run(ctx, table, "EXACT", "k", "extra") == "ERR wrong number of arguments for 'exact' command"


def test_negative_arity_means_at_least(ctx, table):
    assert run(ctx, table, "ATLEAST", "k") == "ERR wrong number of arguments for 'atleast' command"
    assert run(ctx, table, "ATLEAST", "k", "v") == [b"k", b"v"]
    assert run(ctx, table, "ATLEAST", "k", "v", "w", "x") == [b"k", b"v", b"w", b"x"]


def test_arity_one_means_the_name_alone(ctx, table):
    assert run(ctx, table, "NAMEONLY") == Status("OK")
    assert run(ctx, table, "NAMEONLY", "x") == "ERR wrong number of arguments for 'nameonly' command"


def test_errors_come_back_as_error_replies_and_are_counted(ctx, state, table):
    reply = run(ctx, table, "FAILING")
    assert isinstance(reply, ErrorReply) and reply == "ERR syntax error"
    assert isinstance(run(ctx, table, "EXACT"), ErrorReply)
    assert state.stats["total_error_replies"] == 2


def test_a_handler_never_runs_with_the_wrong_number_of_arguments(ctx, table):
    calls = []
    command("counted", arity=2, table=table)(lambda ctx, args: calls.append(args))
    run(ctx, table, "COUNTED")
    run(ctx, table, "COUNTED", "a", "b")
    assert calls == []


# --------------------------------------------------------------------------- names

def test_command_names_are_case_insensitive(ctx, table):
    assert run(ctx, table, "ExAcT", "K") == [b"K"]
    assert run(ctx, table, "exact", "k") == [b"k"]


def test_unknown_command_quotes_the_name_and_the_first_args(ctx, table):
    assert run(ctx, table, "NOPE") == "ERR unknown command 'NOPE', with args beginning with: "
    assert run(ctx, table, "nOpE", "a", "b c") == (
        "ERR unknown command 'nOpE', with args beginning with: 'a' 'b c' ")


def test_unknown_command_shows_about_128_bytes_of_args_as_redis_does():
    # Real Redis 7.0.15: FOO a*100 b*100 c*100 shows all of 'a...', then 25 b's, no c's.
    message = errors.unknown_command(b"FOO", [b"a" * 100, b"b" * 100, b"c" * 100])
    assert message == ("ERR unknown command 'FOO', with args beginning with: '%s' '%s' "
                       % ("a" * 100, "b" * 25))
    # One arg of 126 bytes fills the budget (1 + 126 + 2 = 129 >= 128): the next is dropped.
    message = errors.unknown_command(b"FOO", [b"a" * 126, b"b" * 10])
    assert message.endswith("'%s' " % ("a" * 126))
    # One arg longer than 128 bytes is cut at 128.
    assert errors.unknown_command(b"FOO", [b"x" * 300]).endswith("'%s' " % ("x" * 128))


def test_unknown_command_truncates_a_long_name_at_128_bytes():
    message = errors.unknown_command(b"n" * 200, [b"c"])
    assert message == "ERR unknown command '%s', with args beginning with: 'c' " % ("n" * 128)


def test_unknown_command_counts_bytes_not_characters_as_redis_does():
    # 150 x "é" is 300 bytes; Redis shows the first 128 bytes: 64 characters.
    message = errors.unknown_command(b"FOO", ["é".encode() * 150])
    wire = message.encode("utf-8", "surrogateescape")
    assert wire == b"ERR unknown command 'FOO', with args beginning with: '" + "é".encode() * 64 + b"' "


def test_unknown_command_prints_args_as_c_strings_and_on_one_line():
    # C's %s stops at a NUL byte; CR and LF would break the reply line, so they become spaces.
    assert errors.unknown_command(b"F\0O", [b"a\0b", b"c"]) == (
        "ERR unknown command 'F', with args beginning with: 'a' 'c' ")
    assert errors.unknown_command(b"F\rO", [b"c\nd"]) == (
        "ERR unknown command 'F O', with args beginning with: 'c d' ")


def test_unknown_command_keeps_invalid_utf8_bytes_intact(ctx, table):
    reply = run(ctx, table, b"\xff\xfe", b"\x80")
    assert reply.encode("utf-8", "surrogateescape") == (
        b"ERR unknown command '\xff\xfe', with args beginning with: '\x80' ")


# --------------------------------------------------------------------------- subcommands

def test_subcommands_resolve_case_insensitively_and_get_only_their_own_args(ctx, table):
    assert run(ctx, table, "BOX", "OPEN", "lid") == [b"lid"]
    assert run(ctx, table, "box", "oPeN", "LID") == [b"LID"]
    assert run(ctx, table, "Box", "list") == []


def test_a_container_alone_is_an_arity_error(ctx, table):
    assert run(ctx, table, "BOX") == "ERR wrong number of arguments for 'box' command"


def test_an_unknown_subcommand_suggests_help(ctx, table):
    assert run(ctx, table, "box", "shake") == "ERR unknown subcommand 'shake'. Try BOX HELP."
    assert run(ctx, table, "box", "s" * 200) == "ERR unknown subcommand '%s'. Try BOX HELP." % ("s" * 128)


def test_subcommand_arity_errors_name_the_full_command(ctx, table):
    assert run(ctx, table, "BOX", "OPEN") == "ERR wrong number of arguments for 'box|open' command"
    assert run(ctx, table, "BOX", "OPEN", "a", "b") == "ERR wrong number of arguments for 'box|open' command"


def test_a_container_with_its_own_handler_runs_it_when_called_alone(ctx, table):
    assert run(ctx, table, "DOCS") == [b"everything"]
    assert run(ctx, table, "DOCS", "COUNT") == 3
    assert run(ctx, table, "DOCS", "nope") == "ERR unknown subcommand 'nope'. Try DOCS HELP."


def test_resolve_returns_the_spec_for_introspection(table):
    spec, args = table.resolve([b"box", b"open", b"x"])
    assert (spec.name, spec.arity, spec.syntax, args) == ("box|open", 3, "BOX OPEN lid", [b"x"])


# --------------------------------------------------------------------------- locking

def test_write_commands_run_under_the_exclusive_lock(ctx, table, lock_probes):
    assert run(ctx, table, "WRITER") == "write"
    assert lock_probes.held is None  # released afterwards


def test_readonly_commands_run_under_the_shared_lock(ctx, table, lock_probes):
    assert run(ctx, table, "READER") == "read"
    assert lock_probes.held is None


def test_commands_that_touch_no_keys_take_no_lock(ctx, table, lock_probes):
    assert run(ctx, table, "NEITHER") is None


def test_the_lock_is_released_when_the_handler_fails(ctx, state, table, lock_probes):
    def fail(ctx, args):
        raise RedisError(errors.WRONGTYPE)

    command("badwrite", arity=1, flags=WRITE, table=table)(fail)
    assert run(ctx, table, "BADWRITE") == errors.WRONGTYPE
    assert lock_probes.held is None
    assert run(ctx, table, "WRITER") == "write"  # would block forever if still held


def test_the_real_keyspace_lock_is_exclusive_during_a_write(ctx, state, table):
    lock = state.keyspace.lock
    seen = []
    command("probewrite", arity=1, flags=WRITE, table=table)(
        lambda ctx, args: seen.append((lock._writer, lock._readers)))
    command("proberead", arity=1, flags=READONLY, table=table)(
        lambda ctx, args: seen.append((lock._writer, lock._readers)))
    run(ctx, table, "PROBEWRITE")
    run(ctx, table, "PROBEREAD")
    assert seen == [(True, 0), (False, 1)]


def test_execute_records_the_command_for_the_client(ctx, state, table):
    run(ctx, table, "BOX", "OPEN", "x")
    assert ctx.command.name == "box|open"
    assert state.stats["total_commands_processed"] == 1
