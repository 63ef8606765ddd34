"""Connection commands: PING, ECHO, QUIT, SELECT, HELLO, CLIENT ...

They act on the calling client's own state (`ctx.client`) and never touch keys, so the
dispatcher runs them without taking the keyspace lock.
"""

from __future__ import annotations

from common.resp import OK, Status, Verbatim
from redis_clone import errors
from redis_clone.arguments import keyword, parse_int
from redis_clone.clients import ClientState
from redis_clone.commanddocs import help_reply
from redis_clone.errors import RedisError
from redis_clone.registry import (ADMIN, ALLOW_BUSY, FAST, LOADING, NO_AUTH, NOSCRIPT, STALE, command,
                                  container)
from redis_clone.state import REDIS_VERSION


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


@command("quit", arity=-1, flags=NOSCRIPT | NO_AUTH | LOADING | STALE | FAST | ALLOW_BUSY, group="connection",
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


@command("hello", arity=-1, flags=NOSCRIPT | NO_AUTH | LOADING | STALE | FAST | ALLOW_BUSY,
         group="connection", since="6.0.0",
         summary="Handshake with Redis",
         differences="AUTH accepts any username and password: there are no users or "
                     "passwords yet.")
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


# --- CLIENT ---------------------------------------------------------------------------

container("client", group="connection", since="2.4.0",
          summary="A container for client connection commands")

CLIENT_FLAGS = NOSCRIPT | LOADING | STALE
CLIENT_LINE_DIFFERENCES = ("The buffer and memory fields (qbuf, argv-mem, omem, tot-mem...) are "
                           "always 0: connections keep no Redis-style query and reply buffers.")


@command("client|id", arity=2, flags=CLIENT_FLAGS, group="connection", since="5.0.0",
         summary="Returns the client ID for the current connection")
def client_id(ctx, args):
    """CLIENT ID"""
    return ctx.client.id


@command("client|setname", arity=3, flags=CLIENT_FLAGS, group="connection", since="2.6.9",
         summary="Set the current connection name")
def client_setname(ctx, args):
    """CLIENT SETNAME connection-name"""
    ctx.client.name = validate_client_name(args[0])  # "" removes the name
    return OK


@command("client|getname", arity=2, flags=CLIENT_FLAGS, group="connection", since="2.6.9",
         summary="Get the current connection name")
def client_getname(ctx, args):
    """CLIENT GETNAME"""
    return ctx.client.name or None


@command("client|info", arity=2, flags=CLIENT_FLAGS, group="connection", since="6.2.0",
         summary="Returns information about the current client connection.",
         tips=("nondeterministic_output",), differences=CLIENT_LINE_DIFFERENCES)
def client_info(ctx, args):
    """CLIENT INFO"""
    return Verbatim(client_line(ctx.client, ctx.server.clock.time()))


@command("client|list", arity=-2, flags=ADMIN | CLIENT_FLAGS, group="connection", since="2.4.0",
         summary="Get the list of client connections",
         complexity="O(N) where N is the number of client connections",
         tips=("nondeterministic_output",), differences=CLIENT_LINE_DIFFERENCES)
def client_list(ctx, args):
    """CLIENT LIST [TYPE <NORMAL | MASTER | REPLICA | PUBSUB>] [ID client-id [client-id ...]]"""
    clients = ctx.server.clients.snapshot()
    option = keyword(args[0]) if args else None
    if option == "ID" and len(args) > 1:
        by_id = {client.id: client for client in clients}
        ids = [parse_int(arg, errors.INVALID_CLIENT_ID) for arg in args[1:]]
        clients = [by_id[i] for i in ids if i in by_id]
    elif option == "TYPE" and len(args) == 2:
        client_type = keyword(args[1])
        if client_type not in CLIENT_TYPES:
            raise RedisError(errors.unknown_client_type(args[1]))
        if client_type != "NORMAL":
            clients = []  # no replicas, masters or subscribers (yet): everyone is normal
    elif args:
        raise RedisError(errors.SYNTAX)
    now = ctx.server.clock.time()
    return Verbatim(b"".join(client_line(client, now) for client in clients))


CLIENT_TYPES = ("NORMAL", "MASTER", "SLAVE", "REPLICA", "PUBSUB")
CLIENT_FLAG_ORDER = "OSMPxbtRBdcuAUre"  # the order Redis prints CLIENT LIST flags in


def client_line(client: ClientState, now: float) -> bytes:
    """One CLIENT LIST line, fields in Redis 7.0's order. Buffer and memory figures are
    0: our connections do not keep Redis's query and reply buffers."""
    transaction = client.transaction
    flags = set(client.flags)
    if transaction.active:
        flags.add("x")   # inside MULTI
    if transaction.dirty:
        flags.add("d")   # a watched key changed: EXEC will fail
    flags_text = "".join(flag for flag in CLIENT_FLAG_ORDER if flag in flags) or "N"
    queued = len(transaction.queue) if transaction.active else -1
    return (b"id=%d addr=%s laddr=%s fd=%d name=%s age=%d idle=%d flags=%s db=%d "
            b"sub=0 psub=0 ssub=0 multi=%d qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 "
            b"rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd=%s user=default "
            b"redir=-1 resp=%d\n") % (
        client.id, client.addr.encode(), client.laddr.encode(), client.fd, client.name,
        int(now - client.created), int(now - client.last_interaction), flags_text.encode(),
        client.db, queued, client.last_command.encode(), client.protocol)


@command("client|help", arity=2, flags=LOADING | STALE, group="connection", since="5.0.0",
         summary="Show helpful text about the different subcommands",
         differences="Lists only the subcommands implemented here.")
def client_help(ctx, args):
    """CLIENT HELP"""
    return help_reply("CLIENT", [
        "GETNAME",
        "    Return the name of the current connection.",
        "ID",
        "    Return the ID of the current connection.",
        "INFO",
        "    Return information about the current client connection.",
        "LIST [options ...]",
        "    Return information about client connections. Options:",
        "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
        "      Return clients of specified type.",
        "SETNAME <name>",
        "    Assign the name <name> to the current connection.",
    ])
