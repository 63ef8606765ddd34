"""Hostile bytes into the RESP parsers: frames, INCOMPLETE or ProtocolError, nothing else.

The clone's server feeds whatever a socket delivers into `RequestParser`; the RESP
client feeds server replies into `ReplyParser`. Arbitrary bytes, split into arbitrary
recv() chunks, must give frames, `INCOMPLETE` (wait for more) or a `ProtocolError`
(reply and close) -- never another exception, and never a hang.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from common.resp import INCOMPLETE, ProtocolError, ReplyParser, RequestParser, encode, encode_command
from tests.fuzz.bounds import FUZZ, bounded, chunks

# Garbage that looks like RESP gets deeper into the parser than uniform random bytes.
TOKENS = st.sampled_from([b"*", b"$", b"+", b"-", b":", b",", b"#", b"_", b"(", b"%", b"~",
                          b">", b"|", b"=", b"!", b"\r\n", b"\r", b"\n", b"-1", b"0", b"3",
                          b"99999999999", b"-99999999999", b"9" * 30, b" ", b"\"", b"'", b"\\x4",
                          b"PING", b"SET", b"\x00", b"\xff", b"t", b"nan", b"inf", b"1e400"])
RESPISH = st.lists(st.one_of(TOKENS, st.binary(max_size=8)), max_size=40).map(b"".join)
HOSTILE = st.one_of(st.binary(max_size=300), RESPISH)
CUTS = st.lists(st.integers(min_value=0, max_value=400), max_size=6)


def drain(parser, data: bytes, cuts: list[int]) -> list:
    """Feed `data` in chunks; every frame until INCOMPLETE or a ProtocolError."""
    frames = []
    with bounded():
        try:
            for piece in chunks(data, cuts):
                parser.feed(piece)
                while (frame := parser.get()) is not INCOMPLETE:
                    frames.append(frame)
        except ProtocolError:
            pass  # the one allowed failure: the server replies with it and closes
    return frames


@FUZZ
@given(HOSTILE, CUTS)
def test_request_parser_survives_arbitrary_bytes_in_arbitrary_chunks(data, cuts):
    for frame in drain(RequestParser(), data, cuts):
        assert isinstance(frame, list) and all(isinstance(arg, bytes) for arg in frame)


@FUZZ
@given(HOSTILE, CUTS)
def test_reply_parser_survives_arbitrary_bytes_in_arbitrary_chunks(data, cuts):
    drain(ReplyParser(), data, cuts)


@FUZZ
@given(st.lists(st.lists(st.binary(max_size=20), min_size=1, max_size=5), max_size=5), CUTS)
def test_well_formed_commands_come_out_whole_however_they_are_split(commands, cuts):
    data = b"".join(encode_command(*command) for command in commands)
    assert drain(RequestParser(), data, cuts) == commands


@FUZZ
@given(st.lists(st.binary(max_size=20), max_size=5), HOSTILE, CUTS)
def test_good_frames_before_garbage_are_still_delivered(good, garbage, cuts):
    data = encode(good) + garbage
    frames = drain(ReplyParser(), data, cuts)
    assert frames[:1] == [good]
