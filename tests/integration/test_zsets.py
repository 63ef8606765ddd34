"""Sorted-set commands end to end: redis-py and raw RESP against our server.

The reply-by-reply comparison with real Redis lives in corpus/zsets.txt. Here are the
things a corpus cannot say: exact wire bytes of scores in RESP2 and RESP3, big sets that
leave Redis's compact encoding, clients blocked in BZPOPMIN & co. woken by other
clients (or by their timeout), the command table against real Redis's COMMAND INFO, and
redis-benchmark's sorted-set tests.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time

import pytest

from common.resp import INCOMPLETE, NULL_ARRAY, ReplyParser, encode_command
from tests.conftest import RawConnection

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"


def raw_reply(conn: RawConnection, *args) -> bytes:
    """The exact bytes of one reply: read until a parser sees a whole frame."""
    conn.send(encode_command(*args))
    data, parser = b"", ReplyParser()
    while parser.get() is INCOMPLETE:
        chunk = conn.sock.recv(65536)
        assert chunk, "the server closed the connection"
        data += chunk
        parser.feed(chunk)
    return data


def wait_for(condition, timeout: float = 5.0) -> None:
    """Poll an observable condition (a client showing up as blocked...)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.005)


def blocked_clients(server) -> int:
    return len(server.state.keyspace.blocking)


def in_background(conn: RawConnection, *args) -> dict:
    """Send a (blocking) command now; its reply lands in result["reply"] later."""
    result: dict = {}
    conn.send(encode_command(*args))
    thread = threading.Thread(target=lambda: result.setdefault("reply", conn.read()))
    thread.start()
    result["thread"] = thread
    return result


def reply_of(pending: dict):
    pending["thread"].join(10)
    assert "reply" in pending, "the blocked client never got a reply"
    return pending["reply"]


# --- the command table ----------------------------------------------------------------

ZSET_COMMANDS = [
    "zadd", "zincrby", "zrem", "zcard", "zcount", "zlexcount", "zscore", "zmscore", "zrank",
    "zrevrank", "zrange", "zrangestore", "zrangebyscore", "zrevrangebyscore", "zrangebylex",
    "zrevrangebylex", "zrevrange", "zremrangebyrank", "zremrangebyscore", "zremrangebylex",
    "zpopmin", "zpopmax", "bzpopmin", "bzpopmax", "zmpop", "bzmpop", "zunion", "zinter",
    "zdiff", "zunionstore", "zinterstore", "zdiffstore", "zintercard", "zrandmember", "zscan",
]


def test_every_sorted_set_command_has_redis_arity_flags_keys_and_docs(raw, real_redis_port):
    ours, real = raw(), RawConnection(real_redis_port)
    try:
        for name in ZSET_COMMANDS:
            [mine] = ours.command("COMMAND", "INFO", name)
            [theirs] = real.command("COMMAND", "INFO", name)
            assert mine[1] == theirs[1], name                        # arity
            # We do not model the "movablekeys" flag (keys found through numkeys).
            assert set(mine[2]) == set(theirs[2]) - {"movablekeys"}, name
            assert mine[3:6] == theirs[3:6], name                    # first, last, step
            assert sorted(mine[6]) == sorted(theirs[6]), name        # ACL categories
            assert mine[7] == theirs[7], name                        # tips
            docs = [dict(zip(*[iter(conn.command("COMMAND", "DOCS", name)[1])] * 2))
                    for conn in (ours, real)]
            for field in (b"summary", b"since", b"group", b"complexity"):
                assert docs[0][field] == docs[1][field], (name, field)
    finally:
        real.close()


# --- adding, reading, formatting --------------------------------------------------------

def test_zadd_options_through_redis_py(client):
    assert client.zadd("z", {"a": 1, "b": 2}) == 2
    assert client.zadd("z", {"a": 5, "c": 3}, nx=True) == 1
    assert client.zadd("z", {"a": 5, "d": 4}, xx=True, ch=True) == 1
    assert client.zadd("z", {"a": 1, "b": 9}, gt=True, ch=True) == 1
    assert client.zadd("z", {"a": 10}, lt=True) == 0
    assert client.zadd("z", {"a": 2}, incr=True) == 7.0
    assert client.zadd("z", {"a": 2}, incr=True, nx=True) is None
    assert client.zrange("z", 0, -1, withscores=True) == [(b"c", 3.0), (b"a", 7.0), (b"b", 9.0)]


def test_zadd_option_conflicts_are_redis_errors(client):
    redis = pytest.importorskip("redis")
    for options, message in [(("NX", "XX"), "XX and NX options at the same time are not compatible"),
                             (("GT", "LT"), "GT, LT, and/or NX options at the same time are not compatible"),
                             (("INCR",), "INCR option supports a single increment-element pair")]:
        with pytest.raises(redis.ResponseError, match=message):
            client.execute_command("ZADD", "z", *options, 1, "a", 2, "b")
    client.zadd("inf", {"a": float("inf")})
    with pytest.raises(redis.ResponseError, match="resulting score is not a number"):
        client.zincrby("inf", float("-inf"), "a")
    client.set("s", "v")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        client.zadd("s", {"a": 1})


def test_scores_are_printed_like_redis_with_17_significant_digits(raw):
    conn = raw()
    conn.command("ZADD", "z", "1.1", "a", "inf", "b", "-inf", "c", "1e300", "d", "3", "e")
    assert raw_reply(conn, "ZSCORE", "z", "a") == b"$18\r\n1.1000000000000001\r\n"
    assert raw_reply(conn, "ZSCORE", "z", "b") == b"$3\r\ninf\r\n"
    assert raw_reply(conn, "ZSCORE", "z", "c") == b"$4\r\n-inf\r\n"
    assert raw_reply(conn, "ZSCORE", "z", "d") == b"$23\r\n1.0000000000000001e+300\r\n"
    assert raw_reply(conn, "ZSCORE", "z", "e") == b"$1\r\n3\r\n"
    assert raw_reply(conn, "ZSCORE", "z", "missing") == b"$-1\r\n"


def test_resp3_scores_are_doubles_and_withscores_replies_are_pairs(raw):
    conn = raw()
    conn.command("HELLO", "3")
    conn.command("ZADD", "z", "1.5", "a", "2", "b")
    assert raw_reply(conn, "ZSCORE", "z", "a") == b",1.5\r\n"
    assert raw_reply(conn, "ZSCORE", "z", "missing") == b"_\r\n"
    assert raw_reply(conn, "ZRANGE", "z", "0", "-1", "WITHSCORES") == (
        b"*2\r\n*2\r\n$1\r\na\r\n,1.5\r\n*2\r\n$1\r\nb\r\n,2\r\n")
    assert raw_reply(conn, "ZPOPMIN", "z") == b"*2\r\n$1\r\na\r\n,1.5\r\n"  # flat without COUNT
    assert raw_reply(conn, "ZPOPMIN", "z", "1") == b"*1\r\n*2\r\n$1\r\nb\r\n,2\r\n"


def test_ranges_by_rank_score_and_lex(client):
    client.zadd("z", {m: i for i, m in enumerate("abcdef")})
    assert client.zrange("z", 1, 3) == [b"b", b"c", b"d"]
    assert client.zrange("z", 0, 1, desc=True) == [b"f", b"e"]
    assert client.zrange("z", "(1", 4, byscore=True, offset=1, num=2) == [b"d", b"e"]
    assert client.zrangebyscore("z", "-inf", "+inf", start=4, num=10) == [b"e", b"f"]
    assert client.zrevrangebyscore("z", 3, "(1") == [b"d", b"c"]
    client.zadd("lex", {m: 0 for m in "abcdef"})
    assert client.zrangebylex("lex", "[b", "(e") == [b"b", b"c", b"d"]
    assert client.zrevrangebylex("lex", "+", "[e") == [b"f", b"e"]
    assert client.zlexcount("lex", "-", "+") == 6
    assert client.zcount("z", "(1", "+inf") == 4
    assert client.zrank("z", "c") == 2 and client.zrevrank("z", "c") == 3


def test_store_commands_replace_the_destination_and_delete_it_when_empty(client):
    client.zadd("a", {"x": 1, "y": 2})
    client.zadd("b", {"y": 10, "z": 20})
    client.set("dest", "string", ex=100)
    assert client.zunionstore("dest", ["a", "b"], aggregate="MAX") == 3
    assert client.ttl("dest") == -1
    assert client.zrange("dest", 0, -1, withscores=True) == [(b"x", 1.0), (b"y", 10.0), (b"z", 20.0)]
    assert client.zinterstore("dest", {"a": 2, "b": 1}) == 1
    assert client.zscore("dest", "y") == 14.0
    assert client.zrangestore("dest", "a", 5, 10) == 0
    assert client.exists("dest") == 0


def test_plain_sets_are_inputs_to_set_algebra_with_score_one(raw):
    conn = raw()
    conn.command("SADD", "s", "a", "b")
    conn.command("ZADD", "z", "5", "b", "7", "c")
    assert conn.command("ZUNION", "2", "s", "z", "WITHSCORES") == [b"a", b"1", b"b", b"6", b"c", b"7"]
    assert conn.command("ZINTER", "2", "s", "z", "WITHSCORES") == [b"b", b"6"]
    assert conn.command("ZDIFF", "2", "s", "z", "WITHSCORES") == [b"a", b"1"]
    assert conn.command("ZINTERCARD", "2", "s", "z") == 1


def test_popping_deletes_the_emptied_key(client):
    client.zadd("z", {"a": 1, "b": 2, "c": 3})
    assert client.zpopmin("z") == [(b"a", 1.0)]
    assert client.zpopmax("z", 5) == [(b"c", 3.0), (b"b", 2.0)]
    assert client.exists("z") == 0
    client.zadd("z", {"a": 1})
    assert client.zmpop(2, ["missing", "z"], max=True, count=3) == [b"z", [[b"a", b"1"]]]


def test_zrandmember_counts(client):
    client.zadd("z", {m: i for i, m in enumerate("abcdefghij")})
    assert len(set(client.zrandmember("z", 5))) == 5
    assert len(client.zrandmember("z", -30)) == 30
    assert client.zrandmember("z", 100) == [m.encode() for m in "jihgfedcba"]
    assert client.zrandmember("z") in [m.encode() for m in "abcdefghij"]
    assert client.zrandmember("missing") is None


def test_zscan_walks_a_big_sorted_set_with_a_cursor(client):
    members = {f"m{i}": i / 4 for i in range(500)}
    client.zadd("big", members)
    first_cursor, first_page = client.zscan("big", 0, count=10)
    assert first_cursor != 0 and len(first_page) < 500
    assert dict(client.zscan_iter("big")) == {m.encode(): s for m, s in members.items()}
    assert dict(client.zscan_iter("big", match="m1?")) == {f"m1{i}".encode(): (10 + i) / 4
                                                          for i in range(10)}


def test_copy_rename_and_type_see_sorted_sets(client):
    client.zadd("z", {"a": 1})
    assert client.type("z") == b"zset"
    assert client.copy("z", "z2")
    client.zadd("z2", {"b": 2})
    assert client.zcard("z") == 1 and client.zcard("z2") == 2
    client.rename("z2", "z3")
    assert client.zrange("z3", 0, -1) == [b"a", b"b"]


# --- blocking pops ------------------------------------------------------------------------

def test_bzpopmin_is_woken_by_a_zadd_from_another_client(server, raw):
    waiting, writer = raw(), raw()
    pending = in_background(waiting, "BZPOPMIN", "missing", "z", "0")
    wait_for(lambda: blocked_clients(server) == 1)
    assert writer.command("ZADD", "z", "2", "b", "1", "a") == 2
    assert reply_of(pending) == [b"z", b"a", b"1"]
    assert writer.command("ZRANGE", "z", "0", "-1") == [b"b"]
    assert blocked_clients(server) == 0


def test_bzpopmax_replies_with_a_double_in_resp3(server, raw):
    waiting, writer = raw(), raw()
    waiting.command("HELLO", "3")
    pending = in_background(waiting, "BZPOPMAX", "z", "0")
    wait_for(lambda: blocked_clients(server) == 1)
    writer.command("ZADD", "z", "1.5", "a", "2.5", "b")
    assert reply_of(pending) == [b"z", b"b", 2.5]


def test_bzmpop_is_woken_by_a_store_command(server, raw):
    waiting, writer = raw(), raw()
    pending = in_background(waiting, "BZMPOP", "0", "1", "dest", "MIN", "COUNT", "2")
    wait_for(lambda: blocked_clients(server) == 1)
    writer.command("ZADD", "src", "1", "a", "2", "b", "3", "c")
    writer.command("ZUNIONSTORE", "dest", "1", "src")
    assert reply_of(pending) == [b"dest", [[b"a", b"1"], [b"b", b"2"]]]
    assert writer.command("ZCARD", "dest") == 1


def test_blocking_pops_time_out_with_a_null_array(raw):
    conn = raw()
    started = time.monotonic()
    assert raw_reply(conn, "BZPOPMIN", "missing", "0.1") == b"*-1\r\n"
    assert raw_reply(conn, "BZMPOP", "0.1", "1", "missing", "MAX") == b"*-1\r\n"
    assert time.monotonic() - started >= 0.2
    conn.command("HELLO", "3")
    assert raw_reply(conn, "BZPOPMAX", "missing", "0.05") == b"_\r\n"


def test_blocked_clients_are_served_first_come_first_served(server, raw):
    clients = [raw() for _ in range(3)]
    pending = []
    for n, conn in enumerate(clients, 1):
        pending.append(in_background(conn, "BZPOPMIN", "z", "0"))
        wait_for(lambda n=n: blocked_clients(server) == n)
    writer = raw()
    writer.command("ZADD", "z", "1", "a", "2", "b", "3", "c")
    assert [reply_of(p) for p in pending] == [[b"z", b"a", b"1"], [b"z", b"b", b"2"],
                                              [b"z", b"c", b"3"]]


def test_a_client_blocked_on_a_sorted_set_ignores_a_list_at_that_key(server, raw):
    waiting, writer = raw(), raw()
    pending = in_background(waiting, "BZPOPMIN", "k", "0")
    wait_for(lambda: blocked_clients(server) == 1)
    writer.command("LPUSH", "k", "x")
    assert blocked_clients(server) == 1  # still waiting: Redis serves it only a sorted set
    writer.command("DEL", "k")
    writer.command("ZADD", "k", "1", "a")
    assert reply_of(pending) == [b"k", b"a", b"1"]


def test_a_disconnected_blocked_client_leaves_no_waiter(server, raw):
    waiting = raw()
    waiting.send(encode_command("BZPOPMIN", "z", "0"))
    wait_for(lambda: blocked_clients(server) == 1)
    waiting.close()
    wait_for(lambda: blocked_clients(server) == 0)
    writer = raw()
    writer.command("ZADD", "z", "1", "a")
    assert writer.command("ZCARD", "z") == 1  # nobody took it


def test_blocking_pops_that_find_a_member_do_not_block(raw):
    conn = raw()
    conn.command("ZADD", "z", "1", "a", "2", "b")
    assert conn.command("BZPOPMAX", "missing", "z", "0") == [b"z", b"b", b"2"]
    assert conn.command("BZMPOP", "0", "1", "z", "MIN") == [b"z", [[b"a", b"1"]]]
    conn.command("SET", "s", "v")
    assert conn.command("BZPOPMIN", "missing", "s", "0") == WRONGTYPE
    assert conn.command("BZPOPMIN", "missing", "0.01") is NULL_ARRAY


# --- redis-benchmark ---------------------------------------------------------------------

@pytest.mark.skipif(shutil.which("redis-benchmark") is None, reason="redis-benchmark is not installed")
def test_redis_benchmark_sorted_set_tests_run_without_errors(server):
    result = subprocess.run(["redis-benchmark", "-p", str(server.port), "-q", "-n", "2000",
                             "-t", "zadd,zpopmin"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("requests per second") == 2, result.stdout
    assert "ERR" not in result.stdout + result.stderr
