"""Connection commands: PING, ECHO, QUIT, SELECT, AUTH, HELLO, CLIENT ...

They act on the calling client's own state (`ctx.client`) and never touch keys, so the
dispatcher runs them without taking the keyspace lock.
"""

from __future__ import annotations

from common.resp import OK, Status, Verbatim
from redis_clone import errors, transactions
from redis_clone.acl import DEFAULT_USER
from redis_clone.arguments import keyword, parse_int
from redis_clone.clients import ClientState
from redis_clone.commanddocs import help_reply
from redis_clone.commands.monitoring import MONITOR_FLAG
from redis_clone.errors import RedisError
from redis_clone.registry import (ADMIN, ALLOW_BUSY, FAST, LOADING, NO_AUTH, NOSCRIPT, STALE, command,
                                  container)
from redis_clone.state import REDIS_VERSION


@command("ping", arity=-1, flags=FAST, group="connection", summary="Ping the server")
def ping(ctx, args):
    """PING [message]"""
    if len(args) > 1:
        raise RedisError(errors.wrong_arity("ping"))
    client = ctx.client
    if client.protocol == 2 and (client.channels or client.patterns):
        # A subscribed RESP2 client reads everything as messages: PONG comes as one too.
        return [b"pong", args[0] if args else b""]
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


AUTH_FLAGS = NOSCRIPT | NO_AUTH | LOADING | STALE | FAST | ALLOW_BUSY


@command("auth", arity=-2, flags=AUTH_FLAGS, group="connection", since="1.0.0",
         summary="Authenticate to the server",
         complexity="O(N) where N is the number of passwords defined for the user")
def auth(ctx, args):
    """AUTH [username] password"""
    if len(args) > 2:
        raise RedisError(errors.SYNTAX)
    acl = ctx.server.acl
    if len(args) == 1 and acl.default.nopass:
        # The one-argument form is requirepass's: without one, it is a mistake.
        raise RedisError(errors.AUTH_WITHOUT_PASSWORD)
    username = args[0] if len(args) == 2 else DEFAULT_USER.encode()
    acl.login(ctx.client, acl.authenticate(username, args[-1]))
    return OK


@command("hello", arity=-1, flags=AUTH_FLAGS, group="connection", since="6.0.0",
         summary="Handshake with Redis")
def hello(ctx, args):
    """HELLO [protover [AUTH username password] [SETNAME clientname]]"""
    client = ctx.client
    protocol = client.protocol
    if args:
        protocol = parse_int(args[0], errors.PROTOCOL_VERSION_NOT_INTEGER)
        if protocol not in (2, 3):
            raise RedisError(errors.NOPROTO)
    name = credentials = None
    i = 1
    while i < len(args):
        option, remaining = keyword(args[i]), len(args) - i - 1
        if option == "AUTH" and remaining >= 2:
            credentials = args[i + 1], args[i + 2]
            i += 2
        elif option == "SETNAME" and remaining >= 1:
            name = validate_client_name(args[i + 1])
            i += 1
        else:
            raise RedisError(errors.hello_syntax(args[i]))
        i += 1
    # As Redis's helloCommand: authenticate, then insist on being authenticated, and
    # only then take the name.
    if credentials is not None:
        ctx.server.acl.login(client, ctx.server.acl.authenticate(*credentials))
    if not client.authenticated:
        raise RedisError(errors.HELLO_NOAUTH)
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
CLIENT_LINE_DIFFERENCES = ("The buffer and memory fields (qbuf, argv-mem, tot-mem...) are always 0: "
                           "connections keep no Redis-style query and reply buffers. omem is the "
                           "pub/sub and MONITOR output still waiting for the socket.")


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
        wanted = parse_client_type(args[1])
        clients = [client for client in clients if client_type(client) == wanted]
    elif args:
        raise RedisError(errors.SYNTAX)
    now = ctx.server.clock.time()
    return Verbatim(b"".join(client_line(client, now) for client in clients))


CLIENT_TYPES = {"NORMAL": "normal", "MASTER": "master", "SLAVE": "replica", "REPLICA": "replica",
                "PUBSUB": "pubsub"}
CLIENT_FLAG_ORDER = "OSMPxbtRBdcuAUre"  # the order Redis prints CLIENT LIST flags in


def parse_client_type(name: bytes) -> str:
    client_type = CLIENT_TYPES.get(keyword(name))
    if client_type is None:
        raise RedisError(errors.unknown_client_type(name))
    return client_type


def client_type(client: ClientState) -> str:
    """Redis's getClientType(): a MONITOR client counts as a replica (it gets a feed)."""
    if MONITOR_FLAG in client.flags:
        return "replica"
    return "pubsub" if client.channels or client.patterns else "normal"


def client_line(client: ClientState, now: float) -> bytes:
    """One CLIENT LIST line, fields in Redis 7.0's order. Buffer and memory figures are
    0: our connections do not keep Redis's query and reply buffers."""
    transaction = client.transaction
    flags = set(client.flags)
    if client.channels or client.patterns:
        flags.add("P")   # subscribed: RESP2 allows only pub/sub commands
    if transaction.active:
        flags.add("x")   # inside MULTI
    if transaction.dirty:
        flags.add("d")   # a watched key changed: EXEC will fail
    flags_text = "".join(flag for flag in CLIENT_FLAG_ORDER if flag in flags) or "N"
    queued = len(transaction.queue) if transaction.active else -1
    return (b"id=%d addr=%s laddr=%s fd=%d name=%s age=%d idle=%d flags=%s db=%d "
            b"sub=%d psub=%d ssub=0 multi=%d qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 "
            b"rbs=0 rbp=0 obl=0 oll=0 omem=%d tot-mem=0 events=r cmd=%s user=%s "
            b"redir=-1 resp=%d\n") % (
        client.id, client.addr.encode(), client.laddr.encode(), client.fd, client.name,
        int(now - client.created), int(now - client.last_interaction), flags_text.encode(),
        client.db, len(client.channels), len(client.patterns), queued,
        len(client.output.pending) if client.output else 0, client.last_command.encode(),
        client.user.encode("utf-8", "surrogateescape"), client.protocol)


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
        "KILL <ip:port>",
        "    Kill connection made from <ip:port>.",
        "KILL <option> <value> [<option> <value> [...]]",
        "    Kill connections. Options are:",
        "    * ADDR (<ip:port>|<unixsocket>:0)",
        "      Kill connections made from the specified address",
        "    * LADDR (<ip:port>|<unixsocket>:0)",
        "      Kill connections made to specified local address",
        "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
        "      Kill connections by type.",
        "    * USER <username>",
        "      Kill connections authenticated by <username>.",
        "    * SKIPME (YES|NO)",
        "      Skip killing current connection (default: yes).",
        "LIST [options ...]",
        "    Return information about client connections. Options:",
        "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
        "      Return clients of specified type.",
        "UNPAUSE",
        "    Stop the current client pause, resuming traffic.",
        "PAUSE <timeout> [WRITE|ALL]",
        "    Suspend all, or just write, clients for <timeout> milliseconds.",
        "SETNAME <name>",
        "    Assign the name <name> to the current connection.",
        "NO-EVICT (ON|OFF)",
        "    Protect current client connection from eviction.",
    ])


CLIENT_ADMIN_FLAGS = ADMIN | NOSCRIPT | LOADING | STALE


@command("client|kill", arity=-3, flags=CLIENT_ADMIN_FLAGS, group="connection", since="2.4.0",
         summary="Kill the connection of a client",
         complexity="O(N) where N is the number of client connections",
         acl_categories=("dangerous",))
def client_kill(ctx, args):
    """CLIENT KILL <ip:port | <[ID client-id] | [TYPE <NORMAL | MASTER | SLAVE | REPLICA | PUBSUB>] | [USER username] | [ADDR ip:port] | [LADDR ip:port] | [SKIPME <YES | NO>]> [[ID client-id] | [TYPE <NORMAL | MASTER | SLAVE | REPLICA | PUBSUB>] | [USER username] | [ADDR ip:port] | [LADDR ip:port] | [SKIPME <YES | NO>] ...]>"""
    clients = ctx.server.clients.snapshot()
    if len(args) == 1:
        # The old form: one address; the reply is OK or an error, not a count.
        victims = [client for client in clients if client.addr.encode() == args[0]]
        if not victims:
            raise RedisError(errors.NO_SUCH_CLIENT)
        kill_client(ctx, victims[0])
        return OK
    matches, skip_me = _kill_filters(ctx, args)
    killed = 0
    for client in clients:
        if (client is ctx.client and skip_me) or not all(match(client) for match in matches):
            continue
        kill_client(ctx, client)
        killed += 1
    return killed


def _kill_filters(ctx, args: list[bytes]) -> tuple[list, bool]:
    """CLIENT KILL's <option> <value> pairs -> (tests a victim must pass, SKIPME)."""
    matches, skip_me = [], True
    for i in range(0, len(args), 2):
        if i + 1 >= len(args):
            raise RedisError(errors.SYNTAX)
        option, value = keyword(args[i]), args[i + 1]
        if option == "ID":
            wanted_id = parse_int(value, errors.CLIENT_ID_NOT_POSITIVE)
            if wanted_id <= 0:
                raise RedisError(errors.CLIENT_ID_NOT_POSITIVE)
            matches.append(lambda client, wanted=wanted_id: client.id == wanted)
        elif option == "TYPE":
            wanted_type = parse_client_type(value)
            matches.append(lambda client, wanted=wanted_type: client_type(client) == wanted)
        elif option == "ADDR":
            matches.append(lambda client, wanted=value: client.addr.encode() == wanted)
        elif option == "LADDR":
            matches.append(lambda client, wanted=value: client.laddr.encode() == wanted)
        elif option == "USER":
            user = value.decode("utf-8", "surrogateescape")
            if ctx.server.acl.get(user) is None:
                raise RedisError(errors.no_such_user(value))
            matches.append(lambda client, wanted=user: client.user == wanted)
        elif option == "SKIPME":
            answer = keyword(value)
            if answer not in ("YES", "NO"):
                raise RedisError(errors.SYNTAX)
            skip_me = answer == "YES"
        else:
            raise RedisError(errors.SYNTAX)
    return matches, skip_me


def kill_client(ctx, victim: ClientState) -> None:
    """Another client: shut its socket down, so its thread wakes and cleans up. The
    caller itself: reply first, then close (as QUIT does)."""
    if victim is ctx.client:
        victim.close_after_reply = True
    else:
        ctx.server.clients.kill(victim)


@command("client|pause", arity=-3, flags=CLIENT_ADMIN_FLAGS, group="connection", since="3.0.0",
         summary="Stop processing commands from clients for some time",
         acl_categories=("dangerous",),
         differences="A WRITE pause holds write commands, PUBLISH and EVAL/EVALSHA; Redis also "
                     "holds an EXEC whose queue has a write command. Too many arguments: the error "
                     "names 'pause' in lower case, not as typed.")
def client_pause(ctx, args):
    """CLIENT PAUSE timeout [WRITE | ALL]"""
    if len(args) > 2:
        raise RedisError(errors.subcommand_syntax(b"pause", "CLIENT"))
    milliseconds = parse_int(args[0], errors.PAUSE_TIMEOUT_NOT_INTEGER)
    if milliseconds < 0:
        raise RedisError(errors.TIMEOUT_NEGATIVE)
    mode = keyword(args[1]) if len(args) == 2 else "ALL"
    if mode not in ("WRITE", "ALL"):
        raise RedisError(errors.PAUSE_MODE)
    ctx.server.client_pause.pause(milliseconds / 1000, all_commands=mode == "ALL")
    return OK


@command("client|unpause", arity=2, flags=CLIENT_ADMIN_FLAGS, group="connection", since="6.2.0",
         summary="Resume processing of clients that were paused",
         complexity="O(N) Where N is the number of paused clients", acl_categories=("dangerous",))
def client_unpause(ctx, args):
    """CLIENT UNPAUSE"""
    ctx.server.client_pause.unpause()
    return OK


@command("client|no-evict", arity=3, flags=CLIENT_ADMIN_FLAGS, group="connection", since="7.0.0",
         summary="Set client eviction mode for the current connection",
         acl_categories=("dangerous",),
         differences="Accepted and shown in CLIENT LIST flags (e), but clients are never "
                     "evicted: maxmemory-clients is not enforced.")
def client_no_evict(ctx, args):
    """CLIENT NO-EVICT <ON | OFF>"""
    answer = keyword(args[0])
    if answer == "ON":
        ctx.client.flags.add("e")
    elif answer == "OFF":
        ctx.client.flags.discard("e")
    else:
        raise RedisError(errors.SYNTAX)
    return OK


@command("reset", arity=1, flags=NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
         group="connection", since="6.2.0", summary="Reset the connection")
def reset(ctx, args):
    """RESET"""
    client, server = ctx.client, ctx.server
    transactions.leave_multi(client.transaction)
    transactions.unwatch_all(server.keyspace, client.transaction)
    server.pubsub.forget(client)
    server.commandlog.remove_monitor(client)
    client.flags -= {MONITOR_FLAG, "e"}
    client.db, client.protocol, client.name = 0, 2, b""
    server.acl.logout(client)  # back to the default user: AUTH again if it has a password
    return Status("RESET")
