"""Generic key commands end to end: redis-py and raw RESP against our server.

Expiry is checked on a server with a fake clock, so no test sleeps. The exhaustive
reply-by-reply comparison with real Redis is corpus/keys.txt; here are what a corpus
cannot express: SCAN while the keyspace changes, patterns thousands of bytes long,
and the command table compared with real Redis's COMMAND INFO.
"""

from __future__ import annotations

import random

import pytest

from common.clock import FakeClock
from common.resp import encode_command
from redis_clone.registry import COMMANDS
from redis_clone.server import RedisServer
from tests.conftest import RawConnection, make_config

redis = pytest.importorskip("redis")

NO_SUCH_KEY = "ERR no such key"
SAME_OBJECT = "ERR source and destination objects are the same"


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def timed_client(clock):
    """redis-py talking to our server running on a fake clock."""
    srv = RedisServer(make_config(), clock)
    srv.start()
    conn = redis.Redis(port=srv.port, socket_timeout=10)
    yield conn
    conn.close()
    srv.stop()


# --- deleting, testing, describing ------------------------------------------------------

def test_del_unlink_exists_and_touch_count_keys(client):
    client.mset({"a": 1, "b": 2, "c": 3})
    assert client.exists("a", "a", "missing") == 2
    assert client.touch("a", "b", "missing") == 2
    assert client.delete("a", "missing") == 1
    assert client.unlink("b", "c", "b") == 2
    assert client.exists("a", "b", "c") == 0


def test_type_names_the_value_type_or_none(client):
    client.set("s", "v")
    assert client.type("s") == b"string"
    assert client.type("missing") == b"none"


def test_randomkey_picks_among_the_keys(client):
    assert client.randomkey() is None
    client.mset({"x": 1, "y": 2})
    assert {client.randomkey() for _ in range(50)} <= {b"x", b"y"}


def test_keys_and_type_reply_on_the_wire_exactly_as_redis(raw):
    conn = raw()
    conn.command("SET", "k", "v")
    conn.send(encode_command("KEYS", "k*") + encode_command("TYPE", "k")
              + encode_command("SCAN", "0") + encode_command("QUIT"))
    assert conn.read_raw_until_closed() == (
        b"*1\r\n$1\r\nk\r\n" b"+string\r\n" b"*2\r\n$1\r\n0\r\n*1\r\n$1\r\nk\r\n" b"+OK\r\n")


# --- KEYS and SCAN --------------------------------------------------------------------------

def test_keys_matches_glob_patterns_on_binary_keys(client):
    keys = [b"user:1", b"user:2", b"user:10", b"\xff\x00bin", b""]
    for key in keys:
        client.set(key, b"v")
    assert sorted(client.keys("user:?")) == [b"user:1", b"user:2"]
    assert sorted(client.keys("user:*")) == [b"user:1", b"user:10", b"user:2"]
    assert client.keys(b"\xff?bin") == [b"\xff\x00bin"]
    assert sorted(client.keys("*")) == sorted(keys)


def full_scan(client, between_calls=lambda: None, **options) -> list[bytes]:
    returned, cursor, calls = [], 0, 0
    while True:
        cursor, batch = client.scan(cursor, **options)
        returned.extend(batch)
        calls += 1
        assert calls < 10_000, "SCAN never returned cursor 0"
        if cursor == 0:
            return returned
        between_calls()


def test_scan_returns_every_key_present_throughout_while_others_come_and_go(client):
    rng = random.Random(42)
    stable = [b"stable:%d" % i for i in range(1500)]
    doomed = [b"doomed:%d" % i for i in range(1500)]
    everything = stable + doomed
    rng.shuffle(everything)  # so that deletions move stable keys around in the table
    pipe = client.pipeline(transaction=False)
    for key in everything:
        pipe.set(key, b"v")
    pipe.execute()
    rng.shuffle(doomed)
    added = iter(range(10**6))

    def churn():
        # Between SCAN calls: delete some keys and add a few new ones (which SCAN may
        # or may not return), so the table shrinks and grows under the cursor.
        for _ in range(rng.randint(1, 10)):
            if doomed:
                client.delete(doomed.pop())
        for _ in range(rng.randint(0, 3)):
            client.set(b"new:%d" % next(added), b"v")

    returned = full_scan(client, churn, count=25)
    assert doomed, "the scan ended before the churn was over; use a smaller COUNT"
    assert set(stable) <= set(returned)


def test_scan_filters_by_match_and_type_and_still_finishes(client):
    for i in range(200):
        client.set(b"user:%d" % i, b"v")
        client.set(b"other:%d" % i, b"v")
    users = full_scan(client, match="user:*", count=7)
    assert set(users) == {b"user:%d" % i for i in range(200)}
    assert full_scan(client, _type="list") == []
    assert len(set(full_scan(client, _type="STRING"))) == 400


def test_scan_iterates_an_empty_database_in_one_call(client):
    assert client.scan(0) == (0, [])


# --- renaming, copying, moving --------------------------------------------------------------

def test_rename_moves_value_and_ttl(timed_client, clock):
    client = timed_client
    client.set("a", "1", px=10_000)
    client.set("b", "2")
    clock.advance(1)
    assert client.rename("a", "b") is True
    assert client.get("b") == b"1"
    assert client.pttl("b") == 9000
    assert client.exists("a") == 0
    with pytest.raises(redis.ResponseError, match="no such key"):
        client.rename("a", "c")


def test_renamenx_refuses_an_existing_target(client):
    client.mset({"a": 1, "b": 2})
    assert client.renamenx("a", "b") is False
    assert client.renamenx("a", "a") is False
    assert client.renamenx("a", "c") is True
    assert client.mget("a", "b", "c") == [None, b"2", b"1"]


def test_copy_to_another_database_with_replace(client, raw):
    client.set("src", "v")
    other = raw()
    other.command("SELECT", 1)
    other.command("SET", "dst", "old")
    assert client.copy("src", "dst", destination_db=1) is False
    assert client.copy("src", "dst", destination_db=1, replace=True) is True
    assert other.command("GET", "dst") == b"v"
    assert client.get("src") == b"v"
    assert other.command("COPY", "dst", "dst") == SAME_OBJECT


def test_move_to_another_database(client, raw):
    client.set("k", "v")
    assert raw().command("MOVE", "k", 0) == SAME_OBJECT
    assert client.move("k", 3) is True
    assert client.exists("k") == 0
    client.execute_command("SELECT", 3)
    assert client.get("k") == b"v"


# --- expiry -----------------------------------------------------------------------------------

def test_keys_expire_when_the_clock_passes_their_deadline(timed_client, clock):
    client = timed_client
    client.set("k", "v")
    assert client.expire("k", 10) is True
    assert client.ttl("k") == 10
    assert client.expiretime("k") == int(clock.time()) + 10
    clock.advance(9.999)
    assert client.pttl("k") == 1
    clock.advance(0.001)
    assert client.get("k") is None
    assert client.ttl("k") == -2


def test_expire_options_through_redis_py(timed_client):
    client = timed_client
    client.set("k", "v")
    assert client.expire("k", 100, xx=True) is False
    assert client.expire("k", 100, nx=True) is True
    assert client.expire("k", 50, gt=True) is False
    assert client.expire("k", 50, lt=True) is True
    assert client.ttl("k") == 50
    assert client.persist("k") is True
    assert client.ttl("k") == -1


def test_pexpireat_in_the_past_deletes_at_once(timed_client, clock):
    client = timed_client
    client.set("k", "v")
    assert client.pexpireat("k", clock.time_ms() - 1) is True
    assert client.exists("k") == 0


def test_expire_errors_are_redis_errors(raw):
    conn = raw()
    conn.command("SET", "k", "v")
    assert conn.command("EXPIRE", "k", 10, "NX", "GT") == \
        "ERR NX and XX, GT or LT options at the same time are not compatible"
    assert conn.command("EXPIRE", "k", 10, "GT", "LT") == \
        "ERR GT and LT options at the same time are not compatible"
    assert conn.command("EXPIRE", "k", 10, "SOON") == "ERR Unsupported option SOON"
    assert conn.command("EXPIRE", "k", 2**62) == "ERR invalid expire time in 'expire' command"
    assert conn.command("RENAME", "missing", "k") == NO_SUCH_KEY


# --- against real Redis -----------------------------------------------------------------------

def keys_everywhere(ours: RawConnection, real: RawConnection, *args) -> tuple[list, list]:
    return sorted(ours.command(*args)), sorted(real.command(*args))


def test_abusive_patterns_match_what_real_redis_matches(server, real_redis_port):
    # Redis gives up on patterns with more than 1000 nested stars; a corpus line of
    # 2000 bytes would be unreadable, so the patterns are built here.
    ours, real = RawConnection(server.port), RawConnection(real_redis_port)
    try:
        real.command("FLUSHALL")
        for conn in (ours, real):
            for key in (b"a" * 1000 + b"b", b"a" * 1001, b"a" * 2000, b"ab" * 600):
                conn.command("SET", key, "v")
        patterns = [b"*a" * 1000, b"*a" * 1001, b"*a" * 1000 + b"*", b"*a" * 1001 + b"*",
                    b"a*" * 1000, b"a*" * 1001, b"a*" * 1001 + b"a", b"a*" * 1000 + b"a**",
                    b"*ab" * 600, b"*?" * 1000 + b"b", b"*?" * 1001, b"[a-b]*" * 1200,
                    b"*" * 50_000, b"a" * 2000]
        for pattern in patterns:
            mine, theirs = keys_everywhere(ours, real, "KEYS", pattern)
            assert mine == theirs, pattern[:40]
    finally:
        real.command("FLUSHALL")
        ours.close()
        real.close()


GENERIC = ["del", "unlink", "exists", "type", "keys", "scan", "rename", "renamenx", "copy",
           "move", "randomkey", "touch", "expire", "pexpire", "expireat", "pexpireat", "ttl",
           "pttl", "expiretime", "pexpiretime", "persist"]


@pytest.mark.parametrize("name", GENERIC)
def test_command_table_entry_matches_real_redis(name, real_redis_port):
    real = RawConnection(real_redis_port)
    try:
        [info] = real.command("COMMAND", "INFO", name)
    finally:
        real.close()
    _, arity, flags, first, last, step = info[:6]
    spec = COMMANDS.get(name)
    assert spec.arity == arity
    assert sorted(spec.flags.names) == sorted(flags)
    assert spec.keys == (first, last, step)
