"""SAVE, BGSAVE, save points, MISCONF, DEBUG RELOAD, SHUTDOWN's save and loading, driven
through the dispatcher with a fake clock and no sockets. BGSAVE really forks: the
tests wait for the waiter thread to reap the child instead of sleeping."""

from __future__ import annotations

import os
import shutil

import pytest

from common.clock import FakeClock
from common.resp import ErrorReply, Status, Verbatim
from redis_clone import errors
from redis_clone.persistence.rdb import TYPE_STRING, RdbError
from redis_clone.persistence.rdb_reader import RdbReader
from redis_clone.persistence.rdb_writer import encode_string
from redis_clone.registry import execute
from redis_clone.state import CommandContext, ServerState
from tests.conftest import make_config
from tests.unit.rdb_samples import key_record, rdb_file

import redis_clone.commands  # noqa: F401  (fills the command table)

REAPED = 30.0  # seconds: only reached when a child hangs


@pytest.fixture
def state(tmp_path):
    state = ServerState(make_config(dir=str(tmp_path), enable_debug_command="yes"), FakeClock())
    yield state
    state.persistence.kill_background_save()


def run(state: ServerState, *argv):
    ctx = CommandContext(state, state.clients.register(addr="127.0.0.1:5000"))
    return execute(ctx, [a.encode() if isinstance(a, str) else a for a in argv])


def info(state: ServerState) -> dict[str, str]:
    text = run(state, "INFO", "persistence")
    assert type(text) is Verbatim
    return dict(line.split(":", 1) for line in text.decode().splitlines()[1:] if line)


def dumped(state: ServerState) -> dict[bytes, bytes]:
    """The string keys of db 0 in the dump on disk."""
    with open(state.persistence.path, "rb") as file:
        return {key: value for db, key, value, _ in RdbReader(file.read()).entries() if db == 0}


def bgsave_and_wait(state: ServerState) -> None:
    assert run(state, "BGSAVE") == Status("Background saving started")
    assert state.persistence.wait_for_background_save(REAPED)


def break_the_disk(state: ServerState) -> None:
    """Make saving fail: the configured directory disappears (root ignores permissions)."""
    shutil.rmtree(state.config.get("dir"))


# --- SAVE, BGSAVE, LASTSAVE --------------------------------------------------------

def test_save_writes_the_dataset_and_moves_lastsave(state):
    run(state, "SET", "k", "v")
    state.clock.advance(100)
    assert run(state, "SAVE") == Status("OK")
    assert dumped(state) == {b"k": b"v"}
    assert run(state, "LASTSAVE") == int(state.clock.time())
    assert info(state)["rdb_changes_since_last_save"] == "0"


def test_save_leaves_no_temporary_file_behind(state):
    run(state, "SET", "k", "v")
    run(state, "SAVE")
    assert os.listdir(state.config.get("dir")) == ["dump.rdb"]


def test_bgsave_writes_the_dataset_from_a_child(state):
    run(state, "SET", "k", "v")
    bgsave_and_wait(state)
    assert dumped(state) == {b"k": b"v"}
    fields = info(state)
    assert fields["rdb_bgsave_in_progress"] == "0" and fields["rdb_last_bgsave_status"] == "ok"
    assert state.stats["total_forks"] == 1 and fields["rdb_saves"] == "1"


def test_changes_made_during_a_bgsave_still_count_afterwards(state):
    run(state, "CONFIG", "SET", "rdb-key-save-delay", "100000")  # 0.1 s per key
    run(state, "SET", "k", "v")
    assert run(state, "BGSAVE") == Status("Background saving started")
    run(state, "SET", "later", "v")  # after the fork: not in this snapshot
    assert state.persistence.wait_for_background_save(REAPED)
    assert dumped(state) == {b"k": b"v"}
    assert info(state)["rdb_changes_since_last_save"] == "1"


def test_a_second_bgsave_or_a_save_while_one_runs_is_refused(state):
    run(state, "CONFIG", "SET", "rdb-key-save-delay", "1000000")
    run(state, "SET", "k", "v")
    run(state, "BGSAVE")
    assert info(state)["rdb_bgsave_in_progress"] == "1"
    assert run(state, "BGSAVE") == ErrorReply(errors.BGSAVE_IN_PROGRESS)
    assert run(state, "BGSAVE", "SCHEDULE") == ErrorReply(errors.BGSAVE_IN_PROGRESS)
    assert run(state, "SAVE") == ErrorReply(errors.BGSAVE_IN_PROGRESS)


def test_bgsave_takes_only_the_schedule_option(state):
    assert run(state, "BGSAVE", "NOW") == ErrorReply(errors.SYNTAX)
    assert run(state, "BGSAVE", "SCHEDULE", "SCHEDULE") == ErrorReply(errors.SYNTAX)
    assert run(state, "BGSAVE", "schedule") == Status("Background saving started")


def test_bgsave_inside_exec_is_scheduled_for_the_cron(state):
    ctx = CommandContext(state, state.clients.register(addr="127.0.0.1:5001"))
    for argv in ([b"MULTI"], [b"SET", b"k", b"v"], [b"BGSAVE"]):
        execute(ctx, argv)
    assert execute(ctx, [b"EXEC"]) == [Status("OK"), Status("Background saving scheduled")]
    assert not state.persistence.bgsave_in_progress
    state.persistence.cron()
    assert state.persistence.wait_for_background_save(REAPED)
    assert dumped(state) == {b"k": b"v"}


def test_a_killed_bgsave_leaves_the_previous_dump_and_no_temporary_file(state):
    run(state, "SET", "old", "1")
    run(state, "SAVE")
    run(state, "SET", "new", "2")
    run(state, "CONFIG", "SET", "rdb-key-save-delay", "1000000")
    run(state, "BGSAVE")
    state.persistence.kill_background_save()
    assert dumped(state) == {b"old": b"1"}
    assert os.listdir(state.config.get("dir")) == ["dump.rdb"]
    assert info(state)["rdb_last_bgsave_status"] == "ok"  # stopped on purpose: no failure


# --- save points ----------------------------------------------------------------

def test_a_save_point_starts_a_bgsave_once_both_changes_and_seconds_are_reached(state):
    run(state, "CONFIG", "SET", "save", "60 2")
    run(state, "SET", "a", "1")
    state.clock.advance(61)
    state.persistence.cron()
    assert not state.persistence.bgsave_in_progress  # one change is not enough
    run(state, "SET", "b", "2")
    state.persistence.cron()
    assert state.persistence.bgsave_in_progress
    assert state.persistence.wait_for_background_save(REAPED)
    assert dumped(state) == {b"a": b"1", b"b": b"2"}


def test_the_seconds_must_be_exceeded_not_just_reached(state):
    run(state, "CONFIG", "SET", "save", "60 1")
    run(state, "SET", "a", "1")
    state.clock.advance(60)
    state.persistence.cron()
    assert not state.persistence.bgsave_in_progress
    state.clock.advance(1)
    state.persistence.cron()
    assert state.persistence.bgsave_in_progress


def test_any_of_several_save_points_triggers(state):
    run(state, "CONFIG", "SET", "save", "3600 1 60 100")
    run(state, "SET", "a", "1")
    state.clock.advance(61)
    state.persistence.cron()
    assert not state.persistence.bgsave_in_progress
    state.clock.advance(3600)
    state.persistence.cron()
    assert state.persistence.bgsave_in_progress


def test_without_save_points_nothing_is_saved(state):
    run(state, "SET", "a", "1")
    state.clock.advance(10 ** 6)
    state.persistence.cron()
    assert not state.persistence.bgsave_in_progress


def test_after_a_failed_bgsave_save_points_retry_only_after_five_seconds(state):
    run(state, "CONFIG", "SET", "save", "1 1")
    run(state, "SET", "a", "1")
    break_the_disk(state)
    state.clock.advance(2)
    state.persistence.cron()
    assert state.persistence.wait_for_background_save(REAPED)
    assert info(state)["rdb_last_bgsave_status"] == "err"
    state.clock.advance(5)
    state.persistence.cron()
    assert not state.persistence.bgsave_in_progress
    os.mkdir(state.config.get("dir"))
    state.clock.advance(1)
    state.persistence.cron()
    assert state.persistence.wait_for_background_save(REAPED)
    assert info(state)["rdb_last_bgsave_status"] == "ok"


# --- MISCONF ---------------------------------------------------------------------

def test_after_a_failed_bgsave_writes_and_ping_are_refused_until_a_save_succeeds(state):
    run(state, "CONFIG", "SET", "save", "3600 1")
    run(state, "SET", "k", "v")
    break_the_disk(state)
    bgsave_and_wait(state)
    assert run(state, "SET", "k", "w") == ErrorReply(errors.MISCONF)
    assert run(state, "PING") == ErrorReply(errors.MISCONF)
    assert run(state, "GET", "k") == b"v"
    os.mkdir(state.config.get("dir"))
    assert run(state, "SAVE") == Status("OK")
    assert run(state, "SET", "k", "w") == Status("OK")


@pytest.mark.parametrize("setting", [("stop-writes-on-bgsave-error", "no"), ("save", "")])
def test_misconf_needs_save_points_and_stop_writes_on_bgsave_error(state, setting):
    run(state, "CONFIG", "SET", "save", "3600 1")
    break_the_disk(state)
    bgsave_and_wait(state)
    assert run(state, "PING") == ErrorReply(errors.MISCONF)
    run(state, "CONFIG", "SET", *setting)
    assert run(state, "PING") == Status("PONG")


def test_a_failed_save_answers_a_bare_err_and_leaves_writes_allowed(state):
    run(state, "CONFIG", "SET", "save", "3600 1")
    break_the_disk(state)
    assert run(state, "SAVE") == ErrorReply("ERR")
    assert run(state, "SET", "k", "v") == Status("OK")


# --- FLUSHALL, SHUTDOWN ------------------------------------------------------------

def test_flushall_with_save_points_saves_the_empty_dataset(state):
    run(state, "SET", "k", "v")
    run(state, "SAVE")
    run(state, "CONFIG", "SET", "save", "3600 1")
    run(state, "FLUSHALL")
    assert dumped(state) == {}


def test_flushall_stops_a_running_bgsave(state):
    run(state, "CONFIG", "SET", "rdb-key-save-delay", "1000000")
    run(state, "SET", "k", "v")
    run(state, "BGSAVE")
    run(state, "FLUSHALL")
    assert not state.persistence.bgsave_in_progress
    assert not os.path.exists(state.persistence.path)


@pytest.mark.parametrize("save_points, args, saved", [
    ("3600 1", [], True), ("", [], False), ("", ["SAVE"], True), ("3600 1", ["NOSAVE"], False),
])
def test_shutdown_saves_when_asked_or_when_save_points_are_configured(state, save_points, args, saved):
    run(state, "CONFIG", "SET", "save", save_points)
    run(state, "SET", "k", "v")
    run(state, "SHUTDOWN", *args)
    assert state.shutdown_requested.is_set()
    assert os.path.exists(state.persistence.path) == saved


def test_shutdown_refuses_to_exit_when_the_save_fails_unless_forced(state):
    run(state, "CONFIG", "SET", "save", "3600 1")
    break_the_disk(state)
    assert run(state, "SHUTDOWN") == ErrorReply(errors.SHUTDOWN_FAILED)
    assert not state.shutdown_requested.is_set()
    run(state, "SHUTDOWN", "FORCE")
    assert state.shutdown_requested.is_set()


# --- loading and DEBUG RELOAD --------------------------------------------------------

def test_debug_reload_saves_and_loads_back_every_key_and_ttl(state):
    run(state, "SET", "s", "v", "PX", "100000")
    run(state, "RPUSH", "l", "a", "b")
    run(state, "ZADD", "z", "1.5", "m")
    run(state, "MOVE", "z", "1")
    assert run(state, "DEBUG", "RELOAD") == Status("OK")
    assert run(state, "PTTL", "s") == 100000  # the fake clock did not move
    assert run(state, "LRANGE", "l", "0", "-1") == [b"a", b"b"]
    assert list(state.keyspace[1].get(b"z")) == [(b"m", 1.5)]
    assert info(state)["rdb_changes_since_last_save"] == "0"


def test_debug_reload_nosave_replaces_the_dataset_with_the_file(state):
    run(state, "SET", "saved", "1")
    run(state, "SAVE")
    run(state, "SET", "unsaved", "2")
    run(state, "DEBUG", "RELOAD", "NOSAVE")
    assert run(state, "EXISTS", "saved", "unsaved") == 1


def test_debug_reload_noflush_adds_the_file_and_merge_lets_it_win(state):
    run(state, "SET", "k", "from file")
    run(state, "SAVE")
    run(state, "SET", "k", "in memory")
    run(state, "SET", "other", "kept")
    assert run(state, "DEBUG", "RELOAD", "NOSAVE", "NOFLUSH") == ErrorReply(errors.RELOAD_FAILED)
    assert run(state, "GET", "k") == b"in memory"  # all or nothing
    assert run(state, "DEBUG", "RELOAD", "NOSAVE", "NOFLUSH", "MERGE") == Status("OK")
    assert run(state, "MGET", "k", "other") == [b"from file", b"kept"]


def test_debug_reload_refuses_unknown_options_and_missing_files(state):
    assert run(state, "DEBUG", "RELOAD", "FAST") == ErrorReply(errors.RELOAD_OPTIONS)
    assert run(state, "DEBUG", "RELOAD", "NOSAVE") == ErrorReply(errors.RELOAD_FAILED)


def test_debug_populate_creates_keys_like_redis(state):
    assert run(state, "DEBUG", "POPULATE", "3") == Status("OK")
    assert run(state, "MGET", "key:0", "key:2") == [b"value:0", b"value:2"]
    run(state, "DEBUG", "POPULATE", "2", "p", "10")
    assert run(state, "GET", "p:1") == b"value:1\0\0\0"
    run(state, "DEBUG", "POPULATE", "2", "q", "3")
    assert run(state, "GET", "q:1") == b"val"
    assert run(state, "DEBUG", "POPULATE", "-1") == ErrorReply(errors.NOT_POSITIVE)


def test_loading_skips_keys_that_expired_while_the_server_was_down(state):
    run(state, "SET", "gone", "v", "PX", "1000")
    run(state, "SET", "kept", "v")
    run(state, "SAVE")
    state.clock.advance(2)
    dataset = state.persistence.load()
    assert (dataset.keys_loaded, dataset.keys_expired) == (1, 1)


def test_loading_nothing_when_there_is_no_file(state):
    assert state.persistence.load() is None


def test_startup_load_installs_the_dataset_and_reports_it_in_info(state, tmp_path):
    run(state, "SET", "k", "v")
    run(state, "SAVE")
    fresh = ServerState(make_config(dir=str(tmp_path)), FakeClock())
    fresh.persistence.load_at_startup()
    assert run(fresh, "GET", "k") == b"v"
    assert info(fresh)["rdb_last_load_keys_loaded"] == "1"


def test_a_duplicated_key_in_the_file_is_an_error(state):
    record = key_record(TYPE_STRING, b"k", encode_string(b"1"))
    with open(state.persistence.path, "wb") as file:
        file.write(rdb_file(record + record[2:]))
    with pytest.raises(RdbError, match="duplicated key 'k' in db 0"):
        state.persistence.load()
