"""List commands end to end, through redis-py and raw RESP2/RESP3 connections.

The differential corpus (corpus/lists.txt) compares every reply with real Redis; these
tests state the expected replies themselves, so they also run where redis-server is
not installed. Expected texts are Redis 7.0.15's.
"""

from __future__ import annotations

import pytest

from common.resp import NULL_ARRAY, ErrorReply

redis = pytest.importorskip("redis")

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"


@pytest.fixture
def resp2(raw):
    return raw()


@pytest.fixture
def resp3(raw):
    conn = raw()
    conn.command("HELLO", 3)
    return conn


def error(message: str) -> ErrorReply:
    return ErrorReply(message)


# --------------------------------------------------------------------------- pushing

def test_lpush_prepends_each_element_in_turn_and_returns_the_length(client):
    assert client.lpush("l", "a") == 1
    assert client.lpush("l", "b", "c") == 3
    assert client.lrange("l", 0, -1) == [b"c", b"b", b"a"]
    assert client.type("l") == b"list"


def test_rpush_appends_and_returns_the_length(client):
    assert client.rpush("l", "a", "b") == 2
    assert client.rpush("l", "") == 3
    assert client.lrange("l", 0, -1) == [b"a", b"b", b""]


def test_pushx_pushes_only_onto_an_existing_list(client):
    assert client.lpushx("l", "a") == 0
    assert client.rpushx("l", "a") == 0
    assert client.exists("l") == 0
    client.rpush("l", "m")
    assert client.lpushx("l", "a", "b") == 3
    assert client.rpushx("l", "z") == 4
    assert client.lrange("l", 0, -1) == [b"b", b"a", b"m", b"z"]


def test_pushing_onto_another_type_is_wrongtype_and_changes_nothing(resp2):
    resp2.command("SET", "s", "v")
    for command in ("LPUSH", "RPUSH", "LPUSHX", "RPUSHX"):
        assert resp2.command(command, "s", "x") == error(WRONGTYPE)
    assert resp2.command("GET", "s") == b"v"


def test_push_arity_errors(resp2):
    assert resp2.command("LPUSH", "l") == error("ERR wrong number of arguments for 'lpush' command")
    assert resp2.command("RPUSHX", "l") == error("ERR wrong number of arguments for 'rpushx' command")


def test_a_push_keeps_the_ttl(client):
    client.rpush("l", "a")
    client.expire("l", 100)
    client.rpush("l", "b")
    assert 0 < client.ttl("l") <= 100


def test_linsert_before_and_after_the_first_matching_pivot(client):
    client.rpush("l", "a", "b", "a")
    assert client.linsert("l", "BEFORE", "a", "x") == 4
    assert client.linsert("l", "after", "b", "y") == 5
    assert client.lrange("l", 0, -1) == [b"x", b"a", b"b", b"y", b"a"]
    assert client.linsert("l", "AFTER", "nothing", "z") == -1
    assert client.linsert("nosuch", "AFTER", "a", "z") == 0


def test_linsert_checks_the_syntax_before_the_key(resp2):
    resp2.command("SET", "s", "v")
    assert resp2.command("LINSERT", "nosuch", "MIDDLE", "a", "b") == error("ERR syntax error")
    assert resp2.command("LINSERT", "s", "MIDDLE", "a", "b") == error("ERR syntax error")
    assert resp2.command("LINSERT", "s", "BEFORE", "a", "b") == error(WRONGTYPE)


# --------------------------------------------------------------------------- popping

def test_pops_without_count_take_one_element_and_delete_the_emptied_list(client):
    client.rpush("l", "a", "b", "c")
    assert client.lpop("l") == b"a"
    assert client.rpop("l") == b"c"
    assert client.lpop("l") == b"b"
    assert client.exists("l") == 0
    assert client.lpop("l") is None


def test_pops_with_count_reply_arrays_in_pop_order(resp2):
    resp2.command("RPUSH", "l", "a", "b", "c", "d", "e")
    assert resp2.command("LPOP", "l", 2) == [b"a", b"b"]
    assert resp2.command("RPOP", "l", 2) == [b"e", b"d"]
    assert resp2.command("LPOP", "l", 0) == []
    assert resp2.command("RPOP", "l", 10) == [b"c"]
    assert resp2.command("EXISTS", "l") == 0


def test_pop_of_a_missing_key_is_nil_without_count_and_a_null_array_with_one(resp2, resp3):
    assert resp2.command("LPOP", "nosuch") is None
    assert resp2.command("LPOP", "nosuch", 2) is NULL_ARRAY
    assert resp2.command("RPOP", "nosuch", 0) is NULL_ARRAY
    assert resp3.command("LPOP", "nosuch") is None
    assert resp3.command("RPOP", "nosuch", 2) is None


def test_pop_count_errors(resp2):
    positive = error("ERR value is out of range, must be positive")
    resp2.command("RPUSH", "l", "a")
    assert resp2.command("LPOP", "l", -1) == positive
    assert resp2.command("RPOP", "l", "abc") == positive
    assert resp2.command("LPOP", "nosuch", "1.5") == positive
    assert resp2.command("LPOP", "l", 1, 2) == error("ERR wrong number of arguments for 'lpop' command")
    resp2.command("SET", "s", "v")
    assert resp2.command("LPOP", "s", 0) == error(WRONGTYPE)


def test_lmove_in_every_direction(client):
    client.rpush("src", "a", "b", "c", "d")
    assert client.lmove("src", "dst", "LEFT", "LEFT") == b"a"
    assert client.lmove("src", "dst", "LEFT", "RIGHT") == b"b"
    assert client.lmove("src", "dst", "RIGHT", "LEFT") == b"d"
    assert client.lmove("src", "dst", "RIGHT", "RIGHT") == b"c"
    assert client.lrange("dst", 0, -1) == [b"d", b"a", b"b", b"c"]
    assert client.exists("src") == 0
    assert client.lmove("src", "dst") is None


def test_lmove_onto_itself_rotates_even_a_single_element(client):
    client.rpush("l", "a", "b", "c")
    assert client.lmove("l", "l", "LEFT", "RIGHT") == b"a"
    assert client.lrange("l", 0, -1) == [b"b", b"c", b"a"]
    client.rpush("one", "x")
    assert client.lmove("one", "one", "LEFT", "LEFT") == b"x"
    assert client.lrange("one", 0, -1) == [b"x"]


def test_lmove_errors_syntax_first_then_types_and_nothing_moves(resp2):
    resp2.command("RPUSH", "src", "a")
    resp2.command("SET", "s", "v")
    assert resp2.command("LMOVE", "nosuch", "dst", "UP", "LEFT") == error("ERR syntax error")
    assert resp2.command("LMOVE", "src", "s", "LEFT", "LEFT") == error(WRONGTYPE)
    assert resp2.command("LMOVE", "s", "dst", "LEFT", "LEFT") == error(WRONGTYPE)
    assert resp2.command("LMOVE", "nosuch", "s", "LEFT", "LEFT") is None
    assert resp2.command("LRANGE", "src", 0, -1) == [b"a"]


def test_rpoplpush_moves_tail_to_head(client):
    client.rpush("src", "a", "b")
    client.rpush("dst", "x")
    assert client.rpoplpush("src", "dst") == b"b"
    assert client.lrange("dst", 0, -1) == [b"b", b"x"]


def test_lmpop_pops_from_the_first_non_empty_list(resp2):
    resp2.command("RPUSH", "b", "1", "2", "3")
    assert resp2.command("LMPOP", 2, "a", "b", "LEFT") == [b"b", [b"1"]]
    assert resp2.command("LMPOP", 2, "a", "b", "RIGHT", "COUNT", 5) == [b"b", [b"3", b"2"]]
    assert resp2.command("LMPOP", 2, "a", "b", "LEFT") is NULL_ARRAY


def test_lmpop_errors(resp2):
    resp2.command("SET", "s", "v")
    assert resp2.command("LMPOP", 0, "a", "LEFT") == error("ERR numkeys should be greater than 0")
    assert resp2.command("LMPOP", "x", "a", "LEFT") == error("ERR numkeys should be greater than 0")
    assert resp2.command("LMPOP", 3, "a", "LEFT") == error("ERR syntax error")
    assert resp2.command("LMPOP", 1, "a", "UP") == error("ERR syntax error")
    assert resp2.command("LMPOP", 1, "a", "LEFT", "COUNT", 0) == \
        error("ERR count should be greater than 0")
    assert resp2.command("LMPOP", 1, "a", "LEFT", "COUNT", 1, "COUNT", 1) == error("ERR syntax error")
    assert resp2.command("LMPOP", 2, "a", "s", "LEFT") == error(WRONGTYPE)


# --------------------------------------------------------------------------- reading

def test_lrange_follows_redis_index_rules(client):
    client.rpush("l", *"abcdefg")
    assert client.lrange("l", 0, 2) == [b"a", b"b", b"c"]
    assert client.lrange("l", -3, -1) == [b"e", b"f", b"g"]
    assert client.lrange("l", -100, 100) == [bytes([c]) for c in b"abcdefg"]
    assert client.lrange("l", 5, 2) == []
    assert client.lrange("l", 7, 10) == []
    assert client.lrange("l", 2, -3) == [b"c", b"d", b"e"]
    assert client.lrange("nosuch", 0, -1) == []


def test_lrange_of_a_long_list_near_the_tail(client):
    client.rpush("l", *range(1000))
    assert client.lrange("l", -3, -1) == [b"997", b"998", b"999"]
    assert client.lrange("l", 500, 502) == [b"500", b"501", b"502"]


def test_lrange_parses_indexes_before_looking_at_the_key(resp2):
    not_integer = error("ERR value is not an integer or out of range")
    assert resp2.command("LRANGE", "nosuch", "a", 1) == not_integer
    resp2.command("SET", "s", "v")
    assert resp2.command("LRANGE", "s", 0, -1) == error(WRONGTYPE)


def test_llen_and_lindex(resp2):
    resp2.command("RPUSH", "l", "a", "b", "c")
    assert resp2.command("LLEN", "l") == 3
    assert resp2.command("LLEN", "nosuch") == 0
    assert [resp2.command("LINDEX", "l", i) for i in (0, 2, 3, -1, -3, -4)] == \
        [b"a", b"c", None, b"c", b"a", None]
    assert resp2.command("LINDEX", "nosuch", "abc") is None  # the key is looked up first
    assert resp2.command("LINDEX", "l", "abc") == error("ERR value is not an integer or out of range")


def test_lpos_finds_ranks_counts_and_respects_maxlen(resp2):
    resp2.command("RPUSH", "l", "a", "b", "c", "a", "b", "c", "a")
    assert resp2.command("LPOS", "l", "a") == 0
    assert resp2.command("LPOS", "l", "a", "RANK", 2) == 3
    assert resp2.command("LPOS", "l", "a", "RANK", -1) == 6
    assert resp2.command("LPOS", "l", "a", "COUNT", 0) == [0, 3, 6]
    assert resp2.command("LPOS", "l", "a", "RANK", -1, "COUNT", 2) == [6, 3]
    assert resp2.command("LPOS", "l", "a", "MAXLEN", 3, "COUNT", 0) == [0]
    assert resp2.command("LPOS", "l", "zz") is None
    assert resp2.command("LPOS", "l", "zz", "COUNT", 0) == []
    assert resp2.command("LPOS", "nosuch", "a", "COUNT", 1) == []


def test_lpos_errors(resp2):
    resp2.command("RPUSH", "l", "a")
    assert resp2.command("LPOS", "l", "a", "RANK", 0) == error(
        "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... "
        "or use negative to start from the end of the list")
    assert resp2.command("LPOS", "l", "a", "COUNT", -1) == error("ERR COUNT can't be negative")
    assert resp2.command("LPOS", "l", "a", "MAXLEN", "x") == error("ERR MAXLEN can't be negative")
    assert resp2.command("LPOS", "l", "a", "RANK") == error("ERR syntax error")
    assert resp2.command("LPOS", "l", "a", "FOO", 1) == error("ERR syntax error")


def test_null_replies_in_resp3(resp3):
    resp3.command("RPUSH", "l", "a")
    assert resp3.command("LINDEX", "l", 5) is None
    assert resp3.command("LPOS", "l", "zz") is None
    assert resp3.command("LMPOP", 1, "nosuch", "LEFT") is None
    assert resp3.command("LMOVE", "nosuch", "d", "LEFT", "LEFT") is None
    assert resp3.command("LRANGE", "l", 0, -1) == [b"a"]


def test_null_replies_in_resp2_keep_their_kind(raw):
    # Read the raw bytes: a nil bulk ($-1) and a null array (*-1) are different replies.
    conn = raw()
    conn.send(b"LINDEX nosuch 0\r\nLMPOP 1 nosuch LEFT\r\nRPOPLPUSH nosuch d\r\nQUIT\r\n")
    assert conn.read_raw_until_closed() == b"$-1\r\n*-1\r\n$-1\r\n+OK\r\n"


# --------------------------------------------------------------------------- changing in place

def test_lset_replaces_by_index(client):
    client.rpush("l", "a", "b", "c")
    assert client.lset("l", 0, "x") is True
    assert client.lset("l", -1, "z") is True
    assert client.lrange("l", 0, -1) == [b"x", b"b", b"z"]


def test_lset_errors(resp2):
    resp2.command("RPUSH", "l", "a")
    assert resp2.command("LSET", "nosuch", 0, "x") == error("ERR no such key")
    assert resp2.command("LSET", "l", 1, "x") == error("ERR index out of range")
    assert resp2.command("LSET", "l", -2, "x") == error("ERR index out of range")
    assert resp2.command("LSET", "l", "abc", "x") == error("ERR value is not an integer or out of range")
    resp2.command("SET", "s", "v")
    assert resp2.command("LSET", "s", 0, "x") == error(WRONGTYPE)


def test_lrem_from_the_head_the_tail_or_everywhere(client):
    client.rpush("l", "a", "b", "a", "c", "a", "b", "a")
    assert client.lrem("l", 2, "a") == 2
    assert client.lrange("l", 0, -1) == [b"b", b"c", b"a", b"b", b"a"]
    assert client.lrem("l", -1, "a") == 1
    assert client.lrange("l", 0, -1) == [b"b", b"c", b"a", b"b"]
    assert client.lrem("l", 0, "b") == 2
    assert client.lrem("l", 0, "nothing") == 0
    assert client.lrem("l", 0, "c") + client.lrem("l", 0, "a") == 2
    assert client.exists("l") == 0
    assert client.lrem("nosuch", 1, "a") == 0


def test_ltrim_keeps_a_range_and_deletes_an_emptied_list(client):
    client.rpush("l", *"abcdefg")
    assert client.ltrim("l", 1, -2) is True
    assert client.lrange("l", 0, -1) == [b"b", b"c", b"d", b"e", b"f"]
    client.ltrim("l", -2, 100)
    assert client.lrange("l", 0, -1) == [b"e", b"f"]
    client.ltrim("l", 5, 10)
    assert client.exists("l") == 0
    assert client.ltrim("nosuch", 0, 1) is True


def test_ltrim_as_a_capped_log(client):
    for i in range(20):
        client.lpush("log", i)
        client.ltrim("log", 0, 4)
    assert client.lrange("log", 0, -1) == [b"19", b"18", b"17", b"16", b"15"]


def test_in_place_commands_on_another_type_are_wrongtype(resp2):
    resp2.command("SET", "s", "v")
    for command in (("LREM", "s", 1, "a"), ("LTRIM", "s", 0, 1), ("LLEN", "s"), ("LINDEX", "s", 0),
                    ("LPOS", "s", "a"), ("LRANGE", "s", 0, 1)):
        assert resp2.command(*command) == error(WRONGTYPE), command


# --------------------------------------------------------------------------- lists as keys

def test_copy_makes_an_independent_list(client):
    client.rpush("l", "a")
    client.copy("l", "l2")
    client.rpush("l2", "b")
    assert client.lrange("l", 0, -1) == [b"a"]
    assert client.lrange("l2", 0, -1) == [b"a", b"b"]


def test_scan_type_list_finds_lists(client):
    client.rpush("l", "a")
    client.set("s", "v")
    assert client.scan(0, _type="list") == (0, [b"l"])
