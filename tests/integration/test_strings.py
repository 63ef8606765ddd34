"""String commands end to end: redis-py and raw RESP against our server.

TTL behaviour is checked on a server with a fake clock, reading deadlines through the
Database API, so no test sleeps. The exhaustive reply-by-reply comparison with real
Redis lives in corpus/strings.txt; the random INCRBYFLOAT comparison is here.
"""

from __future__ import annotations

import random

import pytest

from common.clock import FakeClock
from redis_clone.registry import COMMANDS
from redis_clone.server import RedisServer
from tests.conftest import WRONGTYPE, RawConnection, exchange, make_config

NOT_INTEGER = "ERR value is not an integer or out of range"
NOT_FLOAT = "ERR value is not a valid float"
TOO_LONG = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"


def start(config=None, clock=None):
    srv = RedisServer(config or make_config(), clock)
    srv.start()
    return srv


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def timed(clock):
    """Our server on a fake clock, and a raw connection to it."""
    srv = start(clock=clock)
    conn = RawConnection(srv.port)
    yield srv, conn
    conn.close()
    srv.stop()


def deadline(srv, key: bytes):
    keyspace = srv.state.keyspace
    with keyspace.lock.read():
        return keyspace[0].deadline(key)


def store_non_string(srv, key: bytes) -> None:
    """Put a value of another type under `key` (any non-bytes value is one)."""
    keyspace = srv.state.keyspace
    with keyspace.lock.write():
        keyspace[0].set(key, [b"not", b"a", b"string"])


# --------------------------------------------------------------------------- the command table

# From Redis 7.0.15's COMMAND INFO: arity, flags, (first key, last key, step).
REDIS_COMMAND_INFO = {
    "set": (-3, {"write", "denyoom"}, (1, 1, 1)),
    "get": (2, {"readonly", "fast"}, (1, 1, 1)),
    "getset": (3, {"write", "denyoom", "fast"}, (1, 1, 1)),
    "getdel": (2, {"write", "fast"}, (1, 1, 1)),
    "getex": (-2, {"write", "fast"}, (1, 1, 1)),
    "setnx": (3, {"write", "denyoom", "fast"}, (1, 1, 1)),
    "setex": (4, {"write", "denyoom"}, (1, 1, 1)),
    "psetex": (4, {"write", "denyoom"}, (1, 1, 1)),
    "mset": (-3, {"write", "denyoom"}, (1, -1, 2)),
    "msetnx": (-3, {"write", "denyoom"}, (1, -1, 2)),
    "mget": (-2, {"readonly", "fast"}, (1, -1, 1)),
    "append": (3, {"write", "denyoom", "fast"}, (1, 1, 1)),
    "strlen": (2, {"readonly", "fast"}, (1, 1, 1)),
    "getrange": (4, {"readonly"}, (1, 1, 1)),
    "substr": (4, {"readonly"}, (1, 1, 1)),
    "setrange": (4, {"write", "denyoom"}, (1, 1, 1)),
    "incr": (2, {"write", "denyoom", "fast"}, (1, 1, 1)),
    "decr": (2, {"write", "denyoom", "fast"}, (1, 1, 1)),
    "incrby": (3, {"write", "denyoom", "fast"}, (1, 1, 1)),
    "decrby": (3, {"write", "denyoom", "fast"}, (1, 1, 1)),
    "incrbyfloat": (3, {"write", "denyoom", "fast"}, (1, 1, 1)),
}


@pytest.mark.parametrize("name", sorted(REDIS_COMMAND_INFO))
def test_string_command_has_redis_arity_flags_and_key_positions(name):
    spec = COMMANDS.get(name)
    assert (spec.arity, set(spec.flags.names), spec.keys) == REDIS_COMMAND_INFO[name]
    assert spec.group == "string"
    assert spec.syntax.split()[0] == name.upper()


# --------------------------------------------------------------------------- SET and GET

def test_set_then_get_returns_the_value(client):
    assert client.set("k", b"\x00binary\xff") is True
    assert client.get("k") == b"\x00binary\xff"


def test_get_of_a_missing_key_is_nil(client):
    assert client.get("missing") is None


def test_set_nx_only_sets_a_missing_key(client):
    assert client.set("k", "1", nx=True) is True
    assert client.set("k", "2", nx=True) is None
    assert client.get("k") == b"1"


def test_set_xx_only_sets_an_existing_key(client):
    assert client.set("k", "1", xx=True) is None
    assert client.get("k") is None
    client.set("k", "1")
    assert client.set("k", "2", xx=True) is True
    assert client.get("k") == b"2"


def test_set_get_returns_the_old_value_even_when_nx_stops_the_write(client):
    assert client.set("k", "1", get=True) is None
    assert client.set("k", "2", get=True) == b"1"
    assert client.set("k", "3", nx=True, get=True) == b"2"
    assert client.get("k") == b"2"


def test_set_get_on_another_type_is_wrongtype_and_writes_nothing(server, raw):
    store_non_string(server, b"k")
    conn = raw()
    assert conn.command("SET", "k", "v", "GET") == WRONGTYPE
    assert conn.command("SET", "k", "v") == "OK"  # without GET any type is overwritten
    assert conn.command("GET", "k") == b"v"


@pytest.mark.parametrize("options", [("NX", "XX"), ("EX", "1", "PX", "1"), ("KEEPTTL", "EX", "1"),
                                     ("EX",), ("PERSIST",), ("BOGUS",)])
def test_set_rejects_conflicting_or_unknown_options(raw, options):
    assert raw().command("SET", "k", "v", *options) == "ERR syntax error"


@pytest.mark.parametrize("option,amount", [("EX", "0"), ("PX", "-1"), ("EXAT", "0"),
                                           ("EX", "9223372036854775807"),
                                           ("EX", "9223372036854775"),   # * 1000 + now overflows
                                           ("PX", "9223372036854775807"),
                                           ("EXAT", "9223372036854776")])
def test_set_rejects_expire_times_that_are_not_positive_or_overflow(raw, option, amount):
    conn = raw()
    assert conn.command("SET", "k", "v", option, amount) == "ERR invalid expire time in 'set' command"
    assert conn.command("GET", "k") is None


def test_set_accepts_the_largest_absolute_expire_times(timed):
    srv, conn = timed
    assert conn.command("SET", "k", "v", "EXAT", "9223372036854775") == "OK"
    assert deadline(srv, b"k") == 9223372036854775000
    assert conn.command("SET", "k", "v", "PXAT", "9223372036854775807") == "OK"
    assert deadline(srv, b"k") == 9223372036854775807


def test_set_expire_time_must_be_an_integer(raw):
    assert raw().command("SET", "k", "v", "EX", "1.5") == NOT_INTEGER


# --------------------------------------------------------------------------- TTLs

@pytest.mark.parametrize("option,amount,offset_ms", [("EX", "100", 100_000), ("PX", "1500", 1500)])
def test_set_with_relative_expiry_sets_a_deadline_from_now(timed, clock, option, amount, offset_ms):
    srv, conn = timed
    assert conn.command("SET", "k", "v", option, amount) == "OK"
    assert deadline(srv, b"k") == clock.time_ms() + offset_ms


@pytest.mark.parametrize("option,amount,at_ms", [("EXAT", "2000000000", 2_000_000_000_000),
                                                 ("PXAT", "2000000000123", 2_000_000_000_123)])
def test_set_with_absolute_expiry_sets_that_deadline(timed, option, amount, at_ms):
    srv, conn = timed
    assert conn.command("SET", "k", "v", option, amount) == "OK"
    assert deadline(srv, b"k") == at_ms


def test_a_key_set_with_ex_is_gone_once_its_time_has_passed(timed, clock):
    srv, conn = timed
    conn.command("SET", "k", "v", "EX", "10")
    clock.advance(9.999)
    assert conn.command("GET", "k") == b"v"
    clock.advance(0.001)
    assert conn.command("GET", "k") is None


def test_set_with_a_past_absolute_time_leaves_no_key(timed):
    srv, conn = timed
    assert conn.command("SET", "k", "v", "EXAT", "1") == "OK"
    assert conn.command("GET", "k") is None


def test_set_drops_the_ttl_unless_keepttl(timed, clock):
    srv, conn = timed
    conn.command("SET", "k", "v", "EX", "100")
    conn.command("SET", "k", "w", "KEEPTTL")
    assert deadline(srv, b"k") == clock.time_ms() + 100_000
    conn.command("SET", "k", "x")
    assert deadline(srv, b"k") is None


@pytest.mark.parametrize("command", [("GETSET", "k", "w"), ("MSET", "k", "w")])
def test_replacing_writes_drop_the_ttl(timed, command):
    srv, conn = timed
    conn.command("SET", "k", "1", "EX", "100")
    conn.command(*command)
    assert deadline(srv, b"k") is None


@pytest.mark.parametrize("command", [("APPEND", "k", "0"), ("SETRANGE", "k", "0", "2"), ("INCR", "k"),
                                     ("DECRBY", "k", "5"), ("INCRBYFLOAT", "k", "0.5")])
def test_in_place_writes_keep_the_ttl(timed, clock, command):
    srv, conn = timed
    conn.command("SET", "k", "1", "EX", "100")
    conn.command(*command)
    assert deadline(srv, b"k") == clock.time_ms() + 100_000


def test_setex_and_psetex_set_value_and_deadline(timed, clock):
    srv, conn = timed
    assert conn.command("SETEX", "s", "100", "v") == "OK"
    assert conn.command("PSETEX", "p", "2500", "w") == "OK"
    assert conn.command("MGET", "s", "p") == [b"v", b"w"]
    assert deadline(srv, b"s") == clock.time_ms() + 100_000
    assert deadline(srv, b"p") == clock.time_ms() + 2500


@pytest.mark.parametrize("command", ["SETEX", "PSETEX"])
def test_setex_and_psetex_name_themselves_in_the_invalid_expire_error(raw, command):
    conn = raw()
    error = f"ERR invalid expire time in '{command.lower()}' command"
    assert conn.command(command, "k", "0", "v") == error
    assert conn.command(command, "k", "9223372036854775807", "v") == error
    assert conn.command(command, "k", "ten", "v") == NOT_INTEGER


def test_getex_sets_moves_and_removes_the_ttl(timed, clock):
    srv, conn = timed
    conn.command("SET", "k", "v")
    assert conn.command("GETEX", "k") == b"v"
    assert deadline(srv, b"k") is None
    assert conn.command("GETEX", "k", "EX", "100") == b"v"
    assert deadline(srv, b"k") == clock.time_ms() + 100_000
    assert conn.command("GETEX", "k", "PXAT", "2000000000000") == b"v"
    assert deadline(srv, b"k") == 2_000_000_000_000
    assert conn.command("GETEX", "k", "PERSIST") == b"v"
    assert deadline(srv, b"k") is None


def test_getex_with_a_past_absolute_time_replies_the_value_then_deletes_the_key(timed):
    srv, conn = timed
    conn.command("SET", "k", "v")
    assert conn.command("GETEX", "k", "EXAT", "1") == b"v"
    assert conn.command("GET", "k") is None


def test_getex_on_a_missing_key_is_nil_even_with_a_bad_expire_time(raw):
    conn = raw()
    assert conn.command("GETEX", "missing", "EX", "abc") is None
    assert conn.command("GETEX", "missing", "EX") == "ERR syntax error"


def test_getex_validates_the_expire_time_of_an_existing_key(raw):
    conn = raw()
    conn.command("SET", "k", "v")
    assert conn.command("GETEX", "k", "EX", "0") == "ERR invalid expire time in 'getex' command"
    assert conn.command("GETEX", "k", "PX", "x") == NOT_INTEGER
    assert conn.command("GETEX", "k", "KEEPTTL") == "ERR syntax error"
    assert conn.command("GETEX", "k", "PERSIST", "EX", "1") == "ERR syntax error"


# --------------------------------------------------------------------------- GETSET, GETDEL, M*

def test_getset_returns_the_old_value(client):
    assert client.getset("k", "1") is None
    assert client.getset("k", "2") == b"1"
    assert client.get("k") == b"2"


def test_getdel_returns_the_value_and_deletes_the_key(client):
    client.set("k", "v")
    assert client.getdel("k") == b"v"
    assert client.getdel("k") is None
    assert client.get("k") is None


def test_mset_and_mget(client):
    assert client.mset({"a": "1", "b": "2"}) is True
    assert client.mget("a", "b", "c") == [b"1", b"2", None]


def test_mget_answers_nil_for_other_types(server, client):
    client.set("s", "v")
    store_non_string(server, b"l")
    assert client.mget("s", "l") == [b"v", None]


def test_msetnx_sets_nothing_if_any_key_exists(client):
    assert client.msetnx({"a": "1", "b": "2"}) is True
    assert client.msetnx({"b": "x", "c": "3"}) is False
    assert client.mget("a", "b", "c") == [b"1", b"2", None]


@pytest.mark.parametrize("command", ["MSET", "MSETNX"])
def test_mset_with_a_key_without_value_is_an_arity_error(raw, command):
    assert raw().command(command, "a", "1", "b") == \
        f"ERR wrong number of arguments for '{command.lower()}' command"


# --------------------------------------------------------------------------- APPEND, ranges

def test_append_creates_then_extends(client):
    assert client.append("k", "hello") == 5
    assert client.append("k", " world") == 11
    assert client.get("k") == b"hello world"
    assert client.strlen("k") == 11
    assert client.strlen("missing") == 0


def test_append_to_an_integer_value_works_on_its_text(client):
    client.set("n", 12)
    assert client.append("n", "3") == 3
    assert client.incr("n") == 124


@pytest.mark.parametrize("start,end,expected", [
    (0, 3, b"This"), (-3, -1, b"ing"), (0, -1, b"This is a string"), (10, 100, b"string"),
    (5, 3, b""), (-1, -2, b""), (-100, -100, b"T"), (-100, -200, b""), (100, 200, b""),
    (-9223372036854775808, 9223372036854775807, b"This is a string"),
])
def test_getrange_clamps_and_counts_negative_indexes_from_the_end(client, start, end, expected):
    client.set("k", "This is a string")
    assert client.getrange("k", start, end) == expected
    assert client.execute_command("SUBSTR", "k", start, end) == expected


def test_getrange_of_a_missing_key_is_an_empty_string(client):
    assert client.getrange("missing", 0, -1) == b""


def test_setrange_pads_with_zero_bytes(client):
    client.set("k", "hello")
    assert client.setrange("k", 2, "XYZW") == 6
    assert client.setrange("k", 10, "!") == 11
    assert client.get("k") == b"heXYZW\x00\x00\x00\x00!"


def test_setrange_with_an_empty_value_creates_nothing(client):
    assert client.setrange("k", 5, "") == 0
    assert client.get("k") is None
    client.set("k", "abc")
    assert client.setrange("k", 100, "") == 3


def test_setrange_rejects_a_negative_offset(raw):
    assert raw().command("SETRANGE", "k", "-1", "x") == "ERR offset is out of range"


@pytest.fixture
def small_strings():
    """A server whose strings may not exceed 1 MB (the smallest proto-max-bulk-len)."""
    srv = start(make_config(proto_max_bulk_len="1mb"))
    conn = RawConnection(srv.port)
    yield conn
    conn.close()
    srv.stop()


def test_setrange_may_reach_but_not_pass_proto_max_bulk_len(small_strings):
    conn = small_strings
    assert conn.command("SETRANGE", "k", str(1024 * 1024), "x") == TOO_LONG
    assert conn.command("SETRANGE", "k", str(1024 * 1024 - 1), "x") == 1024 * 1024
    assert conn.command("SETRANGE", "k", "9223372036854775807", "x") == TOO_LONG


def test_append_may_not_pass_proto_max_bulk_len(small_strings):
    conn = small_strings
    conn.command("SETRANGE", "k", str(1024 * 1024 - 2), "x")
    assert conn.command("APPEND", "k", "y") == 1024 * 1024
    assert conn.command("APPEND", "k", "z") == TOO_LONG
    assert conn.command("STRLEN", "k") == 1024 * 1024


# --------------------------------------------------------------------------- counters

def test_incr_on_a_missing_key_starts_at_zero(client):
    assert client.incr("n") == 1
    assert client.decr("m") == -1
    assert client.incrby("n", 10) == 11
    assert client.decrby("n", 20) == -9
    assert client.get("n") == b"-9"


@pytest.mark.parametrize("stored", [" 1", "1 ", "01", "+1", "-0", "1.0", "", "9223372036854775808"])
def test_incr_refuses_a_value_that_is_not_a_strict_64_bit_integer(raw, stored):
    conn = raw()
    conn.command("SET", "k", stored)
    assert conn.command("INCR", "k") == NOT_INTEGER


def test_incr_refuses_to_overflow_64_bits(raw):
    conn = raw()
    assert conn.command("INCRBY", "k", "9223372036854775807") == 9223372036854775807
    assert conn.command("INCR", "k") == "ERR increment or decrement would overflow"
    conn.command("SET", "k", "-9223372036854775808")
    assert conn.command("DECR", "k") == "ERR increment or decrement would overflow"
    assert conn.command("GET", "k") == b"-9223372036854775808"


def test_decrby_of_the_smallest_integer_has_its_own_error(raw):
    assert raw().command("DECRBY", "k", "-9223372036854775808") == "ERR decrement would overflow"


def test_incrbyfloat_computes_in_long_double(client):
    client.set("f", "10.5")
    assert client.incrbyfloat("f", 0.1) == 10.6
    assert client.get("f") == b"10.6"


def test_incrbyfloat_accepts_increments_beyond_double_range(raw):
    reply = raw().command("INCRBYFLOAT", "f", "1e400")
    assert len(reply) == 401 and reply.startswith(b"100000000000000000002818806839")


@pytest.mark.parametrize("stored,increment,error", [
    (None, "abc", NOT_FLOAT), (None, " 1", NOT_FLOAT), (None, "nan", NOT_FLOAT),
    (None, "1e5000", NOT_FLOAT), ("abc", "1", NOT_FLOAT),
    (None, "inf", "ERR increment would produce NaN or Infinity"),
    ("inf", "-inf", "ERR increment would produce NaN or Infinity"),
])
def test_incrbyfloat_errors(raw, stored, increment, error):
    conn = raw()
    if stored is not None:
        conn.command("SET", "f", stored)
    assert conn.command("INCRBYFLOAT", "f", increment) == error


# --------------------------------------------------------------------------- wire format

def test_replies_on_the_wire(raw):
    conn = raw()
    for args, expected in [
        (("SET", "k", "v"), b"+OK\r\n"),
        (("SET", "k", "v", "NX"), b"$-1\r\n"),
        (("SETNX", "k", "v"), b":0\r\n"),
        (("GET", "k"), b"$1\r\nv\r\n"),
        (("GETRANGE", "missing", "0", "-1"), b"$0\r\n\r\n"),
        (("MGET", "k", "missing"), b"*2\r\n$1\r\nv\r\n$-1\r\n"),
        (("INCRBYFLOAT", "f", "10.5"), b"$4\r\n10.5\r\n"),
        (("INCRBY", "n", "-3"), b":-3\r\n"),
    ]:
        assert exchange(conn, *args, expected=expected) == expected


def test_nil_is_resp3_null_after_hello_3(raw):
    conn = raw()
    conn.command("HELLO", "3")
    assert exchange(conn, "GET", "missing", expected=b"_\r\n") == b"_\r\n"
    assert exchange(conn, "SET", "k", "v", "XX", expected=b"_\r\n") == b"_\r\n"


STRING_COMMANDS_ON_KEY_K = [
    ("GET", "k"), ("GETSET", "k", "v"), ("GETDEL", "k"), ("GETEX", "k", "PERSIST"),
    ("APPEND", "k", "x"), ("STRLEN", "k"), ("GETRANGE", "k", "0", "-1"), ("SUBSTR", "k", "0", "1"),
    ("SETRANGE", "k", "0", "x"), ("SETRANGE", "k", "0", ""), ("INCR", "k"), ("DECR", "k"),
    ("INCRBY", "k", "1"), ("DECRBY", "k", "1"), ("INCRBYFLOAT", "k", "1"),
]


@pytest.mark.parametrize("command", STRING_COMMANDS_ON_KEY_K, ids=lambda c: " ".join(c))
def test_string_commands_refuse_another_type(server, raw, command):
    store_non_string(server, b"k")
    conn = raw()
    assert conn.command(*command) == WRONGTYPE
    assert conn.command("SET", "probe", "x", "GET") is None  # the connection still works


# --------------------------------------------------------------------------- vs. real Redis

def random_float_text(rng: random.Random) -> str:
    """Increments of every shape: long decimals, extreme exponents, hex, ties..."""
    sign = rng.choice(["", "-", "+", "", ""])
    shape = rng.randrange(6)
    if shape == 0:
        return f"{sign}{rng.randrange(10 ** rng.randint(1, 20))}.{rng.randrange(10 ** rng.randint(1, 25))}"
    if shape == 1:
        return f"{sign}{rng.randint(1, 999)}e{rng.randint(-4960, 4935)}"
    if shape == 2:
        return f"{sign}0x{rng.getrandbits(rng.randint(1, 80)):x}p{rng.randint(-16500, 16400)}"
    if shape == 3:
        return repr(rng.uniform(-1e6, 1e6))
    if shape == 4:  # 17 decimals and then a digit pattern that lands near a rounding tie
        return f"{sign}0.{rng.randrange(10 ** 17):017d}{rng.choice(['', '5', '50', '5000001', '4999'])}"
    return str(rng.randint(-2**63, 2**63 - 1))


def test_incrbyfloat_matches_real_redis_on_random_increments(server, real_redis_port):
    rng = random.Random(20240607)
    ours, real = RawConnection(server.port), RawConnection(real_redis_port)
    key = "test_strings:random_float"
    try:
        for step in range(200):
            if step % 25 == 0:  # start over from a random stored value now and then
                start_value = random_float_text(rng)
                assert ours.command("SET", key, start_value) == real.command("SET", key, start_value)
            increment = random_float_text(rng)
            expected = real.command("INCRBYFLOAT", key, increment)
            got = ours.command("INCRBYFLOAT", key, increment)
            assert (type(got), got) == (type(expected), expected), increment
    finally:
        real.command("DEL", key)
        ours.close()
        real.close()
