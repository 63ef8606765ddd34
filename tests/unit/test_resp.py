"""The RESP codec on its own: bytes in, values out, and back, with no socket anywhere.

Expected bytes for inline commands and protocol errors were taken from a real Redis
7.0.15 over a socket (see tests/integration/test_protocol_errors.py for the live
differential versions); here they are hard-coded so these tests run without Redis.
"""

from __future__ import annotations

import math
import tracemalloc
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.resp import (
    INCOMPLETE, NULL_ARRAY, Attribute, BigNumber, ErrorReply, ProtocolError, Push,
    ReplyParser, RequestParser, RespSet, Status, Verbatim, encode, encode_command,
    format_double, parse_int64, split_inline,
)

# Hypothesis budget: enough examples to find framing bugs, a deadline generous enough
# for a busy 2-core CI machine (a hang or quadratic blow-up still fails it).
FUZZ = settings(max_examples=150, deadline=timedelta(seconds=5),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def typed(value):
    """A value with its RESP type made explicit, so Status('OK') != b'OK' and [1] != RespSet([1])."""
    if isinstance(value, list):
        return (type(value).__name__, [typed(v) for v in value])
    if isinstance(value, dict):
        return (type(value).__name__, [(typed(k), typed(v)) for k, v in value.items()])
    if isinstance(value, tuple):  # a map key that was an array
        return ("tuple", [typed(v) for v in value])
    if isinstance(value, Verbatim):
        return ("Verbatim", value.fmt, bytes(value))
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    return (type(value).__name__, value)


def parse_replies(data: bytes) -> list:
    parser = ReplyParser()
    parser.feed(data)
    frames = list(parser)
    assert parser.buffered == 0, "bytes left over after the last frame"
    return frames


def parse_requests(data: bytes) -> list:
    parser = RequestParser()
    parser.feed(data)
    return list(parser)


def feed_in_chunks(parser, data: bytes, cuts) -> list:
    """Feed `data` cut at the sorted positions `cuts`, collecting every frame on the way."""
    frames, start = [], 0
    for end in list(cuts) + [len(data)]:
        parser.feed(data[start:end])
        frames.extend(parser)
        start = end
    return frames


# --------------------------------------------------------------------------- replies: every type

@pytest.mark.parametrize("wire, value", [
    (b"+OK\r\n", Status("OK")),
    (b"+\r\n", Status("")),
    (b"-ERR unknown command\r\n", ErrorReply("ERR unknown command")),
    (b":42\r\n", 42),
    (b":-9223372036854775808\r\n", -(2**63)),
    (b"$3\r\nfoo\r\n", b"foo"),
    (b"$0\r\n\r\n", b""),
    (b"$4\r\na\r\nb\r\n", b"a\r\nb"),
    (b"$-1\r\n", None),
    (b"*-1\r\n", NULL_ARRAY),
    (b"*0\r\n", []),
    (b"*2\r\n:1\r\n*1\r\n$-1\r\n", [1, [None]]),
    (b"_\r\n", None),
    (b",3.14\r\n", 3.14),
    (b",inf\r\n", math.inf),
    (b",-inf\r\n", -math.inf),
    (b",nan\r\n", math.nan),
    (b"#t\r\n", True),
    (b"#f\r\n", False),
    (b"(3492890328409238509324850943850943825024385\r\n", BigNumber(3492890328409238509324850943850943825024385)),
    (b"%2\r\n+first\r\n:1\r\n$6\r\nsecond\r\n:2\r\n", {Status("first"): 1, b"second": 2}),
    (b"%0\r\n", {}),
    (b"%1\r\n*2\r\n:1\r\n:2\r\n+pair\r\n", {(1, 2): Status("pair")}),
    (b"~2\r\n$1\r\na\r\n:1\r\n", RespSet([b"a", 1])),
    (b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n", Push([b"message", b"ch", b"hi"])),
    (b"=15\r\ntxt:Some string\r\n", Verbatim(b"Some string", "txt")),
    (b"!21\r\nSYNTAX invalid syntax\r\n", ErrorReply("SYNTAX invalid syntax")),
    (b"|1\r\n+ttl\r\n:3600\r\n", Attribute({Status("ttl"): 3600})),
])
def test_reply_parser_reads_every_resp2_and_resp3_type(wire, value):
    assert [typed(frame) for frame in parse_replies(wire)] == [typed(value)]


def test_error_replies_are_returned_not_raised_and_know_their_code():
    [reply] = parse_replies(b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n")
    assert isinstance(reply, ErrorReply)
    assert reply.code == "WRONGTYPE"


def test_get_reply_skips_attributes_that_annotate_the_next_reply():
    parser = ReplyParser()
    parser.feed(b"|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*1\r\n:7\r\n")
    assert parser.get_reply() == [7]


def test_reply_parser_waits_for_a_bulk_that_has_not_all_arrived():
    parser = ReplyParser()
    parser.feed(b"$5\r\nhel")
    assert parser.get() is INCOMPLETE
    parser.feed(b"lo\r")
    assert parser.get() is INCOMPLETE
    parser.feed(b"\n")
    assert parser.get() == b"hello"


# --------------------------------------------------------------------------- encoding and RESP2 fallbacks

@pytest.mark.parametrize("value, resp2, resp3", [
    (Status("OK"), b"+OK\r\n", b"+OK\r\n"),
    (ErrorReply("ERR bad"), b"-ERR bad\r\n", b"-ERR bad\r\n"),
    (7, b":7\r\n", b":7\r\n"),
    (-(2**63), b":-9223372036854775808\r\n", b":-9223372036854775808\r\n"),
    (b"foo", b"$3\r\nfoo\r\n", b"$3\r\nfoo\r\n"),
    (b"", b"$0\r\n\r\n", b"$0\r\n\r\n"),
    ("héllo", b"$6\r\nh\xc3\xa9llo\r\n", b"$6\r\nh\xc3\xa9llo\r\n"),
    (bytearray(b"ab"), b"$2\r\nab\r\n", b"$2\r\nab\r\n"),
    (None, b"$-1\r\n", b"_\r\n"),
    (NULL_ARRAY, b"*-1\r\n", b"_\r\n"),
    ([], b"*0\r\n", b"*0\r\n"),
    ([b"a", [1, None]], b"*2\r\n$1\r\na\r\n*2\r\n:1\r\n$-1\r\n", b"*2\r\n$1\r\na\r\n*2\r\n:1\r\n_\r\n"),
    ((b"t", 1), b"*2\r\n$1\r\nt\r\n:1\r\n", b"*2\r\n$1\r\nt\r\n:1\r\n"),
    (True, b":1\r\n", b"#t\r\n"),
    (False, b":0\r\n", b"#f\r\n"),
    (1.5, b"$3\r\n1.5\r\n", b",1.5\r\n"),
    (0.1, b"$19\r\n0.10000000000000001\r\n", b",0.10000000000000001\r\n"),
    (3.0, b"$1\r\n3\r\n", b",3\r\n"),
    (1e300, b"$23\r\n1.0000000000000001e+300\r\n", b",1.0000000000000001e+300\r\n"),
    (math.inf, b"$3\r\ninf\r\n", b",inf\r\n"),
    (-math.inf, b"$4\r\n-inf\r\n", b",-inf\r\n"),
    ({b"a": 1, b"b": None}, b"*4\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n$-1\r\n", b"%2\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n_\r\n"),
    (RespSet([b"x"]), b"*1\r\n$1\r\nx\r\n", b"~1\r\n$1\r\nx\r\n"),
    (Push([b"message", b"c", b"m"]), b"*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n",
     b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n"),
    (Verbatim(b"# Server", "txt"), b"$8\r\n# Server\r\n", b"=12\r\ntxt:# Server\r\n"),
    (BigNumber(2**70), b"$22\r\n1180591620717411303424\r\n", b"(1180591620717411303424\r\n"),
    (Attribute({b"k": 1}), b"", b"|1\r\n$1\r\nk\r\n:1\r\n"),
])
def test_encode_writes_resp3_types_and_their_resp2_fallbacks(value, resp2, resp3):
    assert encode(value, 2) == resp2
    assert encode(value, 3) == resp3


def test_format_double_is_printf_percent_17g_like_redis():
    assert format_double(-0.0) == b"-0"
    assert format_double(123456789.125) == b"123456789.125"
    assert format_double(5e-324) == b"4.9406564584124654e-324"
    assert format_double(math.nan) == b"nan"


def test_encode_refuses_values_it_cannot_represent():
    with pytest.raises(TypeError):
        encode(object())


def test_encode_command_writes_an_array_of_bulk_strings():
    assert encode_command("SET", b"k\r\n", 10, 1.5) == (
        b"*4\r\n$3\r\nSET\r\n$3\r\nk\r\n\r\n$2\r\n10\r\n$3\r\n1.5\r\n")
    with pytest.raises(TypeError):
        encode_command("SETBIT", "k", 1, True)


@pytest.mark.parametrize("text, value", [
    (b"0", 0), (b"-1", -1), (b"9223372036854775807", 2**63 - 1), (b"-9223372036854775808", -(2**63)),
    (b"9223372036854775808", None), (b"-9223372036854775809", None), (b"", None), (b"-", None),
    (b"+1", None), (b"01", None), (b"-0", None), (b" 1", None), (b"1 ", None), (b"1a", None), (b"0x1", None),
])
def test_parse_int64_is_as_strict_as_redis_string2ll(text, value):
    assert parse_int64(text) == value


# --------------------------------------------------------------------------- inline commands (sdssplitargs)

# Each line was sent to real Redis 7.0.15 as an inline command; the args are what it saw.
INLINE_AS_REDIS_SPLITS_IT = [
    (b"PING", [b"PING"]),
    (b"   ECHO    x   ", [b"ECHO", b"x"]),
    (b"ECHO\ta", [b"ECHO", b"a"]),
    (b"ECHO \x0cx", [b"ECHO", b"x"]),               # leading \f is skipped as whitespace...
    (b"ECHO\x0bx", [b"ECHO\x0bx"]),                 # ...but only space, tab, CR, LF end a bare word
    (b"ECHO a\rb", [b"ECHO", b"a", b"b"]),
    (b'ECHO "hello world"', [b"ECHO", b"hello world"]),
    (b"ECHO 'hello world'", [b"ECHO", b"hello world"]),
    (rb'ECHO "\x41\x4a\x4A"', [b"ECHO", b"AJJ"]),
    (rb'ECHO "\xE9"', [b"ECHO", b"\xe9"]),
    (rb'ECHO "\n\r\t\b\a"', [b"ECHO", b"\n\r\t\x08\x07"]),
    (rb'ECHO "\q\\\""', [b"ECHO", b'q\\"']),        # unknown escapes drop the backslash
    (rb'ECHO "\x4g"', [b"ECHO", b"x4g"]),           # not two hex digits: \x is just x
    (rb'ECHO "\x4"', [b"ECHO", b"x4"]),
    (rb'ECHO "\x"', [b"ECHO", b"x"]),
    (rb"ECHO 'a\'b'", [b"ECHO", b"a'b"]),           # single quotes know only \'
    (rb"ECHO 'a\nb'", [b"ECHO", b"a\\nb"]),
    (rb"ECHO 'a\\b'", [b"ECHO", b"a\\\\b"]),
    (rb"""ECHO 'a\"b'""", [b"ECHO", b'a\\"b']),
    (b'ECHO ""', [b"ECHO", b""]),
    (b"ECHO ''", [b"ECHO", b""]),
    (b'ECHO abc"def"', [b"ECHO", b"abcdef"]),      # a quote inside a bare word opens a quoted part
    (b"ECHO a'b'", [b"ECHO", b"ab"]),
    (b'ECHO "a b"\tc', [b"ECHO", b"a b", b"c"]),
    (b"ECHO \xc3\xa9", [b"ECHO", b"\xc3\xa9"]),
    (b"", []),
    (b" \t ", []),
]


@pytest.mark.parametrize("line, args", INLINE_AS_REDIS_SPLITS_IT)
def test_inline_commands_split_exactly_like_redis_sdssplitargs(line, args):
    assert split_inline(line) == args
    assert parse_requests(line + b"\r\n") == ([args] if args else [])


@pytest.mark.parametrize("line", [
    b'ECHO "unterminated', b"ECHO 'unterminated", b'ECHO "a"b', b"ECHO 'a'b", b'ECHO "x"y', rb'ECHO "a\"',
])
def test_unbalanced_or_glued_quotes_are_a_protocol_error(line):
    assert split_inline(line) is None
    with pytest.raises(ProtocolError, match=r"^Protocol error: unbalanced quotes in request$"):
        parse_requests(line + b"\r\n")


def test_inline_lines_may_end_with_a_bare_newline():
    assert parse_requests(b"PING\nECHO a\r\nECHO b\n") == [[b"PING"], [b"ECHO", b"a"], [b"ECHO", b"b"]]


def test_empty_commands_are_skipped_as_redis_does():
    assert parse_requests(b"*0\r\n*-1\r\n*-5\r\n\r\n\n   \r\nPING\r\n") == [[b"PING"]]


def test_an_inline_line_with_a_nul_byte_never_completes_as_in_redis():
    # Redis finds the end of an inline line with strchr(), which stops at the NUL.
    parser = RequestParser()
    parser.feed(b"ECHO a\0b\r\nPING\r\n")
    assert parser.get() is INCOMPLETE
    parser.feed(b"x" * (64 * 1024))
    with pytest.raises(ProtocolError, match="^Protocol error: too big inline request$"):
        parser.get()


# --------------------------------------------------------------------------- requests: multibulk and its errors

def test_request_parser_reads_multibulk_commands_with_binary_args():
    data = encode_command("SET", b"k\r\n\0", b"") + encode_command("GET", "k")
    assert parse_requests(data) == [[b"SET", b"k\r\n\0", b""], [b"GET", b"k"]]


def test_multibulk_length_lines_end_at_the_first_cr_as_in_redis():
    # Redis skips the byte after '\r' without looking at it; so do we.
    assert parse_requests(b"*1\rX$4\r\nPING\r\n") == [[b"PING"]]
    assert parse_requests(b"*1\r\n$4\rXPING\r\n") == [[b"PING"]]
    # Nor is the CRLF after a bulk checked: its two bytes are simply skipped.
    assert parse_requests(b"*1\r\n$4\r\nPINGxx") == [[b"PING"]]


@pytest.mark.parametrize("data, message", [
    (b"*abc\r\n", "invalid multibulk length"),
    (b"*3000000000\r\n", "invalid multibulk length"),
    (b"*2147483648\r\n", "invalid multibulk length"),
    (b"*+1\r\n", "invalid multibulk length"),
    (b"*01\r\n", "invalid multibulk length"),
    (b"*-0\r\n", "invalid multibulk length"),
    (b"*\r\n", "invalid multibulk length"),
    (b"*1 \r\n", "invalid multibulk length"),
    (b"*1\n$4\r\nPING\r\n", "invalid multibulk length"),
    (b"*1\r\n$-5\r\n", "invalid bulk length"),
    (b"*1\r\n$-0\r\n", "invalid bulk length"),
    (b"*1\r\n$04\r\n", "invalid bulk length"),
    (b"*1\r\n$+4\r\n", "invalid bulk length"),
    (b"*1\r\n$\r\n", "invalid bulk length"),
    (b"*1\r\n$536870913\r\n", "invalid bulk length"),
    (b"*1\r\n+foo\r\n", "expected '$', got '+'"),
    (b"*2\r\n$4\r\nECHO\r\n:1\r\n", "expected '$', got ':'"),
    (b"*1\r\n\r\n", "expected '$', got ' '"),          # CR and LF are printed as spaces
    (b"*1\r\n\xff\r\n", "expected '$', got '\udcff'"),  # a raw byte (surrogate-escaped here)
    (b'PING "abc\r\n', "unbalanced quotes in request"),
    (b"x" * (64 * 1024 + 1), "too big inline request"),
    (b"*" + b"1" * (64 * 1024), "too big mbulk count string"),
    (b"*1\r\n$" + b"1" * (64 * 1024), "too big bulk count string"),
    (b"*1\r\n+" + b"x" * (64 * 1024), "too big bulk count string"),
    (b"*1\0\r\n" + b"x" * (64 * 1024), "too big mbulk count string"),
])
def test_protocol_errors_carry_redis_exact_text(data, message):
    with pytest.raises(ProtocolError) as caught:
        parse_requests(data)
    assert str(caught.value) == f"Protocol error: {message}"


def test_the_encoded_protocol_error_puts_a_raw_byte_back_on_the_wire():
    with pytest.raises(ProtocolError) as caught:
        parse_requests(b"*1\r\n\xff\r\n")
    assert encode(ErrorReply(f"ERR {caught.value}")) == b"-ERR Protocol error: expected '$', got '\xff'\r\n"


@pytest.mark.parametrize("data", [
    b"x" * (64 * 1024),                       # exactly at the inline limit: still waiting
    b"*" + b"1" * (64 * 1024 - 1),
    b"*1\r\n$536870912\r\n",                  # exactly proto-max-bulk-len is allowed
    b"*2147483647\r\n",                       # INT_MAX arguments is allowed
    b"*1\r\n+foo",                            # Redis judges the '$' only once the line is complete
    b"*1\r\n$4\r\nPING\n",
    b"*1\0\r\n",
])
def test_limits_are_inclusive_and_partial_lines_just_wait(data):
    parser = RequestParser()
    parser.feed(data)
    assert parser.get() is INCOMPLETE


def test_a_huge_declared_bulk_is_not_allocated_up_front():
    tracemalloc.start()
    try:
        parser = RequestParser()
        parser.feed(b"*2\r\n$3\r\nSET\r\n$536870912\r\n" + b"x" * 1000)
        assert parser.get() is INCOMPLETE
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024


def test_max_bulk_len_is_configurable():
    parser = RequestParser(max_bulk_len=10)
    parser.feed(b"*1\r\n$11\r\n")
    with pytest.raises(ProtocolError, match="invalid bulk length"):
        parser.get()


def test_reply_parser_rejects_garbage_with_protocol_errors():
    for data in (b"?\r\n", b":abc\r\n", b",1.2.3\r\n", b"$x\r\n", b"\r\n", b"+" + b"x" * (64 * 1024 + 1),
                 b"%1\r\n%0\r\n:1\r\n", b"%1\r\n*1\r\n*0\r\n:1\r\n"):
        parser = ReplyParser()
        parser.feed(data)
        with pytest.raises(ProtocolError):
            list(parser)


# --------------------------------------------------------------------------- round trips (hypothesis)

safe_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=20)
small_bytes = st.binary(max_size=24)
int64 = st.integers(-(2**63), 2**63 - 1)

resp2_scalars = st.one_of(
    small_bytes, int64, safe_text.map(Status), safe_text.map(ErrorReply), st.none(), st.just(NULL_ARRAY))
resp2_values = st.recursive(resp2_scalars, lambda inner: st.lists(inner, max_size=5), max_leaves=12)

map_keys = st.one_of(small_bytes, int64, safe_text.map(Status))
resp3_scalars = st.one_of(
    small_bytes, int64, safe_text.map(Status), safe_text.map(ErrorReply), st.none(),
    st.floats(allow_nan=False), st.booleans(), st.integers(-(10**60), 10**60).map(BigNumber),
    st.builds(Verbatim, small_bytes, st.sampled_from(["txt", "mkd"])))
resp3_values = st.recursive(resp3_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.lists(inner, max_size=4).map(RespSet),
    st.lists(inner, max_size=4).map(Push),
    st.dictionaries(map_keys, inner, max_size=3),
), max_leaves=12)

commands = st.lists(st.binary(max_size=16), min_size=1, max_size=6)


def stream_of(values, protocol: int) -> bytes:
    return b"".join(encode(value, protocol) for value in values)


@FUZZ
@given(st.lists(resp2_values, min_size=1, max_size=4))
def test_resp2_replies_survive_a_cut_at_every_byte_position(values):
    data = stream_of(values, 2)
    expected = [typed(v) for v in values]
    for cut in range(len(data) + 1):
        assert [typed(f) for f in feed_in_chunks(ReplyParser(), data, [cut])] == expected


@FUZZ
@given(st.lists(resp3_values, min_size=1, max_size=4))
def test_resp3_replies_survive_a_cut_at_every_byte_position(values):
    data = stream_of(values, 3)
    expected = [typed(v) for v in values]
    for cut in range(len(data) + 1):
        assert [typed(f) for f in feed_in_chunks(ReplyParser(), data, [cut])] == expected


@FUZZ
@given(st.lists(resp3_values, min_size=1, max_size=4), st.data())
def test_replies_survive_random_chunking_and_byte_at_a_time_feeding(values, data):
    wire = stream_of(values, 3)
    cuts = sorted(data.draw(st.sets(st.integers(0, len(wire)), max_size=12)))
    expected = [typed(v) for v in values]
    assert [typed(f) for f in feed_in_chunks(ReplyParser(), wire, cuts)] == expected
    assert [typed(f) for f in feed_in_chunks(ReplyParser(), wire, range(len(wire)))] == expected


@FUZZ
@given(st.lists(commands, min_size=1, max_size=5))
def test_commands_survive_a_cut_at_every_byte_position(argvs):
    data = b"".join(encode_command(*argv) for argv in argvs)
    for cut in range(len(data) + 1):
        assert feed_in_chunks(RequestParser(), data, [cut]) == argvs


@FUZZ
@given(st.lists(commands, min_size=1, max_size=8), st.data())
def test_commands_survive_random_chunking_and_byte_at_a_time_feeding(argvs, data):
    wire = b"".join(encode_command(*argv) for argv in argvs)
    cuts = sorted(data.draw(st.sets(st.integers(0, len(wire)), max_size=12)))
    assert feed_in_chunks(RequestParser(), wire, cuts) == argvs
    assert feed_in_chunks(RequestParser(), wire, range(len(wire))) == argvs


# Bare words: no whitespace, quotes or NUL, and no leading '*' (that starts a multibulk).
inline_words = st.lists(st.binary(min_size=1, max_size=8).filter(
    lambda w: not any(c in w for c in b" \t\r\n\v\f\0\"'") and w[0] != 0x2A), min_size=1, max_size=5)


@FUZZ
@given(st.lists(inline_words, min_size=1, max_size=5), st.data())
def test_inline_commands_survive_random_chunking(lines, data):
    wire = b"".join(b" ".join(words) + data.draw(st.sampled_from([b"\r\n", b"\n"])) for words in lines)
    cuts = sorted(data.draw(st.sets(st.integers(0, len(wire)), max_size=8)))
    assert feed_in_chunks(RequestParser(), wire, cuts) == lines


def test_a_round_trip_of_nan_gives_nan():
    [value] = parse_replies(encode(math.nan, 3))
    assert math.isnan(value)


# --------------------------------------------------------------------------- garbage never crashes or hangs

RESP_TOKENS = [b"*", b"$", b"+", b"-", b":", b"%", b"~", b">", b"|", b"=", b"!", b",", b"(", b"#", b"_",
               b"\r\n", b"\r", b"\n", b"\0", b"-1", b"0", b"1", b"2", b"3", b"10", b"99999999999999999999",
               b"abc", b"t", b"inf", b"nan", b"txt:", b" ", b"\"", b"'", b"\\x41", b"\xff"]

garbage = st.one_of(
    st.binary(max_size=300),
    st.lists(st.sampled_from(RESP_TOKENS), max_size=80).map(b"".join),
)


def mutated(wire: st.SearchStrategy) -> st.SearchStrategy:
    """A valid stream with a few bytes flipped, dropped or inserted."""

    @st.composite
    def build(draw):
        data = bytearray(draw(wire))
        for _ in range(draw(st.integers(1, 4))):
            pos = draw(st.integers(0, len(data)))
            op = draw(st.sampled_from(["flip", "drop", "insert"]))
            if op == "insert" or pos == len(data):
                data[pos:pos] = draw(st.sampled_from(RESP_TOKENS))
            elif op == "flip":
                data[pos] = draw(st.integers(0, 255))
            else:
                del data[pos]
        return bytes(data)

    return build()


def drain_garbage(parser, data: bytes, cuts) -> None:
    """Feed garbage in chunks: only frames, INCOMPLETE or ProtocolError may come out."""
    start = 0
    budget = len(data) + 1  # every frame consumes at least one byte
    try:
        for end in list(cuts) + [len(data)]:
            parser.feed(data[start:end])
            start = end
            while parser.get() is not INCOMPLETE:
                budget -= 1
                assert budget >= 0, "parser returned frames without consuming input"
    except ProtocolError:
        pass


@FUZZ
@given(st.one_of(garbage, mutated(st.lists(commands, max_size=3).map(
    lambda argvs: b"".join(encode_command(*a) for a in argvs)))), st.data())
def test_request_parser_turns_any_garbage_into_frames_incomplete_or_protocol_error(data, draw):
    cuts = sorted(draw.draw(st.sets(st.integers(0, len(data)), max_size=10)))
    drain_garbage(RequestParser(), data, cuts)


@FUZZ
@given(st.one_of(garbage, mutated(st.lists(resp3_values, max_size=3).map(lambda vs: stream_of(vs, 3)))), st.data())
def test_reply_parser_turns_any_garbage_into_frames_incomplete_or_protocol_error(data, draw):
    cuts = sorted(draw.draw(st.sets(st.integers(0, len(data)), max_size=10)))
    drain_garbage(ReplyParser(), data, cuts)
