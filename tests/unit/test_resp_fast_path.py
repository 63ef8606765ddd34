"""The RequestParser's fast path (a small, complete multibulk command) must agree with
the general parser on every input: split anywhere, malformed, or followed by more."""

import pytest

from common.resp import INCOMPLETE, ProtocolError, RequestParser, encode_command

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


def test_a_bulk_over_the_limit_is_still_refused():
    parser = RequestParser(max_bulk_len=3)
    parser.feed(b"*1\r\n$4\r\nPING\r\n")
    with pytest.raises(ProtocolError, match="invalid bulk length"):
        parser.get()


def test_inline_commands_after_a_multibulk_one_still_parse():
    parser = RequestParser()
    parser.feed(encode_command(b"GET", b"k") + b"PING\r\n")
    assert list(parser) == [[b"GET", b"k"], [b"PING"]]
