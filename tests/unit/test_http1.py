"""The HTTP/1.1 parser and serializer, driven by byte strings (no sockets)."""

from __future__ import annotations

import pytest

from common.http1 import (NEED_DATA, ConnectionClosed, Data, EndOfMessage, Framing, Headers,
                          HTTPError, Request, RequestParser, Response, ResponseParser,
                          encode_chunk, encode_last_chunk, quoted_string, serialize_head)


def parse(parser, data: bytes, *, eof: bool = False) -> list:
    """Every event `data` yields, stopping where the parser needs more bytes."""
    parser.feed(data)
    if eof:
        parser.feed(b"")
    events = []
    while not _finished(parser) and (event := parser.next_event()) is not NEED_DATA:
        events.append(event)
        if isinstance(event, ConnectionClosed):
            break
    return events


def parse_request(data: bytes, *, eof: bool = False, **limits) -> list:
    return parse(RequestParser(**limits), data, eof=eof)


def parse_response(data: bytes, method: str = "GET", *, eof: bool = False) -> list:
    return parse(ResponseParser(method), data, eof=eof)


def _finished(parser) -> bool:
    """A response parser serves one exchange and refuses to go past its end."""
    return isinstance(parser, ResponseParser) and parser.complete


def merged(events: list) -> list:
    """Adjacent Data events joined: how a body is cut into pieces depends on recv()."""
    out: list = []
    for event in events:
        if isinstance(event, Data) and out and isinstance(out[-1], Data):
            out[-1] = Data(out[-1].data + event.data)
        else:
            out.append(event)
    return out


def byte_by_byte(parser, data: bytes, *, eof: bool = False) -> list:
    events = []
    for i in range(len(data)):
        events += parse(parser, data[i:i + 1])
    if eof:
        events += parse(parser, b"", eof=True)
    return events


# --- heads ------------------------------------------------------------------------


def test_get_request_head_is_parsed_with_its_headers():
    request, end = parse_request(b"GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n")
    assert (request.method, request.target, request.version) == ("GET", "/a?b=1", "HTTP/1.1")
    assert request.headers.get("host") == "example.com"
    assert request.framing is Framing.NONE
    assert end == EndOfMessage()


def test_header_lookup_ignores_case_and_keeps_repeated_fields():
    request, _ = parse_request(b"GET / HTTP/1.1\r\nHost: h\r\nX-Tag: a\r\nx-tag: b, c\r\n\r\n")
    assert request.headers.get_all("X-TAG") == ["a", "b, c"]
    assert request.headers.get("x-Tag") == "a, b, c"
    assert request.headers.tokens("x-tag") == ["a", "b", "c"]
    assert "X-TAG" in request.headers and "missing" not in request.headers


def test_optional_whitespace_around_header_values_is_dropped():
    request, _ = parse_request(b"GET / HTTP/1.1\r\nHost:\t h \t\r\n\r\n")
    assert request.headers.get("host") == "h"


def test_empty_lines_before_a_request_are_ignored():
    request, _ = parse_request(b"\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n")
    assert request.method == "GET"


def test_bare_lf_line_endings_are_accepted_in_heads():
    request, _ = parse_request(b"GET / HTTP/1.1\nHost: h\n\n")
    assert request.headers.get("host") == "h"


def test_http10_request_needs_no_host():
    request, _ = parse_request(b"GET / HTTP/1.0\r\n\r\n")
    assert request.version == "HTTP/1.0"


def test_response_head_without_reason_phrase_is_accepted():
    response, _ = parse_response(b"HTTP/1.1 204\r\n\r\n")
    assert (response.status, response.reason) == (204, "")


def test_head_at_the_size_limit_is_accepted():
    head = b"GET / HTTP/1.1\r\nHost: h\r\nX: " + b"a" * 100
    assert isinstance(parse_request(head + b"\r\n\r\n", max_head_size=len(head) + 2)[0], Request)


# --- bodies -----------------------------------------------------------------------


def test_content_length_body_is_handed_out_as_it_arrives():
    parser = RequestParser()
    head = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n"
    assert [type(e) for e in parse(parser, head + b"hello")] == [Request, Data]
    assert parse(parser, b"world") == [Data(b"world"), EndOfMessage()]


def test_repeated_identical_content_length_is_one_length():
    request, body, _ = parse_request(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n"
                                     b"Content-Length: 2, 2\r\n\r\nok")
    assert (request.framing, request.content_length, body) == (Framing.LENGTH, 2, Data(b"ok"))


def test_chunked_body_with_extensions_and_trailers():
    events = parse_request(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                           b"5;name=value\r\nhello\r\n6 ; x\r\n world\r\n"
                           b"0\r\nChecksum: abc\r\nX-More: 1\r\n\r\n")
    assert events[0].framing is Framing.CHUNKED
    assert events[1:] == [Data(b"hello"), Data(b" world"),
                          EndOfMessage(Headers([("Checksum", "abc"), ("X-More", "1")]))]


def test_transfer_coding_names_ignore_case():
    request, _ = parse_request(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n")
    assert request.framing is Framing.CHUNKED


def test_pipelined_requests_come_out_one_after_another():
    events = parse_request(b"POST /1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
                           b"GET /2 HTTP/1.1\r\nHost: h\r\n\r\n")
    assert [type(e) for e in events] == [Request, Data, EndOfMessage, Request, EndOfMessage]
    assert events[3].target == "/2"


def test_clean_close_between_requests_is_connection_closed():
    assert parse_request(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", eof=True)[-1] == ConnectionClosed()


def test_response_without_length_ends_when_the_server_closes():
    events = parse_response(b"HTTP/1.1 200 OK\r\n\r\nall of ", eof=False)
    assert events[0].framing is Framing.UNTIL_CLOSE and not events[0].keep_alive
    parser = ResponseParser("GET")
    parse(parser, b"HTTP/1.0 200 OK\r\n\r\nall of ")
    assert parse(parser, b"it", eof=True) == [Data(b"it"), EndOfMessage()]


@pytest.mark.parametrize("method, status", [("HEAD", 200), ("GET", 204), ("GET", 304)])
def test_responses_that_never_have_a_body(method, status):
    response, end = parse_response(b"HTTP/1.1 %d X\r\nContent-Length: 42\r\n\r\n" % status, method)
    assert response.framing is Framing.NONE and end == EndOfMessage()


def test_interim_responses_come_before_the_final_one():
    events = parse_response(b"HTTP/1.1 100 Continue\r\n\r\n"
                            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    assert [type(e) for e in events] == [Response, EndOfMessage, Response, Data, EndOfMessage]
    assert events[0].informational and events[2].status == 200


def test_bytes_after_the_final_response_are_left_unconsumed():
    parser = ResponseParser("GET")
    parse(parser, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA")
    assert parser.unconsumed == b"EXTRA"
    with pytest.raises(RuntimeError):
        parser.next_event()


SAMPLES = [
    (RequestParser, b"\r\nPOST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world"
                    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
    (RequestParser, b"PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"a;x=y\r\n0123456789\r\n1\r\n!\r\n0\r\nT: 1\r\n\r\n"),
    (lambda: ResponseParser("GET"), b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"
                                    b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
    (lambda: ResponseParser("GET"), b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\nuntil the end"),
]


@pytest.mark.parametrize("make_parser, data", SAMPLES)
def test_feeding_one_byte_at_a_time_gives_the_same_events(make_parser, data):
    whole = parse(make_parser(), data, eof=True)
    assert merged(byte_by_byte(make_parser(), data, eof=True)) == merged(whole)
    assert isinstance(whole[-1], (EndOfMessage, ConnectionClosed))


# --- connection management --------------------------------------------------------


@pytest.mark.parametrize("version, connection, keep_alive", [
    ("HTTP/1.1", None, True),
    ("HTTP/1.1", "close", False),
    ("HTTP/1.1", "Keep-Alive, CLOSE", False),
    ("HTTP/1.0", None, False),
    ("HTTP/1.0", "keep-alive", True),
])
def test_keep_alive_rules_of_http10_and_http11(version, connection, keep_alive):
    header = f"Connection: {connection}\r\n" if connection else ""
    request, _ = parse_request(f"GET / {version}\r\nHost: h\r\n{header}\r\n".encode())
    assert request.keep_alive is keep_alive


def test_hop_by_hop_headers_and_those_named_in_connection_are_removed():
    headers = Headers([("Host", "h"), ("Connection", "keep-alive, X-Secret"), ("Keep-Alive", "5"),
                       ("X-Secret", "1"), ("TE", "trailers"), ("Upgrade", "h2c"),
                       ("Proxy-Connection", "x"), ("Transfer-Encoding", "chunked"), ("Accept", "*/*")])
    assert list(headers.end_to_end()) == [("Host", "h"), ("Accept", "*/*")]


# --- errors: each carries the status a server should answer with --------------------


MALFORMED = {
    "missing version": (b"GET /\r\n\r\n", 400),
    "double space": (b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    "space in target": (b"GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    "unknown major version": (b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
    "http/1.1 without host": (b"GET / HTTP/1.1\r\n\r\n", 400),
    "two host headers": (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    "space before colon": (b"GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400),
    "no colon": (b"GET / HTTP/1.1\r\nHost h\r\n\r\n", 400),
    "obs-fold": (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n  b\r\n\r\n", 400),
    "control character in value": (b"GET / HTTP/1.1\r\nHost: h\x01\r\n\r\n", 400),
    "bare CR": (b"GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400),
    "NUL": (b"GET / HTTP/1.1\r\nHost: h\x00\r\n\r\n", 400),
    "both framings": (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n", 400),
    "conflicting lengths": (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
                            b"Content-Length: 4\r\n\r\n", 400),
    "conflicting lengths in one field": (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 4\r\n\r\n", 400),
    "negative length": (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400),
    "signed length": (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\n", 400),
    "empty length": (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", 400),
    "empty coding": (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \r\nContent-Length: 1\r\n\r\n", 400),
    "unknown coding": (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    "unknown coding before chunked": (b"POST / HTTP/1.1\r\nHost: h\r\n"
                                      b"Transfer-Encoding: gzip, chunked\r\n\r\n", 501),
    "chunked twice": (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n", 400),
    "chunked in http/1.0": (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    "chunk size not hex": (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    "chunk size with sign": (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", 400),
    "chunk line ending in bare LF": (b"POST / HTTP/1.1\r\nHost: h\r\n"
                                     b"Transfer-Encoding: chunked\r\n\r\n1\nx\r\n", 400),
    "chunk data longer than its size": (b"POST / HTTP/1.1\r\nHost: h\r\n"
                                        b"Transfer-Encoding: chunked\r\n\r\n1\r\nxy\r\n", 400),
    "control character in chunk extension": (b"POST / HTTP/1.1\r\nHost: h\r\n"
                                             b"Transfer-Encoding: chunked\r\n\r\n1;\x01\r\n", 400),
    "endless chunk line": (b"POST / HTTP/1.1\r\nHost: h\r\n"
                           b"Transfer-Encoding: chunked\r\n\r\n1;" + b"x" * 5000, 400),
    "malformed trailer": (b"POST / HTTP/1.1\r\nHost: h\r\n"
                          b"Transfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n", 400),
    "head too large": (b"GET / HTTP/1.1\r\nHost: h\r\nX: " + b"a" * 40_000, 431),
    "too many fields": (b"GET / HTTP/1.1\r\nHost: h\r\n" + b"X: 1\r\n" * 100 + b"\r\n", 431),
}


@pytest.mark.parametrize("data, status", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_requests_raise_with_a_status_hint(data, status):
    with pytest.raises(HTTPError) as raised:
        parse_request(data)
    assert raised.value.status == status


@pytest.mark.parametrize("data", [
    b"GET / HTTP/1.1\r\nHost: h\r\n",
    b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nabc",
    b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
])
def test_connection_closed_in_the_middle_of_a_request_is_an_error(data):
    with pytest.raises(HTTPError) as raised:
        parse_request(data, eof=True)
    assert raised.value.status == 400


def test_body_over_the_limit_is_413_before_any_of_it_is_read():
    with pytest.raises(HTTPError) as raised:
        parse_request(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n", max_body_size=10)
    assert raised.value.status == 413


def test_chunked_body_over_the_limit_is_413():
    parser = RequestParser(max_body_size=10)
    parse(parser, b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n")
    with pytest.raises(HTTPError) as raised:
        parse(parser, b"8\r\n")
    assert raised.value.status == 413


def test_chunked_trailers_count_against_the_head_limit():
    with pytest.raises(HTTPError) as raised:
        parse_request(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
                      + b"X: aaaaaaaaaa\r\n" * 20, max_head_size=200)
    assert raised.value.status == 431


@pytest.mark.parametrize("data", [b"HTTP/1.1 OK\r\n\r\n", b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
                                  b"ICY 200 OK\r\n\r\n"])
def test_bad_responses_are_502(data):
    with pytest.raises(HTTPError) as raised:
        parse_response(data)
    assert raised.value.status == 502


# --- serializing ------------------------------------------------------------------


def test_serialized_request_parses_back_to_the_same_head():
    request = Request("POST", "/x", Headers([("Host", "h"), ("Content-Length", "2")]))
    parsed, body, _ = parse_request(serialize_head(request) + b"ok")
    assert (parsed.method, parsed.target, parsed.headers, body) == ("POST", "/x", request.headers, Data(b"ok"))


def test_serialized_response_uses_the_standard_reason_when_none_is_given():
    assert serialize_head(Response(503)) == b"HTTP/1.1 503 Service Unavailable\r\n\r\n"


def test_chunk_encoding_round_trips_and_never_emits_an_empty_chunk():
    assert encode_chunk(b"") == b""
    body = encode_chunk(b"x" * 300) + encode_chunk(b"yz") + encode_last_chunk(Headers([("T", "1")]))
    events = parse_request(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
    assert merged(events[1:]) == [Data(b"x" * 300 + b"yz"), EndOfMessage(Headers([("T", "1")]))]


def test_quoted_string_escapes_backslashes_and_quotes():
    assert quoted_string('a "b" \\c') == '"a \\"b\\" \\\\c"'


def test_header_lookups_follow_every_change():
    headers = Headers([("Host", "a"), ("X-Tag", "1"), ("x-tag", "2")])
    headers.set("X-TAG", "3")
    headers.remove("host", "absent")
    headers.add("Via", "1.1 lb")
    assert list(headers) == [("X-TAG", "3"), ("Via", "1.1 lb")]
    assert headers.get_all("x-tag") == ["3"] and "Host" not in headers
    assert headers.get("VIA") == "1.1 lb" and headers == Headers([("X-TAG", "3"), ("Via", "1.1 lb")])


def test_values_from_get_all_are_a_copy():
    headers = Headers([("Accept", "text/html")])
    headers.get_all("accept").append("image/png")
    assert headers.get_all("accept") == ["text/html"]


@pytest.mark.parametrize("head", [b"A: b\rc", b"A: b\r\r\nC: d", b"A: \0"])
def test_bare_cr_or_nul_in_a_header_is_refused(head):
    with pytest.raises(HTTPError, match="bare CR or NUL"):
        parse_request(b"GET / HTTP/1.1\r\nHost: x\r\n" + head + b"\r\n\r\n")


def test_a_cr_closing_the_last_head_line_before_crlf_crlf_is_dropped():
    assert parse_request(b"GET / HTTP/1.1\r\nHost: x\r\r\n\r\n")[0].headers.get("host") == "x"
