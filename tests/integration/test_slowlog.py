"""SLOWLOG: commands slower than slowlog-log-slower-than, newest first, capped."""

from __future__ import annotations

import pytest


@pytest.fixture
def conn(raw):
    conn = raw()
    conn.command("CONFIG", "SET", "slowlog-log-slower-than", "0")  # log everything
    conn.command("SLOWLOG", "RESET")
    conn.command("CLIENT", "SETNAME", "me")
    return conn


def test_slowlog_entries_have_redis_7_shape(conn):
    conn.command("SET", "k", "v")
    entries = conn.command("SLOWLOG", "GET", "1")
    assert len(entries) == 1
    entry_id, timestamp, duration, args, addr, name = entries[0]
    host, port = conn.sock.getsockname()[:2]
    assert (args, addr, name) == ([b"SET", b"k", b"v"], f"{host}:{port}".encode(), b"me")
    assert isinstance(entry_id, int) and timestamp > 1_600_000_000 and duration >= 0


def test_slowlog_is_newest_first_and_get_counts(conn):
    for i in range(5):
        conn.command("SET", f"k{i}", "v")
    entries = conn.command("SLOWLOG", "GET", "3")
    assert [e[3][1] for e in entries] == [b"k4", b"k3", b"k2"]
    assert [e[0] for e in entries] == sorted((e[0] for e in entries), reverse=True)
    assert len(conn.command("SLOWLOG", "GET", "-1")) >= 6
    assert len(conn.command("SLOWLOG", "GET", "0")) == 0


def test_slowlog_max_len_keeps_only_the_newest(conn):
    conn.command("CONFIG", "SET", "slowlog-max-len", "3")
    for i in range(10):
        conn.command("SET", f"k{i}", "v")
    assert conn.command("SLOWLOG", "LEN") == 3
    assert conn.command("SLOWLOG", "RESET") == "OK"
    assert conn.command("SLOWLOG", "LEN") == 1  # RESET itself was slow enough


def test_slowlog_truncates_many_and_long_arguments_like_redis(conn):
    conn.command("RPUSH", "list", *[str(i) for i in range(40)])
    conn.command("SET", "long", "x" * 200)
    long_entry, many_entry = conn.command("SLOWLOG", "GET", "2")
    assert len(many_entry[3]) == 32
    assert many_entry[3][-1] == b"... (11 more arguments)"  # 42 arguments in all
    assert long_entry[3][2] == b"x" * 128 + b"... (72 more bytes)"


def test_negative_threshold_disables_the_slowlog(conn):
    conn.command("CONFIG", "SET", "slowlog-log-slower-than", "-1")
    conn.command("SLOWLOG", "RESET")
    conn.command("SET", "k", "v")
    assert conn.command("SLOWLOG", "LEN") == 0


def test_slowlog_skips_exec_but_logs_commands_inside_it(conn):
    conn.command("SLOWLOG", "RESET")
    conn.command("MULTI")
    conn.command("SET", "a", "1")
    conn.command("EXEC")
    names = [e[3][0] for e in conn.command("SLOWLOG", "GET", "-1")]
    assert b"EXEC" not in names and b"set" in names and b"MULTI" in names


@pytest.mark.parametrize("args, error", [
    (["GET", "abc"], "ERR count should be greater than or equal to -1"),
    (["GET", "-2"], "ERR count should be greater than or equal to -1"),
    (["FOO"], "ERR unknown subcommand 'FOO'. Try SLOWLOG HELP."),
    (["LEN", "x"], "ERR wrong number of arguments for 'slowlog|len' command"),
])
def test_slowlog_errors(conn, args, error):
    assert conn.command("SLOWLOG", *args) == error
