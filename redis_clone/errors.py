"""Every error reply the server sends, verbatim from Redis 7.

Handlers never spell an error message inline: they raise `RedisError(errors.X)` (or a
helper below for messages with blanks to fill), and exactly one place, the dispatcher
in `registry.py`, turns the exception into a `-...` reply. Keeping the texts together
makes byte-for-byte compatibility with real Redis reviewable in one screen, and the
differential tests in `tests/integration/test_differential.py` hold us to it.

The first word of each message is the error *code* clients switch on (`ERR`,
`WRONGTYPE`, `NOPROTO`, `EXECABORT`...).
"""

from __future__ import annotations


class RedisError(Exception):
    """A command failed; `message` is the full reply text without the leading '-'."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


SYNTAX = "ERR syntax error"
WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
NOT_INTEGER = "ERR value is not an integer or out of range"
NOT_FLOAT = "ERR value is not a valid float"
OVERFLOW = "ERR increment or decrement would overflow"
INCR_NAN_OR_INF = "ERR increment would produce NaN or Infinity"
NO_SUCH_KEY = "ERR no such key"
DB_INDEX_OUT_OF_RANGE = "ERR DB index is out of range"
SAME_DB = "ERR source and destination objects are the same"
OFFSET_OUT_OF_RANGE = "ERR offset is out of range"
STRING_TOO_LONG = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
TIMEOUT_NEGATIVE = "ERR timeout is negative"
TIMEOUT_NOT_FLOAT = "ERR timeout is not a float or out of range"
NOPROTO = "NOPROTO unsupported protocol version"
PROTOCOL_VERSION_NOT_INTEGER = "ERR Protocol version is not an integer or out of range"
CLIENT_NAME_SPACES = "ERR Client names cannot contain spaces, newlines or special characters."
INVALID_CURSOR = "ERR invalid cursor"
NX_XX_GT_LT = "ERR NX and XX, GT or LT options at the same time are not compatible"
GT_LT_NX = "ERR GT, LT, and/or NX options at the same time are not compatible"
NEGATIVE_SLEEP = "ERR Invalid sleep time"


def unknown_command(name: bytes, args: list[bytes]) -> str:
    """Redis quotes the name (128 bytes max) and the first args, up to ~128 bytes in all."""
    shown = ""
    for arg in args:
        if len(shown) >= 128:
            break
        shown += "'%s' " % _text(arg)[: 128 - len(shown)]
    return "ERR unknown command '%s', with args beginning with: %s" % (_text(name)[:128], shown)


def wrong_arity(fullname: str) -> str:
    """`fullname` is lowercase, with '|' for subcommands: 'get', 'config|get'."""
    return f"ERR wrong number of arguments for '{fullname}' command"


def unknown_subcommand(sub: bytes, container: bytes) -> str:
    return "ERR unknown subcommand '%s'. Try %s HELP." % (_text(sub)[:128], _text(container).upper())


def hello_syntax(option: bytes) -> str:
    return "ERR Syntax error in HELLO option '%s'" % _text(option)


def invalid_expire_time(command: str) -> str:
    return f"ERR invalid expire time in '{command}' command"


def unsupported_config(name: bytes) -> str:
    return "ERR Unknown option or number of arguments for CONFIG SET - '%s'" % _text(name)


def _text(data: bytes) -> str:
    # Error replies are single lines: Redis turns CR and LF in echoed input into spaces.
    # surrogateescape keeps arbitrary bytes intact on the way back out (see common.resp).
    return data.decode("utf-8", "surrogateescape").replace("\r", " ").replace("\n", " ")
