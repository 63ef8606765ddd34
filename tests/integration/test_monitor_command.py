"""MONITOR: every command other clients run, as Redis's feed lines."""

from __future__ import annotations

import re

import pytest

LINE = re.compile(r"^\d{10}\.\d{6} \[(\d+) (127\.0\.0\.1:\d+)\] (.*)$")


def feed_line(monitor) -> tuple[str, str, str]:
    match = LINE.match(monitor.read())
    assert match, "not a MONITOR line"
    return match.groups()


@pytest.fixture
def monitor(raw):
    conn = raw()
    assert conn.command("MONITOR") == "OK"
    return conn


def test_monitor_feeds_each_command_with_db_address_and_quoted_args(monitor, raw):
    worker = raw()
    worker.command("SET", "k", "v")
    worker.command("SELECT", "2")
    worker.command("GET", "k")
    host, port = worker.sock.getsockname()[:2]
    assert feed_line(monitor) == ("0", f"{host}:{port}", '"SET" "k" "v"')
    assert feed_line(monitor) == ("2", f"{host}:{port}", '"SELECT" "2"')
    assert feed_line(monitor)[0::2] == ("2", '"GET" "k"')


def test_monitor_escapes_binary_and_quotes_like_sdscatrepr(monitor, raw):
    raw().command("SET", b'a"b\\c\n\x00\xff', "v w")
    assert feed_line(monitor)[2] == r'"SET" "a\"b\\c\n\x00\xff" "v w"'


def test_monitor_skips_admin_commands_and_shows_failures(monitor, raw):
    worker = raw()
    worker.command("CONFIG", "GET", "hz")            # admin: not shown
    worker.command("INCR", "nosuchkey-but-fine")
    worker.command("LPUSH", "nosuchkey-but-fine", "x")  # WRONGTYPE, still fed
    assert feed_line(monitor)[2] == '"INCR" "nosuchkey-but-fine"'
    assert feed_line(monitor)[2] == '"LPUSH" "nosuchkey-but-fine" "x"'


def test_monitor_shows_commands_inside_exec_and_a_second_monitor_is_ignored(monitor, raw):
    worker = raw()
    worker.command("MULTI")
    worker.command("SET", "a", "1")
    worker.command("EXEC")
    assert feed_line(monitor)[2] == '"MULTI"'
    assert feed_line(monitor)[2] == '"set" "a" "1"'  # replayed from the queue: lower case
    assert feed_line(monitor)[2] == '"EXEC"'
    monitor.send(b"MONITOR\r\nPING\r\n")
    assert monitor.read() == "PONG"  # the second MONITOR got no reply at all


def test_monitor_client_is_listed_with_flag_o_and_leaves_on_disconnect(server, monitor, client):
    assert [c["flags"] for c in client.client_list()].count("O") == 1
    monitor.close()
    client.set("k", "v")  # feeding a departed monitor must not fail
    assert client.get("k") == b"v"
