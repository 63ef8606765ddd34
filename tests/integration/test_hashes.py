"""Hash commands end to end: redis-py and raw RESP against our server.

The reply-by-reply comparison with real Redis lives in corpus/hashes.txt; here are the
properties a corpus cannot state (random replies, big hashes, TTLs, the wire shapes of
RESP2 and RESP3), plus the command table's contract.
"""

from __future__ import annotations

import pytest

from common.clock import FakeClock
from redis_clone.registry import COMMANDS, execute
from redis_clone.server import RedisServer
from redis_clone.state import CommandContext, ServerState
from tests.conftest import WRONGTYPE, RawConnection, exchange, make_config



# --------------------------------------------------------------------------- the command table

# From Redis 7.0.15's COMMAND INFO: arity, flags, (first key, last key, step).
REDIS_COMMAND_INFO = {
    "hset": (-4, {"write", "denyoom", "fast"}, (1, 1, 1)),
    "hsetnx": (4, {"write", "denyoom", "fast"}, (1, 1, 1)),
    "hget": (3, {"readonly", "fast"}, (1, 1, 1)),
    "hmget": (-3, {"readonly", "fast"}, (1, 1, 1)),
    "hmset": (-4, {"write", "denyoom", "fast"}, (1, 1, 1)),
    "hdel": (-3, {"write", "fast"}, (1, 1, 1)),
    "hlen": (2, {"readonly", "fast"}, (1, 1, 1)),
    "hstrlen": (3, {"readonly", "fast"}, (1, 1, 1)),
    "hexists": (3, {"readonly", "fast"}, (1, 1, 1)),
    "hkeys": (2, {"readonly"}, (1, 1, 1)),
    "hvals": (2, {"readonly"}, (1, 1, 1)),
    "hgetall": (2, {"readonly"}, (1, 1, 1)),
    "hincrby": (4, {"write", "denyoom", "fast"}, (1, 1, 1)),
    "hincrbyfloat": (4, {"write", "denyoom", "fast"}, (1, 1, 1)),
    "hrandfield": (-2, {"readonly"}, (1, 1, 1)),
    "hscan": (-3, {"readonly"}, (1, 1, 1)),
}


@pytest.mark.parametrize("name", sorted(REDIS_COMMAND_INFO))
def test_hash_command_has_redis_arity_flags_and_key_positions(name):
    spec = COMMANDS.get(name)
    assert (spec.arity, set(spec.flags.names), spec.keys) == REDIS_COMMAND_INFO[name]
    assert spec.group == "hash"
    assert spec.syntax.split()[0] == name.upper()


# --------------------------------------------------------------------------- setting and reading

def test_hset_counts_only_new_fields(client):
    assert client.hset("h", mapping={"a": "1", "b": "2"}) == 2
    assert client.hset("h", mapping={"a": "10", "c": "3"}) == 1
    assert client.hgetall("h") == {b"a": b"10", b"b": b"2", b"c": b"3"}


def test_hmset_replies_ok_and_an_incomplete_pair_names_the_command(raw):
    conn = raw()
    assert conn.command("HMSET", "h", "a", "1") == "OK"
    assert conn.command("HMSET", "h", "b", "2", "c") == "ERR wrong number of arguments for 'hmset' command"
    assert conn.command("HSET", "h", "b", "2", "c") == "ERR wrong number of arguments for 'hset' command"
    assert conn.command("HKEYS", "h") == [b"a"]


def test_hsetnx_sets_only_a_missing_field(client):
    assert client.hsetnx("h", "f", "1") == 1
    assert client.hsetnx("h", "f", "2") == 0
    assert client.hget("h", "f") == b"1"


def test_reads_of_a_missing_key_or_field_are_empty(client):
    client.hset("h", "f", "v")
    assert client.hget("h", "nofield") is None
    assert client.hget("missing", "f") is None
    assert client.hmget("h", ["f", "nofield"]) == [b"v", None]
    assert client.hmget("missing", ["f"]) == [None]
    assert (client.hlen("missing"), client.hstrlen("h", "nofield"), client.hexists("missing", "f")) == (0, 0, False)
    assert (client.hkeys("missing"), client.hvals("missing"), client.hgetall("missing")) == ([], [], {})


def test_whole_hash_replies_follow_insertion_order(client):
    client.hset("h", mapping={"z": "1", "y": "2", "x": "3"})
    client.hdel("h", "y")
    client.hset("h", "y", "4")
    assert client.hkeys("h") == [b"z", b"x", b"y"]
    assert client.hvals("h") == [b"1", b"3", b"4"]


def test_hdel_of_the_last_field_deletes_the_key(client):
    client.hset("h", mapping={"a": "1", "b": "2"})
    assert client.hdel("h", "a", "a", "nofield") == 1
    assert client.hdel("h", "b") == 1
    assert client.exists("h") == 0
    assert client.type("h") == b"none"


def test_writes_keep_the_keys_ttl():
    clock = FakeClock()
    srv = RedisServer(make_config(), clock)
    srv.start()
    conn = RawConnection(srv.port)
    try:
        conn.command("HSET", "h", "a", "1", "gone", "x")
        conn.command("EXPIRE", "h", "100")
        for command in (("HSET", "h", "b", "2"), ("HINCRBY", "h", "n", "1"), ("HDEL", "h", "gone"),
                        ("HINCRBYFLOAT", "h", "f", "0.5"), ("HSETNX", "h", "c", "3")):
            conn.command(*command)
        assert conn.command("PTTL", "h") == 100_000
        clock.advance(100)
        assert conn.command("HGETALL", "h") == []
    finally:
        conn.close()
        srv.stop()


HASH_COMMANDS_ON_KEY_K = [
    ("HSET", "k", "f", "v"), ("HMSET", "k", "f", "v"), ("HSETNX", "k", "f", "v"), ("HGET", "k", "f"),
    ("HMGET", "k", "f"), ("HDEL", "k", "f"), ("HLEN", "k"), ("HSTRLEN", "k", "f"), ("HEXISTS", "k", "f"),
    ("HKEYS", "k"), ("HVALS", "k"), ("HGETALL", "k"), ("HINCRBY", "k", "f", "1"),
    ("HINCRBYFLOAT", "k", "f", "1"), ("HRANDFIELD", "k"), ("HRANDFIELD", "k", "0"),
    ("HRANDFIELD", "k", "2", "WITHVALUES"), ("HSCAN", "k", "0"),
]


@pytest.mark.parametrize("command", HASH_COMMANDS_ON_KEY_K, ids=lambda c: " ".join(c))
def test_hash_commands_refuse_another_type(raw, command):
    conn = raw()
    conn.command("SET", "k", "string")
    assert conn.command(*command) == WRONGTYPE
    assert conn.command("GET", "k") == b"string"


def test_a_hash_has_type_hash_and_other_commands_see_it(client):
    client.hset("h", "f", "v")
    assert client.type("h") == b"hash"
    assert list(client.scan_iter(_type="hash")) == [b"h"]


def test_get_refuses_a_hash(raw):
    conn = raw()
    conn.command("HSET", "h", "f", "v")
    assert conn.command("GET", "h") == WRONGTYPE


def test_copy_of_a_hash_is_independent(client):
    client.hset("h", "f", "v")
    assert client.copy("h", "h2") is True
    client.hset("h2", "f", "changed")
    assert client.hget("h", "f") == b"v"


# --------------------------------------------------------------------------- counters

def test_hincrby_starts_a_missing_field_at_zero_and_refuses_to_overflow(raw):
    conn = raw()
    assert conn.command("HINCRBY", "h", "n", "-5") == -5
    assert conn.command("HINCRBY", "h", "n", "9223372036854775807") == 9223372036854775802
    assert conn.command("HINCRBY", "h", "n", "6") == "ERR increment or decrement would overflow"
    assert conn.command("HGET", "h", "n") == b"9223372036854775802"


@pytest.mark.parametrize("stored", ["abc", "1.5", " 1", "007", "-0", "99999999999999999999"])
def test_hincrby_refuses_a_value_that_is_not_a_strict_integer(raw, stored):
    conn = raw()
    conn.command("HSET", "h", "f", stored)
    assert conn.command("HINCRBY", "h", "f", "1") == "ERR hash value is not an integer"


def test_hincrbyfloat_computes_in_long_double_like_incrbyfloat(raw):
    conn = raw()
    assert conn.command("HINCRBYFLOAT", "h", "f", "10.5") == b"10.5"
    assert conn.command("HINCRBYFLOAT", "h", "f", "0.1") == b"10.6"  # a double would say ...59999
    assert conn.command("HINCRBYFLOAT", "h", "f", "-10.6") == b"0"
    assert conn.command("HINCRBYFLOAT", "h", "big", "1e400").startswith(b"1000000000000000000028")


def test_hincrbyfloat_refuses_an_infinite_increment_before_creating_the_key(raw):
    conn = raw()
    assert conn.command("HINCRBYFLOAT", "h", "f", "inf") == "ERR value is NaN or Infinity"
    assert conn.command("HINCRBYFLOAT", "h", "f", "nan") == "ERR value is not a valid float"
    assert conn.command("EXISTS", "h") == 0


def test_hincrbyfloat_errors_on_a_stored_value_or_an_infinite_sum(raw):
    conn = raw()
    conn.command("HSET", "h", "text", "abc", "max", "1e4932")
    assert conn.command("HINCRBYFLOAT", "h", "text", "1") == "ERR hash value is not a float"
    assert conn.command("HINCRBYFLOAT", "h", "max", "1e4932") == "ERR increment would produce NaN or Infinity"


# --------------------------------------------------------------------------- HRANDFIELD

def test_hrandfield_without_count_is_one_field_or_nil(client):
    assert client.hrandfield("missing") is None
    client.hset("h", mapping={"a": "1", "b": "2", "c": "3"})
    assert {client.hrandfield("h") for _ in range(200)} == {b"a", b"b", b"c"}


def test_hrandfield_positive_count_gives_distinct_fields(client):
    client.hset("h", mapping={str(i): str(i) for i in range(20)})
    for count in (1, 5, 19):
        fields = client.hrandfield("h", count)
        assert len(fields) == count == len(set(fields))
        assert set(fields) <= {str(i).encode() for i in range(20)}


def test_hrandfield_count_at_least_the_size_is_the_whole_hash_in_order(client):
    client.hset("h", mapping={"x": "1", "a": "2", "m": "3"})
    assert client.hrandfield("h", 3) == [b"x", b"a", b"m"]
    assert client.hrandfield("h", 1000, withvalues=True) == [b"x", b"1", b"a", b"2", b"m", b"3"]


def test_hrandfield_negative_count_allows_repeats(client):
    client.hset("h", mapping={"a": "1", "b": "2"})
    fields = client.hrandfield("h", -7)
    assert len(fields) == 7 and set(fields) <= {b"a", b"b"}  # 7 picks of 2 fields must repeat
    pairs = client.hrandfield("h", -5, withvalues=True)
    assert len(pairs) == 10
    assert all(dict(a="1", b="2")[field.decode()].encode() == value
               for field, value in zip(pairs[::2], pairs[1::2]))


def test_hrandfield_on_a_missing_key_with_count_is_an_empty_array(raw):
    conn = raw()
    assert conn.command("HRANDFIELD", "missing", "3") == []
    assert conn.command("HRANDFIELD", "missing", "-3", "WITHVALUES") == []


@pytest.mark.parametrize("args,error", [
    (("abc",), "ERR value is not an integer or out of range"),
    (("-9223372036854775808",),
     "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"),
    (("4611686018427387904", "WITHVALUES"), "ERR value is out of range"),
    (("1", "WITHSCORES"), "ERR syntax error"),
    (("1", "WITHVALUES", "x"), "ERR syntax error"),
])
def test_hrandfield_argument_errors(raw, args, error):
    conn = raw()
    conn.command("HSET", "h", "f", "v")
    assert conn.command("HRANDFIELD", "h", *args) == error


def test_hrandfield_withvalues_nests_pairs_in_resp3_only(raw):
    conn = raw()
    conn.command("HSET", "h", "f", "v")
    two = b"*4\r\n$1\r\nf\r\n$1\r\nv\r\n$1\r\nf\r\n$1\r\nv\r\n"
    assert exchange(conn, "HRANDFIELD", "h", "-2", "WITHVALUES", expected=two) == two
    conn.command("HELLO", "3")
    nested = b"*2\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
    assert exchange(conn, "HRANDFIELD", "h", "-2", "WITHVALUES", expected=nested) == nested
    flat = b"*1\r\n$1\r\nf\r\n"
    assert exchange(conn, "HRANDFIELD", "h", "1", expected=flat) == flat


# --------------------------------------------------------------------------- HSCAN

def test_hscan_returns_a_big_hash_whole_with_cursor_zero(client):
    mapping = {f"field:{i}": str(i) for i in range(1000)}
    client.hset("h", mapping=mapping)
    cursor, found = client.hscan("h", 0, count=10)
    assert cursor == 0
    assert found == {key.encode(): value.encode() for key, value in mapping.items()}
    assert dict(client.hscan_iter("h", match="field:99?")) == {
        f"field:99{i}".encode(): f"99{i}".encode() for i in range(10)}


def test_hscan_of_a_missing_key_ignores_its_options(raw):
    assert raw().command("HSCAN", "missing", "0", "TYPE", "hash") == [b"0", []]


def test_hscan_refuses_type_and_bad_counts(raw):
    conn = raw()
    conn.command("HSET", "h", "f", "v")
    assert conn.command("HSCAN", "h", "0", "TYPE", "hash") == "ERR syntax error"
    assert conn.command("HSCAN", "h", "0", "COUNT", "0") == "ERR syntax error"
    assert conn.command("HSCAN", "h", "x") == "ERR invalid cursor"


# --------------------------------------------------------------------------- wire format

def test_hgetall_is_a_flat_array_in_resp2_and_a_map_in_resp3(raw):
    conn = raw()
    conn.command("HSET", "h", "f", "v")
    flat = b"*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
    assert exchange(conn, "HGETALL", "h", expected=flat) == flat
    conn.command("HELLO", "3")
    mapped = b"%1\r\n$1\r\nf\r\n$1\r\nv\r\n"
    assert exchange(conn, "HGETALL", "h", expected=mapped) == mapped
    assert exchange(conn, "HGETALL", "missing", expected=b"%0\r\n") == b"%0\r\n"
    assert exchange(conn, "HGET", "h", "nofield", expected=b"_\r\n") == b"_\r\n"


# --------------------------------------------------------------------------- without sockets

def run(ctx, *argv):
    return execute(ctx, [arg.encode() if isinstance(arg, str) else arg for arg in argv])


@pytest.fixture
def ctx():
    state = ServerState()
    return CommandContext(state, state.clients.register())


def test_changing_an_existing_hash_counts_as_a_change(ctx):
    keyspace = ctx.server.keyspace
    run(ctx, "HSET", "h", "a", "1")
    for command in (("HSET", "h", "b", "2"), ("HINCRBY", "h", "n", "1"), ("HDEL", "h", "a")):
        before = keyspace.dirty
        run(ctx, *command)
        assert keyspace.dirty > before, command


def test_a_failed_increment_changes_nothing(ctx):
    run(ctx, "HSET", "h", "s", "abc")
    before = ctx.server.keyspace.dirty
    assert run(ctx, "HINCRBY", "h", "s", "1") == "ERR hash value is not an integer"
    assert ctx.server.keyspace.dirty == before
    assert ctx.db.get(b"h") == {b"s": b"abc"}
