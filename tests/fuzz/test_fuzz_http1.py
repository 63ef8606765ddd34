"""Hostile bytes into the HTTP/1.1 parsers: events, NEED_DATA or HTTPError with a status.

The balancer feeds client bytes into `RequestParser` and backend bytes into
`ResponseParser`. Whatever arrives, split however recv() splits it, must give events
or an `HTTPError` whose `status` is one the proxy can answer with (4xx/5xx) -- never
another exception, never a hang.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from common.http1 import (NEED_DATA, ConnectionClosed, Data, EndOfMessage, HTTPError, Request,
                          RequestParser, Response, ResponseParser)
from tests.fuzz.bounds import FUZZ, bounded, chunks

TOKENS = st.sampled_from([
    b"GET / HTTP/1.1\r\n", b"POST /x HTTP/1.0\r\n", b"HTTP/1.1 200 OK\r\n", b"HTTP/1.1 100 C\r\n",
    b"HTTP/2.0 204 X\r\n", b"Host: h\r\n", b"Content-Length: 5\r\n", b"Content-Length: -1\r\n",
    b"Content-Length: 99999999999999999999\r\n", b"Transfer-Encoding: chunked\r\n",
    b"Transfer-Encoding: gzip, chunked\r\n", b"Connection: close\r\n", b"\r\n", b"\n", b"\r",
    b"0\r\n", b"5\r\n", b"fffffffffffffffff\r\n", b"a;ext=1\r\n", b"hello", b" ", b"\t", b":",
    b"\x00", b"\x7f", b"\xff"])
HTTPISH = st.lists(st.one_of(TOKENS, st.binary(max_size=6)), max_size=30).map(b"".join)
HOSTILE = st.one_of(st.binary(max_size=300), HTTPISH)
CUTS = st.lists(st.integers(min_value=0, max_value=400), max_size=6)
EVENTS = (Request, Response, Data, EndOfMessage, ConnectionClosed)


def drain(parser, data: bytes, cuts: list[int], *, eof: bool) -> list:
    """Feed `data` in chunks (then EOF if asked); the events until NEED_DATA or an error."""
    events = []
    with bounded():
        try:
            for piece in [*chunks(data, cuts), *([b""] if eof else [])]:
                parser.feed(piece)
                while (event := parser.next_event()) is not NEED_DATA:
                    assert isinstance(event, EVENTS)
                    events.append(event)
                    if isinstance(event, ConnectionClosed) or getattr(parser, "complete", False):
                        return events
        except HTTPError as err:
            assert 400 <= err.status <= 599
    return events


@FUZZ
@given(HOSTILE, CUTS, st.booleans())
def test_request_parser_gives_events_or_an_http_error(data, cuts, eof):
    drain(RequestParser(max_head_size=1024, max_body_size=4096), data, cuts, eof=eof)


@FUZZ
@given(HOSTILE, CUTS, st.booleans(), st.sampled_from(["GET", "HEAD", "POST"]))
def test_response_parser_gives_events_or_an_http_error(data, cuts, eof, method):
    drain(ResponseParser(method), data, cuts, eof=eof)


@FUZZ
@given(st.binary(max_size=200), CUTS)
def test_a_valid_request_then_garbage_still_yields_the_request(garbage, cuts):
    data = b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc" + garbage
    events = drain(RequestParser(), data, cuts, eof=False)
    end = next(i for i, event in enumerate(events) if isinstance(event, EndOfMessage))
    assert isinstance(events[0], Request) and events[0].target == "/p"
    assert b"".join(event.data for event in events[1:end]) == b"abc"
