"""The parsers' fast paths must agree with the general parsers on every input: split
anywhere, malformed, or followed by more. RequestParser has two (whole commands split
off a fresh recv() at once, and one small complete command read from the buffer);
ReplyParser has one (complete scalars and flat arrays of them)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common import resp
from common.resp import INCOMPLETE, ProtocolError, ReplyParser, RequestParser, encode, encode_command
from tests.fuzz.bounds import FUZZ, chunks
from tests.fuzz.test_fuzz_resp import HOSTILE

COMMAND = encode_command(b"SET", b"key", b"v" * 20)


@pytest.mark.parametrize("cut", range(1, len(COMMAND)))
def test_a_command_split_at_any_byte_parses_the_same(cut):
    parser = RequestParser()
    parser.feed(COMMAND[:cut])
    assert parser.get() is INCOMPLETE
    parser.feed(COMMAND[cut:] + COMMAND)
    assert list(parser) == [[b"SET", b"key", b"v" * 20]] * 2


def test_a_bulk_length_with_a_leading_zero_is_still_a_protocol_error():
    parser = RequestParser()
    parser.feed(b"*1\r\n$04\r\nPING\r\n")
    with pytest.raises(ProtocolError, match="invalid bulk length"):
        parser.get()


@pytest.mark.parametrize("count", [b"03", b"+3", b" 3", b"3 "])
def test_a_command_count_spelled_oddly_is_judged_by_the_general_parser(count):
    data = b"*" + count + b"\r\n" + encode_command(b"SET", b"k", b"v")[4:]
    assert request_outcome(RequestParser(), data, []) == request_outcome(GeneralRequestParser(), data, [])
    assert request_outcome(RequestParser(), data, []) == [("error", "Protocol error: invalid multibulk length")]


def test_a_bulk_over_the_limit_is_still_refused():
    parser = RequestParser(max_bulk_len=3)
    parser.feed(b"*1\r\n$4\r\nPING\r\n")
    with pytest.raises(ProtocolError, match="invalid bulk length"):
        parser.get()


def test_inline_commands_after_a_multibulk_one_still_parse():
    parser = RequestParser()
    parser.feed(encode_command(b"GET", b"k") + b"PING\r\n")
    assert list(parser) == [[b"GET", b"k"], [b"PING"]]


class GeneralRequestParser(RequestParser):
    """The same parser with both fast paths switched off: the reference."""

    def _split_commands(self, data: bytes) -> bytes:
        return data

    def _whole_command(self):
        return None


def request_outcome(parser, data: bytes, cuts: list[int]) -> list:
    frames = []
    try:
        for piece in chunks(data, cuts):
            parser.feed(piece)
            frames += list(parser)
    except ProtocolError as err:
        frames.append(("error", str(err)))
    return frames


COMMANDS = st.lists(st.lists(st.binary(max_size=8).filter(bool) | st.sampled_from([b"a\r\nb", b"\r\n", b""]),
                             min_size=1, max_size=4).map(lambda argv: encode_command(*argv)), max_size=4)
REQUEST_BYTES = st.lists(COMMANDS.map(b"".join) | HOSTILE, max_size=3).map(b"".join)


@FUZZ
@given(REQUEST_BYTES, st.lists(st.integers(0, 300), max_size=4), st.integers(4, 40))
def test_the_request_fast_paths_agree_with_the_general_parser(data, cuts, max_bulk_len):
    assert request_outcome(RequestParser(max_bulk_len), data, cuts) == \
        request_outcome(GeneralRequestParser(max_bulk_len), data, cuts)


def test_a_pipeline_split_off_a_fresh_recv_keeps_a_partial_command_for_later():
    parser = RequestParser()
    parser.feed(encode_command(b"SET", b"k", b"v") + encode_command(b"GET", b"k")[:7])
    assert parser.get() == [b"SET", b"k", b"v"]
    assert parser.get() is INCOMPLETE
    parser.feed(encode_command(b"GET", b"k")[7:])
    assert parser.get() == [b"GET", b"k"]


# --- the ReplyParser's fast path (complete scalars and flat arrays of them) --------------


class GeneralReplyParser(ReplyParser):
    """The same parser with the fast path switched off: the reference."""

    def _flat_reply(self):
        return resp._DECLINED


SCALARS = st.one_of(st.none(), st.integers(-2**70, 2**70), st.binary(max_size=12),
                    st.text(max_size=6).map(resp.Status), st.text(max_size=6).map(lambda t: resp.ErrorReply("ERR " + t)),
                    st.floats(allow_nan=False), st.booleans())
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4), max_leaves=8)
REPLY_BYTES = st.lists(st.one_of(
    st.tuples(VALUES, st.sampled_from([2, 3])).map(lambda pair: encode(*pair)),
    st.sampled_from([b"$-5\r\n", b"*-1\r\n", b"$04\r\nabcd\r\n", b":+5\r\n", b"+a\rb\r\n", b"$3\r\nabcXY",
                     b"*2\r\n:1\r\n", b"$9999999999\r\n", b"\r\n", b":\r\n", b"~1\r\n:1\r\n"]),
    st.binary(max_size=6)), max_size=6).map(b"".join)


def outcome(parser, data: bytes, cuts: list[int]) -> list:
    frames = []
    try:
        for piece in chunks(data, cuts):
            parser.feed(piece)
            while (frame := parser.get()) is not INCOMPLETE:
                frames.append((type(frame), frame))
    except ProtocolError as err:
        frames.append(("error", str(err)))
    return frames


@FUZZ
@given(REPLY_BYTES, st.lists(st.integers(0, 200), max_size=4))
def test_the_reply_fast_path_agrees_with_the_general_parser(data, cuts):
    assert outcome(ReplyParser(max_bulk_len=1000), data, cuts) == \
        outcome(GeneralReplyParser(max_bulk_len=1000), data, cuts)


def test_a_flat_array_waits_for_its_last_element_without_consuming_anything():
    parser = ReplyParser()
    parser.feed(b"*3\r\n:1\r\n$2\r\nab\r\n")
    assert parser.get() is INCOMPLETE
    parser.feed(b"+done\r\n")
    assert parser.get() == [1, b"ab", "done"]
