"""SORT and SORT_RO end to end, and the strtod() reading of their numeric weights.

The reply-by-reply comparison with real Redis lives in corpus/sort.txt; here are the
command table's contract, the number parser case by case (what real Redis 7.0.15
accepted and refused), and the behaviors as a reader would state them.
"""

from __future__ import annotations

import random
import threading

import pytest

from common.resp import encode_command
from redis_clone.commands.sort import strtod
from redis_clone.errors import RedisError
from redis_clone.registry import COMMANDS
from tests.conftest import RawConnection

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
NOT_DOUBLE = "ERR One or more scores can't be converted into double"


# --------------------------------------------------------------------------- the command table

def test_sort_and_sort_ro_have_redis_arity_flags_and_key_positions():
    sort, sort_ro = COMMANDS.get("sort"), COMMANDS.get("sort_ro")
    assert (sort.arity, set(sort.flags.names), sort.keys) == (-2, {"write", "denyoom"}, (1, 1, 1))
    assert (sort_ro.arity, set(sort_ro.flags.names), sort_ro.keys) == (-2, {"readonly"}, (1, 1, 1))
    assert sort.syntax.startswith("SORT key ") and sort_ro.syntax.startswith("SORT_RO key ")
    assert "STORE" in sort.syntax and "STORE" not in sort_ro.syntax


# --------------------------------------------------------------------------- strtod

@pytest.mark.parametrize("text,value", [
    (b"", 0.0), (b"\x00x", 0.0), (b"5\x00abc", 5.0), (b" 5", 5.0), (b"\t\n\x0b\x0c\r7", 7.0),
    (b"0x10", 16.0), (b"0x1p3", 8.0), (b"0X1P-2", 0.25), (b"0x1.8", 1.5), (b"1.", 1.0),
    (b".5", 0.5), (b"+.5", 0.5), (b"-0", 0.0), (b"inf", float("inf")), (b"-INF", float("-inf")),
    (b"infinity", float("inf")), (b"2.2250738585072014e-308", 2.2250738585072014e-308),
    (b"1.7976931348623158e308", 1.7976931348623157e308), (b"0e-999", 0.0),
    (b"100000000000000000000000000000000000000000000000e-350", 1e-303),
])
def test_strtod_reads_what_redis_reads(text, value):
    assert strtod(text) == value


@pytest.mark.parametrize("text", [
    b"5 ", b"  ", b"abc", b"nan", b"1e", b".", b"0x", b"1_000", b"1,5", b"--1",
    b"1e400", b"-1e400", b"1.7976931348623159e308", b"0x1p1024",   # overflow: ERANGE
    b"1e-400", b"1e-310", b"4.9406564584124654e-324", b"1e-320",   # underflow: ERANGE
])
def test_strtod_refuses_what_redis_refuses(text):
    with pytest.raises(RedisError) as refused:
        strtod(text)
    assert refused.value.message == NOT_DOUBLE


# --------------------------------------------------------------------------- sorting

def test_numbers_sort_numerically_and_ties_by_their_bytes(client):
    client.rpush("l", "10", "9", "1.0", "1", "-2", "0x3")
    assert client.sort("l") == [b"-2", b"1", b"1.0", b"0x3", b"9", b"10"]
    assert client.sort("l", desc=True) == [b"10", b"9", b"0x3", b"1.0", b"1", b"-2"]


def test_a_random_list_sorts_like_python_sorts_its_numbers(client):
    rng = random.Random(7)
    numbers = [rng.uniform(-1e6, 1e6) for _ in range(500)] + [rng.randint(-99, 99) for _ in range(200)]
    client.rpush("l", *numbers)
    assert [float(x) for x in client.sort("l")] == sorted(float(n) for n in numbers)


def test_one_bad_number_fails_the_whole_sort(raw):
    conn = raw()
    conn.command("RPUSH", "l", "1", "2", "x")
    assert conn.command("SORT", "l") == NOT_DOUBLE
    assert conn.command("SORT", "l", "LIMIT", "0", "1") == NOT_DOUBLE
    assert conn.command("SORT", "l", "ALPHA") == [b"1", b"2", b"x"]


def test_alpha_sorts_bytes(client):
    client.rpush("l", "b", "B", "a", "10", "9", "")
    assert client.sort("l", alpha=True) == [b"", b"10", b"9", b"B", b"a", b"b"]
    assert client.sort("l", alpha=True, desc=True, start=0, num=2) == [b"b", b"a"]


def test_limit_selects_a_window_of_the_sorted_result(client):
    client.rpush("l", *range(10, 0, -1))
    assert client.sort("l", start=2, num=3) == [b"3", b"4", b"5"]
    assert client.sort("l", start=8, num=100) == [b"9", b"10"]
    assert client.sort("l", start=-5, num=1) == [b"1"]
    assert client.sort("l", start=20, num=1) == []


def test_sorting_a_missing_key_is_empty(client):
    assert client.sort("missing") == []


def test_only_lists_sets_and_sorted_sets_can_be_sorted(raw):
    conn = raw()
    conn.command("SET", "s", "v")
    conn.command("HSET", "h", "f", "v")
    assert conn.command("SORT", "s") == WRONGTYPE
    assert conn.command("SORT_RO", "h") == WRONGTYPE
    assert conn.command("SORT", "s", "BOGUS") == "ERR syntax error"  # options come first


# --------------------------------------------------------------------------- BY and GET

@pytest.fixture
def people(client):
    client.rpush("ids", "1", "2", "3")
    client.hset("user:1", mapping={"name": "carol", "age": "31"})
    client.hset("user:2", mapping={"name": "alice", "age": "25"})
    client.hset("user:3", mapping={"name": "bob"})
    client.mset({"rank_1": "2", "rank_2": "3", "rank_3": "1"})
    return client


def test_by_sorts_elements_by_other_keys(people):
    assert people.sort("ids", by="rank_*") == [b"3", b"1", b"2"]
    assert people.sort("ids", by="rank_*", desc=True) == [b"2", b"1", b"3"]


def test_by_a_hash_field_and_missing_weights_count_as_zero(people):
    assert people.sort("ids", by="user:*->age") == [b"3", b"2", b"1"]
    assert people.sort("ids", by="user:*->name", alpha=True) == [b"2", b"3", b"1"]


def test_get_looks_up_fields_and_keys_per_element(people):
    assert people.sort("ids", by="user:*->age", get=["#", "user:*->name", "user:*->age"]) == [
        b"3", b"bob", None, b"2", b"alice", b"25", b"1", b"carol", b"31"]
    assert people.sort("ids", get=["rank_*", "nothing_*", "fixed"]) == [
        b"2", None, None, b"3", None, None, b"1", None, None]


def test_by_nosort_keeps_the_list_order(client):
    client.rpush("l", "c", "a", "b")
    assert client.sort("l", by="nosort") == [b"c", b"a", b"b"]
    assert client.sort("l", by="nosort", desc=True) == [b"b", b"a", b"c"]
    assert client.sort("l", by="nosort", start=1, num=1) == [b"a"]


def test_by_nosort_keeps_a_sorted_sets_rank_order(client):
    client.zadd("z", {"c": 1, "a": 2, "b": 3, "d": 4})
    assert client.sort("z", by="nosort") == [b"c", b"a", b"b", b"d"]
    assert client.sort("z", by="nosort", desc=True, start=1, num=2) == [b"b", b"a"]
    assert client.sort("z", alpha=True) == [b"a", b"b", b"c", b"d"]


def test_sets_sort_numerically_or_alphabetically(client):
    client.sadd("s", "3", "1", "2")
    assert client.sort("s") == [b"1", b"2", b"3"]
    assert sorted(client.sort("s", by="nosort")) == [b"1", b"2", b"3"]


def test_a_set_stored_with_by_nosort_is_sorted_alphabetically(client):
    client.sadd("s", "b", "10", "9", "a")
    assert client.sort("s", by="nosort", store="dst") == 4
    assert client.lrange("dst", 0, -1) == [b"10", b"9", b"a", b"b"]


# --------------------------------------------------------------------------- STORE

def test_store_writes_a_list_and_replies_its_length(client):
    client.rpush("l", "3", "1", "2")
    client.set("dst", "old", ex=100)
    assert client.sort("l", store="dst") == 3
    assert client.type("dst") == b"list"
    assert client.ttl("dst") == -1
    assert client.lrange("dst", 0, -1) == [b"1", b"2", b"3"]


def test_store_turns_missing_get_values_into_empty_strings(client):
    client.rpush("l", "1", "2")
    client.set("v_2", "two")
    assert client.sort("l", get=["#", "v_*"], store="dst") == 4
    assert client.lrange("dst", 0, -1) == [b"1", b"", b"2", b"two"]


def test_store_of_an_empty_result_deletes_the_destination(client):
    client.set("dst", "v")
    assert client.sort("missing", store="dst") == 0
    assert client.exists("dst") == 0


def test_sort_ro_refuses_store(raw):
    conn = raw()
    conn.command("RPUSH", "l", "1")
    assert conn.command("SORT_RO", "l", "STORE", "dst") == "ERR syntax error"
    assert conn.command("SORT_RO", "l") == [b"1"]


def test_store_wakes_a_client_blocked_on_the_destination(server, raw):
    waiter = raw()
    reply = []
    thread = threading.Thread(target=lambda: reply.append(waiter.command("BLPOP", "dst", "0")))
    thread.start()
    conn = raw()
    while conn.command("INFO", "clients").find(b"blocked_clients:1") < 0:
        pass  # wait until the BLPOP is parked (observed, not slept for)
    conn.command("RPUSH", "l", "2", "1")
    assert conn.command("SORT", "l", "STORE", "dst") == 2
    thread.join(10)
    assert reply == [[b"dst", b"1"]]
    assert conn.command("LRANGE", "dst", "0", "-1") == [b"2"]


# --------------------------------------------------------------------------- wire format

def test_missing_get_values_are_resp3_nulls(raw):
    conn = raw()
    conn.command("RPUSH", "l", "1")
    conn.command("HELLO", "3")
    expected = b"*2\r\n$1\r\n1\r\n_\r\n"
    conn.send(encode_command("SORT", "l", "GET", "#", "GET", "missing_*"))
    data = b""
    while len(data) < len(expected):
        data += conn.sock.recv(65536)
    assert data == expected


def test_sort_replies_identically_to_real_redis_on_random_lists(server, real_redis_port):
    rng = random.Random(11)
    ours, real = RawConnection(server.port), RawConnection(real_redis_port)
    try:
        for round_ in range(20):
            key = f"test_sort:random:{round_}"
            values = [rng.choice([str(rng.randint(-50, 50)), f"{rng.uniform(-10, 10):.3f}", "1", "1.0"])
                      for _ in range(rng.randint(0, 30))]
            for conn in (ours, real):
                conn.command("DEL", key)
                if values:
                    conn.command("RPUSH", key, *values)
            for options in ([], ["DESC"], ["ALPHA"], ["LIMIT", "2", "5"], ["ALPHA", "DESC", "LIMIT", "1", "3"],
                            ["BY", "nosort", "DESC", "LIMIT", "3", "4"]):
                assert ours.command("SORT", key, *options) == real.command("SORT", key, *options), options
    finally:
        for conn in (ours, real):
            conn.close()
