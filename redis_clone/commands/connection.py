"""Connection commands: PING, ECHO, QUIT, SELECT, HELLO, CLIENT ...

They act on the calling client's own state (`ctx.client`) and never touch keys, so the
dispatcher runs them without taking the keyspace lock.
"""

from __future__ import annotations

from common.resp import Status
from redis_clone import errors
from redis_clone.arguments import keyword, parse_int
from redis_clone.errors import RedisError
from redis_clone.registry import FAST, LOADING, NO_AUTH, STALE, command
from redis_clone.state import REDIS_VERSION

OK = Status("OK")


@command("ping", arity=-1, flags=FAST, group="connection", summary="Ping the server")
def ping(ctx, args):
    """PING [message]"""
    if len(args) > 1:
        raise RedisError(errors.wrong_arity("ping"))
    return args[0] if args else Status("PONG")


@command("echo", arity=2, flags=FAST, group="connection", summary="Echo the given string")
def echo(ctx, args):
    """ECHO message"""
    return args[0]


@command("quit", arity=-1, flags=NO_AUTH | LOADING | STALE | FAST, group="connection",
         summary="Close the connection")
def quit_(ctx, args):
    """QUIT"""
    ctx.client.close_after_reply = True
    return OK


@command("select", arity=2, flags=LOADING | STALE | FAST, group="connection",
         summary="Change the selected database for the current connection")
def select(ctx, args):
    """SELECT index"""
    index = parse_int(args[0])
    if not 0 <= index < len(ctx.server.keyspace.dbs):
        raise RedisError(errors.DB_INDEX_OUT_OF_RANGE)
    ctx.client.db = index
    return OK


@command("hello", arity=-1, flags=NO_AUTH | LOADING | STALE | FAST, group="connection", since="6.0.0",
         summary="Handshake with Redis")
def hello(ctx, args):
    """HELLO [protover [AUTH username password] [SETNAME clientname]]"""
    client = ctx.client
    protocol = client.protocol
    if args:
        protocol = parse_int(args[0], errors.PROTOCOL_VERSION_NOT_INTEGER)
        if protocol not in (2, 3):
            raise RedisError(errors.NOPROTO)
    name = None
    i = 1
    while i < len(args):
        option, remaining = keyword(args[i]), len(args) - i - 1
        if option == "AUTH" and remaining >= 2:
            i += 2  # no users or passwords yet: the default user accepts any password
        elif option == "SETNAME" and remaining >= 1:
            name = validate_client_name(args[i + 1])
            i += 1
        else:
            raise RedisError(errors.hello_syntax(args[i]))
        i += 1
    if name is not None:
        client.name = name
    client.protocol = protocol
    return {
        b"server": b"redis",
        b"version": REDIS_VERSION.encode(),
        b"proto": protocol,
        b"id": client.id,
        b"mode": b"standalone",
        b"role": b"master",
        b"modules": [],
    }


def validate_client_name(name: bytes) -> bytes:
    """Client names are printable ASCII without spaces (they appear in CLIENT LIST)."""
    if any(c < 0x21 or c > 0x7E for c in name):
        raise RedisError(errors.CLIENT_NAME_SPACES)
    return name
