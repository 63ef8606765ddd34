"""RESP, the REdis Serialization Protocol: the one codec every part of this project uses.

Where it sits: the Redis clone's server feeds socket bytes into a `RequestParser` and
encodes each handler's return value with `encode`; our RESP client (rate limiter, tests)
encodes commands with `encode_command` and reads replies with a `ReplyParser`. Nothing
here touches a socket: bytes go in, Python values come out, and back again.

The parsers are incremental. `feed()` appends whatever `recv()` returned; `get()` hands
back one complete frame or `INCOMPLETE`. A frame split across reads at any byte is
resumed where it stopped (the parser keeps a stack of half-built arrays and the length
of a pending bulk), so nothing is re-parsed, lost or duplicated.

Wire types and the Python values that stand for them:

    +OK            Status("OK")          -ERR x        ErrorReply("ERR x")
    :42            int                    $3 foo        bytes      $-1 / _   None
    *2 ...         list                   *-1           NULL_ARRAY (RESP2 only)
    ,3.14          float                  #t            bool       (123      BigNumber
    %2 ...         dict                   ~2 ...        RespSet    >3 ...    Push
    =15 txt:...    Verbatim               |1 ...        Attribute  !21 ...   ErrorReply

A handler returns these values; `encode(value, protocol)` writes RESP2 or RESP3, turning
RESP3-only types into their RESP2 fallbacks (map -> flat array, double -> bulk, ...)
exactly as Redis does for a client that did not send `HELLO 3`.

Requests (client -> server) are stricter than replies, as in Redis: an array whose every
element is a bulk string, or an "inline" line of space-separated words (so `PING` typed
into telnet works). Protocol errors raise `ProtocolError` carrying Redis's exact text;
the server replies with it and closes the connection.
"""

from __future__ import annotations

import re
from collections import deque
from typing import Iterator

CRLF = b"\r\n"

# Limits from Redis's networking.c. A length line ("*3", "$5") or an inline command
# longer than PROTO_INLINE_MAX_SIZE without a newline is an attack or garbage.
PROTO_INLINE_MAX_SIZE = 64 * 1024
DEFAULT_MAX_BULK_LEN = 512 * 1024 * 1024  # proto-max-bulk-len
INT_MAX = 2**31 - 1
FAST_PATH_MAX_ARGS = 64  # bigger commands (MSET of thousands) take the general parser
UNAUTHENTICATED_MAX_ARGS = 10       # Redis 7.0's limits on a client that has not AUTHed
UNAUTHENTICATED_MAX_BULK = 16384
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class ProtocolError(Exception):
    """Malformed input. `str(err)` is Redis's text, e.g. 'Protocol error: invalid bulk length'."""


class _Incomplete:
    __slots__ = ()

    def __repr__(self) -> str:
        return "INCOMPLETE"


INCOMPLETE = _Incomplete()
"""Returned by `get()` when the buffer holds no complete frame yet: not an error."""


class Status(str):
    """A simple string reply (`+OK`)."""


OK = Status("OK")
"""The shared +OK reply (Redis's `shared.ok`): what a command that just succeeds returns."""


class ErrorReply(str):
    """An error reply (`-ERR ...`, or RESP3 `!` blob error). The text includes the code."""

    @property
    def code(self) -> str:
        return self.split(" ", 1)[0]


class BigNumber(int):
    """RESP3 big number (`(`); RESP2 sends it as a bulk string."""


class RespSet(list):
    """RESP3 set (`~`); kept as a list so the reply order is deterministic."""


class Push(list):
    """RESP3 out-of-band push (`>`), e.g. pub/sub messages; RESP2 sends an array."""


class Replies(list):
    """Several replies in a row, not one array: a command that answers more than once,
    like SUBSCRIBE a b (one confirmation per channel). The server-side encoder only."""


class Attribute(dict):
    """RESP3 attribute (`|`): metadata a server may send before a reply."""


class Verbatim(bytes):
    """RESP3 verbatim string (`=`), e.g. INFO's text; `fmt` is a 3-letter type ("txt")."""

    fmt: str

    def __new__(cls, data: bytes, fmt: str = "txt") -> "Verbatim":
        obj = super().__new__(cls, data)
        obj.fmt = fmt
        return obj


class _NullArray:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NULL_ARRAY"


NULL_ARRAY = _NullArray()
"""`*-1`: the RESP2 null array (e.g. EXEC of an aborted transaction). RESP3 sends `_`."""


def parse_int64(data: bytes | bytearray) -> int | None:
    """Redis's string2ll: a strict base-10 signed 64-bit integer, or None.

    No sign '+', no spaces, no leading zeros ("007", "-0" are rejected), no overflow.
    """
    n = len(data)
    if n == 0 or n > 20:
        return None
    start = 1 if data[0] == 0x2D else 0  # '-'
    if start == n:
        return None
    first = data[start]
    if first == 0x30:  # '0' alone is fine; "0x", "01" and "-0" are not
        return 0 if n == 1 else None
    if not 0x31 <= first <= 0x39:
        return None
    for c in data[start + 1 :]:
        if not 0x30 <= c <= 0x39:
            return None
    value = int(data)
    return value if INT64_MIN <= value <= INT64_MAX else None


# --------------------------------------------------------------------------- parsing

_SPACE = b" \t\n\v\f\r"


def split_inline(line: bytes) -> list[bytes] | None:
    """Split an inline command like Redis's sdssplitargs; None means unbalanced quotes.

    Words are separated by whitespace. "double quotes" understand \\n \\r \\t \\b \\a
    and \\xHH escapes; 'single quotes' only \\'. A closing quote must be followed by
    whitespace or the end of the line. Like the C original, a NUL byte ends the line.
    """
    nul = line.find(b"\0")
    if nul >= 0:
        line = line[:nul]
    args: list[bytes] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in _SPACE:
            i += 1
        if i >= n:
            return args
        word = bytearray()
        in_double = in_single = False
        while True:
            c = line[i] if i < n else None
            if in_double:
                if c is None:
                    return None
                if c == 0x5C and i + 3 < n and line[i + 1] == 0x78 and _is_hex(line[i + 2]) and _is_hex(line[i + 3]):
                    word.append(int(line[i + 2 : i + 4], 16))
                    i += 3
                elif c == 0x5C and i + 1 < n:
                    i += 1
                    word.append(_ESCAPES.get(line[i], line[i]))
                elif c == 0x22:  # closing "
                    if i + 1 < n and line[i + 1] not in _SPACE:
                        return None
                    i += 1
                    break
                else:
                    word.append(c)
            elif in_single:
                if c is None:
                    return None
                if c == 0x5C and i + 1 < n and line[i + 1] == 0x27:
                    i += 1
                    word.append(0x27)
                elif c == 0x27:  # closing '
                    if i + 1 < n and line[i + 1] not in _SPACE:
                        return None
                    i += 1
                    break
                else:
                    word.append(c)
            elif c is None or c in b" \n\r\t":
                break
            elif c == 0x22:
                in_double = True
            elif c == 0x27:
                in_single = True
            else:
                word.append(c)
            i += 1
        args.append(bytes(word))


_ESCAPES = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("a"): 7}


def _is_hex(c: int) -> bool:
    return c in b"0123456789abcdefABCDEF"


class _Parser:
    """Shared machinery: a buffer, a read position and a stack of open aggregates."""

    def __init__(self, max_bulk_len: int = DEFAULT_MAX_BULK_LEN) -> None:
        self.max_bulk_len = max_bulk_len
        self._buf = bytearray()
        self._pos = 0
        # Each open aggregate: [kind byte, elements still expected, elements so far].
        self._stack: list[list] = []
        self._bulk: tuple[int, int] | None = None  # (kind byte, length) of a pending bulk

    def feed(self, data: bytes) -> None:
        if self._pos and self._pos >= len(self._buf) // 2:
            del self._buf[: self._pos]  # compact: drop what was consumed
            self._pos = 0
        self._buf += data

    @property
    def buffered(self) -> int:
        """Bytes received but not yet consumed by a complete frame."""
        return len(self._buf) - self._pos

    def __iter__(self) -> Iterator:
        """Yield every complete frame in the buffer (raising ProtocolError on garbage)."""
        while (frame := self.get()) is not INCOMPLETE:
            yield frame

    def get(self):
        raise NotImplementedError

    def _line(self, too_long: str) -> bytes | None:
        """The next CRLF-terminated line without its CRLF, or None if it has not all arrived."""
        buf, pos = self._buf, self._pos
        end = buf.find(CRLF, pos)
        if end < 0:
            if len(buf) - pos > PROTO_INLINE_MAX_SIZE:
                raise ProtocolError(f"Protocol error: {too_long}")
            return None
        self._pos = end + 2
        return bytes(buf[pos:end])

    def _take_bulk(self, length: int) -> bytes | None:
        """The payload of a pending bulk (plus its CRLF), or None if not all here yet."""
        pos = self._pos
        if len(self._buf) - pos < length + 2:
            return None
        self._pos = pos + length + 2
        return bytes(self._buf[pos : pos + length])

    def _complete(self, value):
        """Place a finished value into the open aggregate; return the top-level frame or INCOMPLETE."""
        stack = self._stack
        while stack:
            top = stack[-1]
            top[2].append(value)
            top[1] -= 1
            if top[1]:
                return INCOMPLETE
            stack.pop()
            value = self._build(top[0], top[2])
        return value

    def _build(self, kind: int, items: list):
        return items


class RequestParser(_Parser):
    """Server side: parse client commands into argument lists (`[b"SET", b"k", b"v"]`).

    Errors follow Redis's processMultibulkBuffer/processInlineBuffer to the byte.
    Empty commands (`*0`, `*-1`, blank inline lines) are skipped, as Redis does.

    While `unauthenticated` is set (the server sets it until the client AUTHs, when a
    password is required) a multibulk request may have at most 10 arguments of at most
    16 KiB each, so a stranger cannot make the server buffer huge requests.
    """

    unauthenticated = False

    def __init__(self, max_bulk_len: int = DEFAULT_MAX_BULK_LEN) -> None:
        super().__init__(max_bulk_len)
        self._ready: deque[list[bytes]] = deque()  # whole commands feed() split off

    def feed(self, data: bytes) -> None:
        if self._pos >= len(self._buf) and not self._stack and self._bulk is None \
                and not self.unauthenticated:
            data = self._split_commands(data)
        super().feed(data)

    def get(self):
        if self._ready:
            return self._ready.popleft()
        if not self._stack and self._bulk is None:
            argv = self._whole_command()
            if argv is not None:
                return argv
        while True:
            if self._bulk is not None:
                value = self._take_bulk(self._bulk[1])
                if value is None:
                    return INCOMPLETE
                self._bulk = None
                frame = self._complete(value)
                if frame is INCOMPLETE:
                    continue
                return frame
            if self._pos >= len(self._buf):
                return INCOMPLETE
            lead = self._buf[self._pos]
            if self._stack:
                line = self._request_line(0x0D, "too big bulk count string")
                if line is None:
                    return INCOMPLETE
                if lead != 0x24:  # '$'
                    raise ProtocolError(f"Protocol error: expected '$', got '{_error_char(lead)}'")
                length = parse_int64(line[1:])
                if length is None or length < 0 or length > self.max_bulk_len:
                    raise ProtocolError("Protocol error: invalid bulk length")
                if length > UNAUTHENTICATED_MAX_BULK and self.unauthenticated:
                    raise ProtocolError("Protocol error: unauthenticated bulk length")
                self._bulk = (0x24, length)
            elif lead == 0x2A:  # '*'
                line = self._request_line(0x0D, "too big mbulk count string")
                if line is None:
                    return INCOMPLETE
                count = parse_int64(line[1:])
                if count is None or count > INT_MAX:
                    raise ProtocolError("Protocol error: invalid multibulk length")
                if count > UNAUTHENTICATED_MAX_ARGS and self.unauthenticated:
                    raise ProtocolError("Protocol error: unauthenticated multibulk length")
                if count > 0:
                    self._stack.append([0x2A, count, []])
            else:
                line = self._request_line(0x0A, "too big inline request")
                if line is None:
                    return INCOMPLETE
                args = split_inline(line)
                if args is None:
                    raise ProtocolError("Protocol error: unbalanced quotes in request")
                if args:
                    return args

    def _split_commands(self, data: bytes) -> bytes:
        """Fastest path, for data arriving while nothing is left over from before (the
        usual case: one command, or a pipeline, per recv): one C-level split at every
        CRLF, and each well-formed command comes out as a slice of the pieces. A command
        is taken only if its header is `*<count>` and every length line is exactly
        `$<len(payload)>`. That also catches a payload that itself contains a CRLF: the
        split cuts it short, so its length line no longer matches. The first command
        that is not taken, and everything after it, is returned to be buffered for the
        other paths, rebuilt exactly by joining the pieces with CRLF again."""
        parts = data.split(b"\r\n")
        ready, limit, i, last = self._ready, self.max_bulk_len, 0, len(parts) - 1
        while i < last:  # parts[last] is whatever follows the final CRLF
            digits = parts[i][1:]
            if parts[i][:1] != b"*" or not digits.isdigit():
                break
            count = int(digits)
            after = i + 2 * count + 1
            if not 0 < count <= FAST_PATH_MAX_ARGS or after > last or b"%d" % count != digits:
                break
            argv = parts[i + 2:after:2]
            for length_line, arg in zip(parts[i + 1:after:2], argv):
                if length_line != b"$%d" % len(arg) or len(arg) > limit:
                    break
            else:
                ready.append(argv)
                i = after
                continue
            break
        return data if i == 0 else b"\r\n".join(parts[i:])

    def _whole_command(self) -> list[bytes] | None:
        """Fast path: a small, well-formed multibulk command that has fully arrived.

        Nearly every request is one (`*3\r\n$3\r\nSET...`). Two precompiled patterns
        read its length lines in C, so the Python loop only slices out the arguments:
        a fraction of the general state machine's work. Anything else (inline,
        incomplete, big, a length with a sign or a leading zero, a CR without its LF)
        returns None *without consuming a byte*, and `get()` parses it the general
        way, so errors and partial input behave exactly as Redis's do.
        """
        buf, pos = self._buf, self._pos
        header = _FAST_COUNT.match(buf, pos)
        if header is None or self.unauthenticated:
            return None
        count = int(header[1])
        if count > FAST_PATH_MAX_ARGS:
            return None
        size, limit, argv, bulk = len(buf), self.max_bulk_len, [], _FAST_BULK.match
        pos = header.end()
        for _ in range(count):
            header = bulk(buf, pos)
            if header is None:
                return None
            length, start = int(header[1]), header.end()
            pos = start + length + 2  # the bulk's CRLF is skipped unchecked, as in Redis
            if length > limit or pos > size:
                return None
            argv.append(bytes(buf[start:pos - 2]))
        self._pos = pos
        return argv

    def _request_line(self, terminator: int, too_long: str) -> bytes | None:
        """The next request line, cut exactly where Redis's networking.c cuts it.

        Redis finds lines with strchr(), so a NUL byte hides everything after it: the
        line never completes and, past PROTO_INLINE_MAX_SIZE, is "too big". A length
        line ("*3", "$5") ends at the first CR and the byte after it is skipped
        unchecked; an inline line ends at LF, with an optional CR before it.
        """
        buf, pos = self._buf, self._pos
        end = buf.find(terminator, pos)
        if end < 0 or buf.find(0, pos, end) >= 0:
            if len(buf) - pos > PROTO_INLINE_MAX_SIZE:
                raise ProtocolError(f"Protocol error: {too_long}")
            return None
        if terminator == 0x0D:
            if end + 2 > len(buf):
                return None  # the byte after the CR has not arrived yet
            self._pos = end + 2
        else:
            self._pos = end + 1
            if end > pos and buf[end - 1] == 0x0D:
                end -= 1
        return bytes(buf[pos:end])


# The fast path's length lines: plain digits, no sign, no leading zero, below 10**9.
_FAST_COUNT = re.compile(rb"\*([1-9][0-9]{0,8})\r\n")
_FAST_BULK = re.compile(rb"\$(0|[1-9][0-9]{0,8})\r\n")


def _error_char(byte: int) -> str:
    """One request byte as Redis prints it in an error: raw, but CR/LF become spaces."""
    return " " if byte in (0x0D, 0x0A) else bytes([byte]).decode("utf-8", "surrogateescape")


class ReplyParser(_Parser):
    """Client side: parse any RESP2/RESP3 reply into the Python values listed above.

    Error replies are returned as `ErrorReply` values, not raised: an error is a
    normal reply (inside a pipeline or EXEC it is one element among many).
    """

    _AGGREGATES = {0x2A: list, 0x25: dict, 0x7E: RespSet, 0x3E: Push, 0x7C: Attribute}

    def get(self):
        if not self._stack and self._bulk is None:
            frame = self._flat_reply()
            if frame is not _DECLINED:
                return frame
        while True:
            if self._bulk is not None:
                kind, length = self._bulk
                data = self._take_bulk(length)
                if data is None:
                    return INCOMPLETE
                self._bulk = None
                value = _bulk_value(kind, data)
            else:
                if self._pos >= len(self._buf):
                    return INCOMPLETE
                line = self._line("too big reply line")
                if line is None:
                    return INCOMPLETE
                value = self._scalar(line)
                if value is _OPENED:
                    continue
            frame = self._complete(value)
            if frame is not INCOMPLETE:
                return frame

    def _flat_reply(self):
        """Fast path: a complete integer, simple string, error, bulk string, or a flat
        array of those, which is nearly every reply a client waits for (an INCR, a
        GET, a script's [allowed, remaining, reset]). Each element is read with one
        precompiled pattern. Anything else (RESP3 types, nesting, nil arrays, a length
        the general parser would judge, data still arriving) is _DECLINED without
        consuming a byte, and get() parses it the general way."""
        buf, pos = self._buf, self._pos
        size = len(buf)
        header = _FAST_ARRAY.match(buf, pos)
        if header is None:
            value, pos = self._flat_element(buf, pos, size)
        else:
            value, pos = [], header.end()
            for _ in range(int(header[1])):
                item, pos = self._flat_element(buf, pos, size)
                if item is _DECLINED:
                    return _DECLINED
                value.append(item)
        if value is not _DECLINED:
            self._pos = pos
        return value

    def _flat_element(self, buf: bytearray, pos: int, size: int) -> tuple[object, int]:
        """(the scalar at `pos`, where it ends), or (_DECLINED, pos)."""
        match = _FAST_SCALAR.match(buf, pos)
        if match is None:
            return _DECLINED, pos
        kind, text, end = buf[pos], match[match.lastindex], match.end()
        if kind == 0x3A:  # :
            return int(text), end
        if kind == 0x2B:  # +
            return Status(text.decode("utf-8", "replace")), end
        if kind == 0x2D:  # -
            return ErrorReply(text.decode("utf-8", "replace")), end
        length = int(text)  # $
        if length < 0:
            return None, end
        start, end = end, end + length + 2  # the bulk's CRLF is skipped unchecked, as below
        if length > self.max_bulk_len or end > size:
            return _DECLINED, pos
        return bytes(buf[start:end - 2]), end

    def _scalar(self, line: bytes):
        if not line:
            raise ProtocolError("Protocol error: empty reply line")
        kind, body = line[0], line[1:]
        if kind == 0x2B:  # +
            return Status(body.decode("utf-8", "replace"))
        if kind == 0x2D:  # -
            return ErrorReply(body.decode("utf-8", "replace"))
        if kind == 0x3A:  # :
            return self._int(body)
        if kind in (0x24, 0x21, 0x3D):  # $ ! =
            length = self._int(body)
            if length < 0:
                return None
            if length > self.max_bulk_len:
                raise ProtocolError("Protocol error: invalid bulk length")
            self._bulk = (kind, length)
            return _OPENED
        if kind in self._AGGREGATES:
            count = self._int(body)
            if count < 0:
                return NULL_ARRAY if kind == 0x2A else None
            pairs = kind in (0x25, 0x7C)
            if count == 0:
                return self._build(kind, [])
            self._stack.append([kind, count * 2 if pairs else count, []])
            return _OPENED
        if kind == 0x5F:  # _
            return None
        if kind == 0x2C:  # ,
            try:
                return float(body)  # Python accepts "inf", "-inf", "nan" as RESP3 does
            except ValueError:
                raise ProtocolError(f"Protocol error: bad double {body[:32]!r}") from None
        if kind == 0x23:  # #
            return body == b"t"
        if kind == 0x28:  # (
            return BigNumber(self._int(body))
        raise ProtocolError(f"Protocol error: unexpected reply type '{chr(kind)}'")

    @staticmethod
    def _int(body: bytes) -> int:
        try:
            return int(body)
        except ValueError:
            raise ProtocolError(f"Protocol error: bad integer {body[:32]!r}") from None

    def _build(self, kind: int, items: list):
        factory = self._AGGREGATES[kind]
        if factory in (dict, Attribute):
            return factory((_hashable(k), v) for k, v in zip(items[::2], items[1::2]))
        return factory(items)

    def get_reply(self):
        """Like get(), but skip RESP3 attributes, which only annotate the next reply."""
        while isinstance(frame := self.get(), Attribute):
            pass
        return frame


_OPENED = object()  # _scalar opened a bulk or aggregate: keep reading
_DECLINED = object()  # the reply fast path leaves this input to the general parser
# The reply fast path's shapes: an array header, then scalars whose text the general
# parser would read the same way (plain digits for numbers and lengths; a simple
# string or error up to its first CRLF, like _line()).
_FAST_ARRAY = re.compile(rb"\*([0-9]{1,6})\r\n")
_FAST_SCALAR = re.compile(rb"(?:[:$](-?[0-9]{1,18})|[+-]([^\r\n]*))\r\n")


def _bulk_value(kind: int, data: bytes):
    if kind == 0x21:  # ! blob error
        return ErrorReply(data.decode("utf-8", "replace"))
    if kind == 0x3D:  # = verbatim: "txt:" then the text
        return Verbatim(data[4:], data[:3].decode("ascii", "replace"))
    return data


def _hashable(key):
    """A map key as a dict key: a flat array becomes a tuple; deeper nesting is refused."""
    if isinstance(key, list):
        key = tuple(key)
    try:
        hash(key)
    except TypeError:
        raise ProtocolError("Protocol error: unsupported map key (a nested aggregate)") from None
    return key


# --------------------------------------------------------------------------- encoding

def format_double(value: float) -> bytes:
    """Redis 7.0's addReplyDouble text: %.17g, with inf spelled "inf"/"-inf"."""
    if value != value:
        return b"nan"
    if value in (float("inf"), float("-inf")):
        return b"inf" if value > 0 else b"-inf"
    return b"%.17g" % value


def encode(value, protocol: int = 2) -> bytes:
    """Encode one reply value (see the module docstring) for a RESP2 or RESP3 client."""
    out: list[bytes] = []
    _encode(value, out, protocol == 3)
    return b"".join(out)


def _encode(value, out: list, resp3: bool) -> None:
    kind = type(value)
    if kind is bytes:
        out.append(b"$%d\r\n%s\r\n" % (len(value), value))
    elif kind is int:
        out.append(b":%d\r\n" % value)
    elif kind is Status:
        out.append(b"+%s\r\n" % value.encode("utf-8", "surrogateescape"))
    elif value is None:
        out.append(b"_\r\n" if resp3 else b"$-1\r\n")
    elif kind is list or kind is tuple:
        out.append(b"*%d\r\n" % len(value))
        for item in value:
            _encode(item, out, resp3)
    elif kind is ErrorReply:
        out.append(b"-%s\r\n" % value.encode("utf-8", "surrogateescape"))
    elif kind is bool:
        out.append((b"#t\r\n" if value else b"#f\r\n") if resp3 else (b":1\r\n" if value else b":0\r\n"))
    elif kind is float:
        text = format_double(value)
        out.append(b",%s\r\n" % text if resp3 else b"$%d\r\n%s\r\n" % (len(text), text))
    elif kind is dict or kind is Attribute:
        if kind is Attribute and not resp3:
            return  # attributes do not exist in RESP2
        out.append(b"%s%d\r\n" % (b"|" if kind is Attribute else b"%" if resp3 else b"*",
                                  len(value) if resp3 else 2 * len(value)))
        for key, item in value.items():
            _encode(key, out, resp3)
            _encode(item, out, resp3)
    elif kind is RespSet or kind is Push:
        lead = (b"~" if kind is RespSet else b">") if resp3 else b"*"
        out.append(b"%s%d\r\n" % (lead, len(value)))
        for item in value:
            _encode(item, out, resp3)
    elif value is NULL_ARRAY:
        out.append(b"_\r\n" if resp3 else b"*-1\r\n")
    elif kind is BigNumber:
        text = b"%d" % value
        out.append(b"(%s\r\n" % text if resp3 else b"$%d\r\n%s\r\n" % (len(text), text))
    elif kind is Verbatim:
        if resp3:
            out.append(b"=%d\r\n%s:%s\r\n" % (len(value) + 4, value.fmt.encode(), value))
        else:
            out.append(b"$%d\r\n%s\r\n" % (len(value), value))
    elif kind is str:
        _encode(value.encode("utf-8", "surrogateescape"), out, resp3)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        _encode(bytes(value), out, resp3)
    elif kind is Replies:
        for item in value:
            _encode(item, out, resp3)
    else:
        raise TypeError(f"cannot encode {kind.__name__} as RESP")


def encode_command(*args) -> bytes:
    """Encode a command the way every client sends one: an array of bulk strings.

    Accepts bytes, str, int and float arguments (`encode_command("SET", "k", 1)`).
    """
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            arg = arg.encode()
        elif isinstance(arg, bool):
            raise TypeError("booleans are ambiguous as Redis arguments")
        elif isinstance(arg, int):
            arg = b"%d" % arg
        elif isinstance(arg, float):
            arg = repr(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(out)
