"""HTTP/1.1 messages as a pure state machine: bytes in, events out (the h11 design).

Where it sits: the load balancer feeds what `recv()` returned into a `RequestParser`
(client side) or a `ResponseParser` (backend side) and gets events back: a head
(`Request` / `Response`), `Data` pieces of the body as they arrive, `EndOfMessage`. No
socket here, so any split of the bytes gives the same events and tests are byte strings.
Bodies are streamed, never buffered whole; Content-Length, chunked and (responses only)
read-until-close framing are supported. Bad input raises `HTTPError` with the status to
answer (400, 413, 431, 501, 505), and the connection must then be closed. Left out:
other transfer codings, upgrades (101), CONNECT tunnels, HTTP/0.9 and HTTP/2.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Iterable, Iterator

# Defaults in the range of nginx (8 KB per header line, 32 KB per head) and h11 (16 KB).
# A head that never ends is the cheapest way to exhaust a server's memory.
DEFAULT_MAX_HEAD_SIZE = 32 * 1024
DEFAULT_MAX_FIELDS = 100
MAX_CHUNK_LINE = 4096  # a chunk-size line including its (ignored) extensions

# RFC 9110 §5.6.2: a token is what methods and field names are made of.
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_REQUEST_LINE = re.compile(rf"({_TOKEN}) ([\x21-\x7e]+) (HTTP/\d\.\d)")
_STATUS_LINE = re.compile(r"(HTTP/\d\.\d) (\d{3})(?: ([\t\x20-\x7e\x80-\xff]*))?")
_FIELD_LINE = re.compile(rf"({_TOKEN}):(.*)")
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
_VERSION = re.compile(r"HTTP/\d\.\d")
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_DIGITS = re.compile(r"[0-9]{1,18}")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")
_CHUNK_EXTENSION = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")

SUPPORTED_VERSIONS = ("HTTP/1.0", "HTTP/1.1")

# RFC 9110 §7.6.1: fields that describe one connection, not the message. A proxy must
# remove them, plus every field the Connection header names, before forwarding.
HOP_BY_HOP = frozenset({"connection", "proxy-connection", "keep-alive", "te",
                        "transfer-encoding", "upgrade"})

REASONS = {
    100: "Continue", 200: "OK", 204: "No Content", 304: "Not Modified",
    400: "Bad Request", 404: "Not Found", 408: "Request Timeout", 413: "Content Too Large", 429: "Too Many Requests",
    431: "Request Header Fields Too Large", 500: "Internal Server Error",
    501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable",
    504: "Gateway Timeout", 505: "HTTP Version Not Supported",
}


class HTTPError(Exception):
    """Input that breaks the protocol. `status` is the response a server should send."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Headers:
    """Header fields in arrival order. Names keep their spelling; lookups ignore case.

    A field may repeat (`Set-Cookie`, or `Cache-Control` sent twice); `get_all` returns
    every value, and `tokens` splits comma-separated list fields such as Connection and
    Transfer-Encoding across all their lines, as RFC 9110 §5.3 says they combine.

    Next to the fields in order, `_index` maps each lower-cased name to its values and is
    kept up to date by every change. A proxied request looks its heads up about 25 times
    (framing, keep-alive, Host, forwarding headers); lower-casing every name on every
    lookup was the top Python cost of the balancer's profile (reports/profile_balancer*.txt).
    """

    def __init__(self, fields: Iterable[tuple[str, str]] = ()) -> None:
        self._fields = list(fields)
        self._index: dict[str, list[str]] = {}  # lower-cased name -> values, in order
        for name, value in self._fields:
            self._index.setdefault(name.lower(), []).append(value)

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self._index.get(name.lower())
        return ", ".join(values) if values else default

    def get_all(self, name: str) -> list[str]:
        return list(self._index.get(name.lower(), ()))

    def tokens(self, name: str) -> list[str]:
        """The comma-separated, lower-cased items of a list field ("Connection: close")."""
        return [item.strip().lower() for value in self._index.get(name.lower(), ())
                for item in value.split(",") if item.strip()]

    def cookie(self, name: str) -> str | None:
        """The value of one cookie from the `Cookie` field(s): `a=1; session=xyz` (RFC 6265 §4.2)."""
        for value in self.get_all("cookie"):
            for pair in value.split(";"):
                key, equals, cookie_value = pair.strip().partition("=")
                if equals and key == name:
                    return cookie_value.strip('"')  # a value may be written in quotes
        return None

    def add(self, name: str, value: str) -> None:
        self._fields.append((name, value))
        self._index.setdefault(name.lower(), []).append(value)

    def set(self, name: str, value: str) -> None:
        self.remove(name)
        self.add(name, value)

    def remove(self, *names: str) -> None:
        drop = set(map(str.lower, names))
        if drop.isdisjoint(self._index):
            return  # the usual case (a header set for the first time): nothing to rebuild
        self._fields = [(key, value) for key, value in self._fields if key.lower() not in drop]
        for name in drop:
            self._index.pop(name, None)

    def end_to_end(self) -> Headers:
        """A copy without the hop-by-hop fields, i.e. what a proxy may forward."""
        drop = HOP_BY_HOP | set(self.tokens("connection"))
        return Headers((key, value) for key, value in self._fields if key.lower() not in drop)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._index

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and self._fields == other._fields

    def __repr__(self) -> str:
        return f"Headers({self._fields!r})"


class Framing(enum.Enum):
    """How the end of a body is found (RFC 9112 §6.3)."""
    NONE = "none"                # no body: GET without Content-Length, 204, 304, HEAD replies
    LENGTH = "length"            # exactly Content-Length bytes
    CHUNKED = "chunked"          # chunks until the zero-size one
    UNTIL_CLOSE = "until-close"  # responses only: the server closes when it is done


@dataclass
class Request:
    method: str
    target: str
    headers: Headers = field(default_factory=Headers)
    version: str = "HTTP/1.1"
    framing: Framing = Framing.NONE  # filled in by the parser
    content_length: int | None = None

    @property
    def keep_alive(self) -> bool:
        return _persistent(self.version, self.headers)


@dataclass
class Response:
    status: int
    reason: str = ""
    headers: Headers = field(default_factory=Headers)
    version: str = "HTTP/1.1"
    framing: Framing = Framing.NONE
    content_length: int | None = None

    @property
    def keep_alive(self) -> bool:
        # A body that ends when the connection closes uses the connection up.
        return self.framing is not Framing.UNTIL_CLOSE and _persistent(self.version, self.headers)

    @property
    def informational(self) -> bool:
        """1xx: an interim response; the real one follows on the same connection."""
        return 100 <= self.status < 200


@dataclass(frozen=True)
class Data:
    data: bytes


@dataclass(frozen=True)
class EndOfMessage:
    trailers: Headers = field(default_factory=Headers)


@dataclass(frozen=True)
class ConnectionClosed:
    """The peer closed cleanly between two messages."""


class _NeedData:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = _NeedData()
"""Returned by `next_event()` when the buffer holds no complete event: feed more bytes."""

Event = Request | Response | Data | EndOfMessage | ConnectionClosed


def _persistent(version: str, headers: Headers) -> bool:
    """RFC 9112 §9.3: 1.1 keeps the connection unless told `close`; 1.0 only if asked."""
    options = headers.tokens("connection")
    if "close" in options:
        return False
    return version == "HTTP/1.1" or "keep-alive" in options


# --- parsing ----------------------------------------------------------------------


class _Parser:
    """What requests and responses share: the buffer, the head, the body readers."""

    def __init__(self, *, max_head_size: int = DEFAULT_MAX_HEAD_SIZE,
                 max_fields: int = DEFAULT_MAX_FIELDS, max_body_size: int | None = None) -> None:
        self.max_head_size = max_head_size
        self.max_fields = max_fields
        self.max_body_size = max_body_size
        self._buffer = bytearray()
        self._eof = False
        self._scanned = 0  # head bytes already searched for the blank line, not rescanned
        self._body: _BodyReader | None = None

    def feed(self, data: bytes) -> None:
        """Append what `recv()` returned. An empty `data` means the peer closed (EOF)."""
        if data:
            self._buffer += data
        else:
            self._eof = True

    @property
    def buffered(self) -> int:
        """How many received bytes wait in the buffer (a head begun but not finished)."""
        return len(self._buffer)

    @property
    def unconsumed(self) -> bytes:
        """Bytes received beyond the events handed out so far."""
        return bytes(self._buffer)

    def next_event(self) -> Event | _NeedData:
        if self._body is not None:
            event = self._body.read(self._buffer, self._eof)
            if isinstance(event, EndOfMessage):
                self._body = None
            return event
        return self._read_head()

    def _read_head(self) -> Event | _NeedData:
        if not self._buffer and not self._eof:
            return NEED_DATA  # the usual wait (an idle keep-alive client, a backend thinking)
        # RFC 9112 §2.2: ignore empty lines before a message (some clients send an extra
        # CRLF after a POST body).
        while self._buffer.startswith(b"\r\n") or self._buffer.startswith(b"\n"):
            del self._buffer[:2 if self._buffer[0] == 0x0D else 1]
            self._scanned = 0
        end = _HEAD_END.search(self._buffer, max(0, self._scanned - 3))
        if (end.start() if end else len(self._buffer)) > self.max_head_size:
            raise HTTPError(431, f"message head larger than {self.max_head_size} bytes")
        if end is None:
            if self._eof:
                if self._buffer:
                    raise HTTPError(400, "connection closed in the middle of a message head")
                return ConnectionClosed()
            self._scanned = len(self._buffer)
            return NEED_DATA
        head = bytes(self._buffer[:end.start()])
        del self._buffer[:end.end()]
        self._scanned = 0
        first, *lines = _split_lines(head)
        event = self._parse_start(first, self._parse_fields(lines))
        event.framing, event.content_length = self._framing(event)
        if self.max_body_size is not None and (event.content_length or 0) > self.max_body_size:
            raise HTTPError(413, f"body of {event.content_length} bytes is over the limit "
                                 f"of {self.max_body_size}")
        self._body = self._body_reader(event)
        return event

    def _body_reader(self, head: Request | Response) -> _BodyReader:
        match head.framing:
            case Framing.LENGTH:
                return _LengthBody(head.content_length or 0)
            case Framing.CHUNKED:
                return _ChunkedBody(self)
            case Framing.UNTIL_CLOSE:
                return _UntilCloseBody()
        return _NoBody()

    def _parse_fields(self, lines: list[str]) -> Headers:
        if len(lines) > self.max_fields:
            raise HTTPError(431, f"more than {self.max_fields} header fields")
        return _parse_fields(lines)

    def _parse_start(self, line: str, headers: Headers) -> Request | Response:
        raise NotImplementedError

    def _framing(self, head: Request | Response) -> tuple[Framing, int | None]:
        """RFC 9112 §6.3, minus everything two parsers could read differently.

        Request smuggling lives in the gaps between a proxy's and a backend's idea of
        where a body ends, so every ambiguous message is refused instead of resolved.
        """
        headers = head.headers
        codings = headers.tokens("transfer-encoding")
        lengths = [item.strip() for value in headers.get_all("content-length")
                   for item in value.split(",")]
        if "transfer-encoding" in headers:
            if not codings:
                raise HTTPError(400, "empty Transfer-Encoding")
            if head.version == "HTTP/1.0":
                raise HTTPError(400, "Transfer-Encoding in an HTTP/1.0 message")
            if lengths:
                raise HTTPError(400, "both Transfer-Encoding and Content-Length")
            unknown = [coding for coding in codings if coding != "chunked"]
            if unknown:
                raise HTTPError(501, f"unsupported transfer coding {unknown[0]!r}")
            if len(codings) > 1:
                raise HTTPError(400, "chunked applied more than once")
            return Framing.CHUNKED, None
        if lengths:
            if not all(_DIGITS.fullmatch(value) for value in lengths):
                raise HTTPError(400, f"invalid Content-Length {headers.get('content-length')!r}")
            if len(set(map(int, lengths))) > 1:
                raise HTTPError(400, f"conflicting Content-Length {headers.get('content-length')!r}")
            return Framing.LENGTH, int(lengths[0])
        return self._unframed_body(), None

    def _unframed_body(self) -> Framing:
        raise NotImplementedError


class RequestParser(_Parser):
    """Parses the requests a client sends on one connection, one after another."""

    def _parse_start(self, line: str, headers: Headers) -> Request:
        match = _REQUEST_LINE.fullmatch(line)
        if match is None:
            raise HTTPError(400, f"malformed request line {line[:100]!r}")
        method, target, version = match.groups()
        _check_version(version)
        # RFC 9112 §3.2: Host is how the server knows which site is meant; exactly one.
        hosts = headers.get_all("host")
        if len(hosts) > 1:
            raise HTTPError(400, "more than one Host header")
        if version == "HTTP/1.1" and not hosts:
            raise HTTPError(400, "HTTP/1.1 request without a Host header")
        return Request(method, target, headers, version)

    def _unframed_body(self) -> Framing:
        return Framing.NONE  # a request without Content-Length or chunked has no body


class ResponseParser(_Parser):
    """Parses the response to one request, after any 1xx interim responses.

    The request method matters: the response to HEAD has no body whatever its headers
    say. One parser serves one exchange; what arrives after the final response is left
    in `unconsumed` (a backend that sends it cannot be trusted with the next request).
    """

    def __init__(self, request_method: str, **limits: int | None) -> None:
        super().__init__(**limits)
        self.request_method = request_method
        self._final_seen = False

    @property
    def complete(self) -> bool:
        """The final response has been handed out in full."""
        return self._final_seen and self._body is None

    def next_event(self) -> Event | _NeedData:
        if self.complete:
            raise RuntimeError("the response is complete; use a new parser for the next one")
        event = super().next_event()
        if isinstance(event, Response) and not event.informational:
            self._final_seen = True
        return event

    def _parse_start(self, line: str, headers: Headers) -> Response:
        match = _STATUS_LINE.fullmatch(line)
        if match is None:
            raise HTTPError(502, f"malformed status line {line[:100]!r}")
        version, status, reason = match.groups()
        _check_version(version)
        if status == "101":
            raise HTTPError(502, "switching protocols (101) is not supported")
        return Response(int(status), reason or "", headers, version)

    def _framing(self, head: Request | Response) -> tuple[Framing, int | None]:
        assert isinstance(head, Response)
        if self.request_method == "HEAD" or head.informational or head.status in (204, 304):
            return Framing.NONE, None
        return super()._framing(head)

    def _unframed_body(self) -> Framing:
        return Framing.UNTIL_CLOSE


def _split_lines(head: bytes) -> list[str]:
    """Split a head into lines, ending at CRLF or, leniently, at a bare LF.

    RFC 9112 §2.2 allows accepting a bare LF; it is safe here because a proxy using this
    module re-serializes every head with CRLF instead of forwarding the raw bytes. A CR
    anywhere else, or a NUL, is refused: parsers disagree about them.
    """
    # Whole-head byte operations instead of a loop per line: the head is parsed for every
    # request and response the balancer relays. Removing each line's one closing CR (the
    # CR of every CRLF, and a last line's final CR) leaves any other CR behind.
    text = head.replace(b"\r\n", b"\n")
    if text.endswith(b"\r"):
        text = text[:-1]
    if b"\r" in text or b"\0" in text:
        raise HTTPError(400, "bare CR or NUL in the message head")
    # latin-1 maps every byte to one character, so nothing is lost or rejected here.
    return text.decode("latin-1").split("\n")


def _parse_fields(lines: list[str]) -> Headers:
    fields = []
    for line in lines:
        if line[:1] in (" ", "\t"):
            # obs-fold (a header continued on the next line) is obsolete, and a classic
            # way to make two parsers see different headers (RFC 9112 §5.2).
            raise HTTPError(400, "obsolete line folding in a header")
        match = _FIELD_LINE.fullmatch(line)
        if match is None:  # also catches "Name : value", which §5.1 says to reject
            raise HTTPError(400, f"malformed header line {line[:100]!r}")
        value = match.group(2).strip(" \t")
        if not _FIELD_VALUE.fullmatch(value):
            raise HTTPError(400, f"control character in header {match.group(1)!r}")
        fields.append((match.group(1), value))
    return Headers(fields)


def _check_version(version: str) -> None:
    if version not in SUPPORTED_VERSIONS:
        raise HTTPError(505, f"unsupported version {version}")


# --- body readers: one per framing ----------------------------------------------------


class _BodyReader:
    def read(self, buffer: bytearray, eof: bool) -> Data | EndOfMessage | _NeedData:
        raise NotImplementedError


class _NoBody(_BodyReader):
    def read(self, buffer: bytearray, eof: bool) -> EndOfMessage:
        return EndOfMessage()


class _LengthBody(_BodyReader):
    def __init__(self, length: int) -> None:
        self.remaining = length

    def read(self, buffer: bytearray, eof: bool) -> Data | EndOfMessage | _NeedData:
        if self.remaining == 0:
            return EndOfMessage()
        if buffer:
            data = _take(buffer, self.remaining)
            self.remaining -= len(data)
            return Data(data)
        if eof:
            raise HTTPError(400, f"connection closed with {self.remaining} body bytes missing")
        return NEED_DATA


class _UntilCloseBody(_BodyReader):
    def read(self, buffer: bytearray, eof: bool) -> Data | EndOfMessage | _NeedData:
        if buffer:
            data = bytes(buffer)
            buffer.clear()
            return Data(data)
        return EndOfMessage() if eof else NEED_DATA


class _ChunkedBody(_BodyReader):
    """RFC 9112 §7.1: `size-in-hex[;extensions] CRLF data CRLF`, ..., `0 CRLF trailers CRLF`.

    Unlike heads, chunk lines must end in CRLF: bare LFs and odd extensions inside
    chunked bodies are a known way to desynchronize a proxy and a backend.
    """

    def __init__(self, parser: _Parser) -> None:
        self.parser = parser  # for its limits and its header-field parser
        self.remaining = 0        # bytes left in the current chunk's data
        self.data_end = False     # expecting the CRLF that closes a chunk's data
        self.in_trailers = False
        self.trailer_lines: list[str] = []
        self.trailer_bytes = 0
        self.total = 0

    def read(self, buffer: bytearray, eof: bool) -> Data | EndOfMessage | _NeedData:
        while True:
            if self.remaining:
                if not buffer:
                    return self._need_data(eof)
                data = _take(buffer, self.remaining)
                self.remaining -= len(data)
                self.data_end = self.remaining == 0
                return Data(data)
            line = _take_chunk_line(buffer)
            if line is None:
                return self._need_data(eof)
            if self.in_trailers:
                if not line:
                    return EndOfMessage(self.parser._parse_fields(self.trailer_lines))
                self.trailer_bytes += len(line)
                if self.trailer_bytes > self.parser.max_head_size:
                    raise HTTPError(431, "chunked trailers too large")
                self.trailer_lines.append(line.decode("latin-1"))
            elif self.data_end:
                if line:
                    raise HTTPError(400, "chunk data longer than its declared size")
                self.data_end = False
            else:
                self._start_chunk(line)

    def _start_chunk(self, line: bytes) -> None:
        size, _, extensions = line.partition(b";")
        size = size.rstrip(b" \t")
        if not _HEX.fullmatch(size) or not _CHUNK_EXTENSION.fullmatch(extensions):
            raise HTTPError(400, f"malformed chunk size line {line[:100]!r}")
        self.remaining = int(size, 16)
        self.in_trailers = self.remaining == 0
        self.total += self.remaining
        limit = self.parser.max_body_size
        if limit is not None and self.total > limit:
            raise HTTPError(413, f"chunked body over the limit of {limit} bytes")

    def _need_data(self, eof: bool) -> _NeedData:
        if eof:
            raise HTTPError(400, "connection closed inside a chunked body")
        return NEED_DATA


def _take(buffer: bytearray, limit: int) -> bytes:
    data = bytes(buffer[:limit])
    del buffer[:len(data)]
    return data


def _take_chunk_line(buffer: bytearray) -> bytes | None:
    newline = buffer.find(b"\n", 0, MAX_CHUNK_LINE + 2)
    if newline < 0:
        if len(buffer) > MAX_CHUNK_LINE:
            raise HTTPError(400, "chunk line too long")
        return None
    if newline == 0 or buffer[newline - 1] != 0x0D:
        raise HTTPError(400, "chunk line not terminated by CRLF")
    line = bytes(buffer[:newline - 1])
    del buffer[:newline + 1]
    if b"\r" in line or b"\0" in line:
        raise HTTPError(400, "bare CR or NUL in a chunk line")
    return line


# --- serializing ----------------------------------------------------------------------


def serialize_head(head: Request | Response) -> bytes:
    """The start line and header fields, ending with the blank line."""
    if isinstance(head, Request):
        start = f"{head.method} {head.target} {head.version}"
    else:
        start = f"{head.version} {head.status} {head.reason or REASONS.get(head.status, '')}".rstrip()
    return (start + "\r\n" + _serialize_fields(head.headers) + "\r\n").encode("latin-1")


def encode_chunk(data: bytes) -> bytes:
    """One chunk of a chunked body. Empty data encodes to nothing: a zero-size chunk
    would end the body."""
    return b"%x\r\n%s\r\n" % (len(data), data) if data else b""


def encode_last_chunk(trailers: Headers | None = None) -> bytes:
    return b"0\r\n" + _serialize_fields(trailers or Headers()).encode("latin-1") + b"\r\n"


def _serialize_fields(headers: Headers) -> str:
    # map() with str.join builds the "Name: value" lines without a Python frame per field
    # (every relayed head is serialized once per hop).
    lines = "\r\n".join(map(": ".join, headers))
    return lines + "\r\n" if lines else ""


def quoted_string(text: str) -> str:
    """RFC 9110 §5.6.4 quoted-string: in quotes, with backslash and quote escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
