"""Set commands end to end: redis-py and raw RESP against our server.

The reply-by-reply comparison with real Redis lives in corpus/sets.txt; here are the
properties a corpus cannot state (what random pops and samples may and must return,
big sets, TTLs, RESP3 set shapes), plus the command table's contract and the sampling
rules shared with HRANDFIELD.
"""

from __future__ import annotations

import pytest

from common.clock import FakeClock
from redis_clone.commands.sets import random_sample
from redis_clone.registry import COMMANDS
from redis_clone.server import RedisServer
from tests.conftest import WRONGTYPE, RawConnection, exchange, make_config



# --------------------------------------------------------------------------- the command table

# From Redis 7.0.15's COMMAND INFO: arity, flags, (first key, last key, step).
REDIS_COMMAND_INFO = {
    "sadd": (-3, {"write", "denyoom", "fast"}, (1, 1, 1)),
    "srem": (-3, {"write", "fast"}, (1, 1, 1)),
    "scard": (2, {"readonly", "fast"}, (1, 1, 1)),
    "sismember": (3, {"readonly", "fast"}, (1, 1, 1)),
    "smismember": (-3, {"readonly", "fast"}, (1, 1, 1)),
    "smembers": (2, {"readonly"}, (1, 1, 1)),
    "spop": (-2, {"write", "fast"}, (1, 1, 1)),
    "srandmember": (-2, {"readonly"}, (1, 1, 1)),
    "smove": (4, {"write", "fast"}, (1, 2, 1)),
    "sinter": (-2, {"readonly"}, (1, -1, 1)),
    "sunion": (-2, {"readonly"}, (1, -1, 1)),
    "sdiff": (-2, {"readonly"}, (1, -1, 1)),
    "sinterstore": (-3, {"write", "denyoom"}, (1, -1, 1)),
    "sunionstore": (-3, {"write", "denyoom"}, (1, -1, 1)),
    "sdiffstore": (-3, {"write", "denyoom"}, (1, -1, 1)),
    "sintercard": (-3, {"readonly"}, (0, 0, 0)),  # plus movablekeys, which we do not model
    "sscan": (-3, {"readonly"}, (1, 1, 1)),
}


@pytest.mark.parametrize("name", sorted(REDIS_COMMAND_INFO))
def test_set_command_has_redis_arity_flags_and_key_positions(name):
    spec = COMMANDS.get(name)
    assert (spec.arity, set(spec.flags.names), spec.keys) == REDIS_COMMAND_INFO[name]
    assert spec.group == "set"
    assert spec.syntax.split()[0] == name.upper()


# --------------------------------------------------------------------------- the sampling rules

def test_sampling_a_positive_count_gives_distinct_items():
    picked = random_sample(tuple(range(10)), 4)
    assert len(picked) == 4 == len(set(picked)) and set(picked) <= set(range(10))


def test_sampling_at_least_the_whole_population_gives_it_in_order():
    assert random_sample(("c", "a", "b"), 3) == ["c", "a", "b"]
    assert random_sample(("c", "a", "b"), 10**18) == ["c", "a", "b"]


def test_sampling_a_negative_count_draws_with_repeats():
    picked = random_sample(("a", "b"), -50)
    assert len(picked) == 50 and set(picked) == {"a", "b"}  # 50 fair draws miss one: 2**-49


def test_sampling_nothing_gives_nothing():
    assert random_sample((), -5) == random_sample((), 5) == random_sample(("a",), 0) == []


# --------------------------------------------------------------------------- adding, removing, reading

def test_sadd_counts_only_new_members(client):
    assert client.sadd("s", "a", "b", "b") == 2
    assert client.sadd("s", "b", "c") == 1
    assert client.smembers("s") == {b"a", b"b", b"c"}
    assert client.scard("s") == 3


def test_srem_of_the_last_member_deletes_the_key(client):
    client.sadd("s", "a", "b")
    assert client.srem("s", "a", "a", "z") == 1
    assert client.srem("s", "b") == 1
    assert client.exists("s") == 0
    assert client.srem("s", "b") == 0


def test_membership_tests(client):
    client.sadd("s", "a")
    assert client.sismember("s", "a") == 1
    assert client.sismember("s", "b") == 0
    assert client.sismember("missing", "a") == 0
    assert client.smismember("s", ["a", "b", "a"]) == [1, 0, 1]
    assert client.smismember("missing", ["a"]) == [0]


SET_COMMANDS_ON_KEY_K = [
    ("SADD", "k", "m"), ("SREM", "k", "m"), ("SCARD", "k"), ("SISMEMBER", "k", "m"),
    ("SMISMEMBER", "k", "m"), ("SMEMBERS", "k"), ("SPOP", "k"), ("SPOP", "k", "0"),
    ("SRANDMEMBER", "k"), ("SRANDMEMBER", "k", "-1"), ("SMOVE", "k", "other", "m"),
    ("SINTER", "k"), ("SUNION", "missing", "k"), ("SDIFF", "missing", "k"),
    ("SINTERSTORE", "dst", "missing", "k"), ("SUNIONSTORE", "dst", "k"), ("SDIFFSTORE", "dst", "k"),
    ("SINTERCARD", "2", "missing", "k"), ("SSCAN", "k", "0"),
]


@pytest.mark.parametrize("command", SET_COMMANDS_ON_KEY_K, ids=lambda c: " ".join(c))
def test_set_commands_refuse_another_type(raw, command):
    conn = raw()
    conn.command("SET", "k", "string")
    assert conn.command(*command) == WRONGTYPE
    assert conn.command("GET", "k") == b"string"
    assert conn.command("EXISTS", "dst") == 0


def test_a_set_has_type_set_and_copies_are_independent(client):
    client.sadd("s", "a")
    assert client.type("s") == b"set"
    assert list(client.scan_iter(_type="set")) == [b"s"]
    client.copy("s", "s2")
    client.sadd("s2", "b")
    assert client.smembers("s") == {b"a"}


def test_writes_keep_the_keys_ttl():
    clock = FakeClock()
    srv = RedisServer(make_config(), clock)
    srv.start()
    conn = RawConnection(srv.port)
    try:
        conn.command("SADD", "s", "a", "b", "c", "d")
        conn.command("EXPIRE", "s", "100")
        for command in (("SADD", "s", "e"), ("SREM", "s", "a"), ("SPOP", "s"), ("SPOP", "s", "1"),
                        ("SMOVE", "s", "other", "zz")):
            conn.command(*command)
        assert conn.command("PTTL", "s") == 100_000
        clock.advance(100)
        assert conn.command("SCARD", "s") == 0
    finally:
        conn.close()
        srv.stop()


# --------------------------------------------------------------------------- SMOVE

def test_smove_moves_one_member_and_deletes_an_emptied_source(client):
    client.sadd("from", "a")
    client.sadd("to", "b")
    assert client.smove("from", "to", "a") is True
    assert client.exists("from") == 0
    assert client.smembers("to") == {b"a", b"b"}
    assert client.smove("from", "to", "a") is False


def test_smove_into_a_missing_key_creates_a_set(client):
    client.sadd("from", "a", "b")
    assert client.smove("from", "new", "a") is True
    assert client.smembers("new") == {b"a"}


def test_smove_from_a_missing_key_is_zero_whatever_the_destination(raw):
    conn = raw()
    conn.command("SET", "str", "v")
    assert conn.command("SMOVE", "missing", "str", "a") == 0
    conn.command("SADD", "s", "a")
    assert conn.command("SMOVE", "s", "str", "a") == WRONGTYPE
    assert conn.command("SMOVE", "s", "s", "a") == 1
    assert conn.command("SMOVE", "s", "s", "z") == 0
    assert conn.command("SMEMBERS", "s") == [b"a"]


# --------------------------------------------------------------------------- SPOP, SRANDMEMBER

def test_spop_removes_exactly_the_member_it_returns(client):
    members = {b"a", b"b", b"c"}
    client.sadd("s", *members)
    popped = client.spop("s")
    assert popped in members
    assert client.smembers("s") == members - {popped}


def test_spop_with_count_removes_distinct_members(client):
    members = {str(i).encode() for i in range(50)}
    client.sadd("s", *members)
    popped = client.spop("s", 20)
    assert len(popped) == 20 == len(set(popped))
    assert client.smembers("s") == members - set(popped)


def test_spop_of_at_least_the_size_empties_and_deletes_the_set(client):
    client.sadd("s", "a", "b")
    assert sorted(client.spop("s", 5)) == [b"a", b"b"]
    assert client.exists("s") == 0
    assert client.spop("s") is None
    assert client.spop("s", 3) == []


def test_spop_count_must_not_be_negative(raw):
    conn = raw()
    conn.command("SADD", "s", "a")
    assert conn.command("SPOP", "s", "-1") == "ERR value is out of range, must be positive"
    assert conn.command("SPOP", "s", "abc") == "ERR value is out of range, must be positive"
    assert conn.command("SPOP", "s", "1", "2") == "ERR syntax error"


def test_spop_and_srandmember_reach_every_member(client):
    client.sadd("s", "a", "b", "c")
    assert {client.srandmember("s") for _ in range(300)} == {b"a", b"b", b"c"}


def test_srandmember_positive_count_gives_distinct_members_and_changes_nothing(client):
    members = {str(i).encode() for i in range(30)}
    client.sadd("s", *members)
    sample = client.srandmember("s", 10)
    assert len(sample) == 10 == len(set(sample)) and set(sample) <= members
    assert set(client.srandmember("s", 1000)) == members
    assert client.scard("s") == 30


def test_srandmember_negative_count_allows_repeats(client):
    client.sadd("s", "a", "b")
    sample = client.srandmember("s", -3)
    assert len(sample) == 3 and set(sample) <= {b"a", b"b"}  # 3 picks of 2 must repeat


def test_srandmember_of_a_missing_key(client):
    assert client.srandmember("missing") is None
    assert client.srandmember("missing", 3) == []
    assert client.srandmember("missing", -3) == []


def test_srandmember_count_is_a_c_long_without_its_minimum(raw):
    conn = raw()
    conn.command("SADD", "s", "a")
    assert conn.command("SRANDMEMBER", "s", "-9223372036854775808") == (
        "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
    assert conn.command("SRANDMEMBER", "s", "x") == "ERR value is not an integer or out of range"


# --------------------------------------------------------------------------- set algebra

@pytest.fixture
def three_sets(client):
    client.sadd("s1", "a", "b", "c", "d")
    client.sadd("s2", "c", "d", "e")
    client.sadd("s3", "a", "d", "e", "f")
    return client


def test_sinter_sunion_sdiff(three_sets):
    client = three_sets
    assert client.sinter("s1", "s2", "s3") == {b"d"}
    assert client.sunion("s1", "s2", "s3") == {b"a", b"b", b"c", b"d", b"e", b"f"}
    assert client.sdiff("s1", "s2", "s3") == {b"b"}
    assert client.sinter("s1", "missing") == set()
    assert client.sunion("s1", "missing") == {b"a", b"b", b"c", b"d"}
    assert client.sdiff("missing", "s1") == set()


def test_store_variants_replace_the_destination_and_its_ttl(three_sets):
    client = three_sets
    client.set("dst", "string", ex=100)
    assert client.sinterstore("dst", ["s1", "s2"]) == 2
    assert client.smembers("dst") == {b"c", b"d"}
    assert client.ttl("dst") == -1
    assert client.sunionstore("dst", ["s2", "s3"]) == 5
    assert client.sdiffstore("dst", ["s1", "s2"]) == 2
    assert client.smembers("dst") == {b"a", b"b"}


def test_a_stored_result_shares_nothing_with_its_sources(three_sets):
    client = three_sets
    for command in (client.sinterstore, client.sunionstore, client.sdiffstore):
        command("copy", ["s1"])
        client.sadd("copy", "new")
        assert client.smembers("s1") == {b"a", b"b", b"c", b"d"}


def test_storing_an_empty_result_deletes_the_destination(three_sets):
    client = three_sets
    client.set("dst", "string")
    assert client.sinterstore("dst", ["s1", "missing"]) == 0
    assert client.exists("dst") == 0
    client.sadd("dst", "x")
    assert client.sdiffstore("dst", ["s1", "s1"]) == 0
    assert client.exists("dst") == 0


def test_a_destination_may_be_a_source(three_sets):
    client = three_sets
    assert client.sunionstore("s1", ["s1", "s2"]) == 5
    assert client.smembers("s1") == {b"a", b"b", b"c", b"d", b"e"}


def test_sintercard_counts_up_to_the_limit(three_sets, raw):
    conn = raw()
    assert conn.command("SINTERCARD", "2", "s1", "s2") == 2
    assert conn.command("SINTERCARD", "2", "s1", "s2", "LIMIT", "1") == 1
    assert conn.command("SINTERCARD", "2", "s1", "s2", "LIMIT", "0") == 2
    assert conn.command("SINTERCARD", "2", "s1", "missing") == 0


@pytest.mark.parametrize("args,error", [
    (("0", "s"), "ERR numkeys should be greater than 0"),
    (("x", "s"), "ERR numkeys should be greater than 0"),
    (("2", "s"), "ERR Number of keys can't be greater than number of args"),
    (("1", "s", "LIMIT", "-1"), "ERR LIMIT can't be negative"),
    (("1", "s", "LIMIT"), "ERR syntax error"),
    (("1", "s", "t"), "ERR syntax error"),
])
def test_sintercard_argument_errors(raw, args, error):
    assert raw().command("SINTERCARD", *args) == error


# --------------------------------------------------------------------------- SSCAN

def test_sscan_returns_a_big_set_whole_with_cursor_zero(client):
    members = {f"m:{i}".encode() for i in range(1000)}
    client.sadd("s", *members)
    cursor, found = client.sscan("s", 0, count=5)
    assert cursor == 0 and sorted(found) == sorted(members)
    assert set(client.sscan_iter("s", match="m:99?")) == {f"m:99{i}".encode() for i in range(10)}


def test_sscan_refuses_type_and_accepts_anything_on_a_missing_key(raw):
    conn = raw()
    conn.command("SADD", "s", "a")
    assert conn.command("SSCAN", "s", "0", "TYPE", "set") == "ERR syntax error"
    assert conn.command("SSCAN", "missing", "0", "TYPE", "set") == [b"0", []]


# --------------------------------------------------------------------------- wire format

def test_whole_set_replies_are_resp3_sets_and_srandmember_counts_are_arrays(raw):
    conn = raw()
    conn.command("SADD", "s", "m")
    array = b"*1\r\n$1\r\nm\r\n"
    assert exchange(conn, "SMEMBERS", "s", expected=array) == array
    conn.command("HELLO", "3")
    as_set = b"~1\r\n$1\r\nm\r\n"
    for command in (("SMEMBERS", "s"), ("SINTER", "s"), ("SUNION", "s"), ("SDIFF", "s")):
        assert exchange(conn, *command, expected=as_set) == as_set
    assert exchange(conn, "SRANDMEMBER", "s", "1", expected=array) == array
    assert exchange(conn, "SPOP", "missing", "1", expected=b"~0\r\n") == b"~0\r\n"
    assert exchange(conn, "SPOP", "s", "1", expected=as_set) == as_set
    assert exchange(conn, "SPOP", "s", expected=b"_\r\n") == b"_\r\n"
