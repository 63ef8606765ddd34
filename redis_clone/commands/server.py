"""Server commands: CONFIG, COMMAND, INFO, DBSIZE, FLUSHDB, FLUSHALL, TIME, DEBUG, SHUTDOWN
-- what Redis keeps in server.c, config.c and db.c for administering the server (SAVE,
BGSAVE and LASTSAVE are in persistence.py).

Most of them read or change server-wide state (`ctx.server`), not keys, so the dispatcher
runs them without the keyspace lock; DBSIZE and the FLUSH commands declare READONLY and
WRITE and get the shared and the exclusive lock. The heavy lifting lives elsewhere:
parameters in `config.py`, COMMAND's descriptions in `commanddocs.py`, INFO's text in
`info.py`; the handlers here parse arguments and pick the reply.
"""

from __future__ import annotations

import logging
import re

from common.resp import OK, RespSet, Status, Verbatim
from redis_clone import errors, glob
from redis_clone.arguments import keyword, parse_int
from redis_clone.commanddocs import acl_categories, command_docs, command_info, help_reply, key_flags
from redis_clone.config import ConfigError, UnknownParameter
from redis_clone.errors import RedisError
from redis_clone.info import info_text
from redis_clone.registry import (ADMIN, COMMANDS, FAST, LOADING, NO_MULTI, NO_REPLY, NOSCRIPT,
                                  READONLY, STALE, WRITE, CommandSpec, Flag, command, container,
                                  locked)

log = logging.getLogger("redis_clone")

CONFIG_FLAGS = ADMIN | NOSCRIPT | LOADING | STALE


def _text(arg: bytes) -> str:
    return arg.decode("utf-8", "surrogateescape")


def is_allowed(ctx, option: str) -> bool:
    """enable-debug-command / enable-protected-configs: "yes", "no", or "local" (only
    clients connected over the loopback interface)."""
    setting = ctx.server.config.get(option)
    host = ctx.client.addr.rsplit(":", 1)[0]
    return setting == "yes" or (setting == "local" and host in ("127.0.0.1", "::1"))


# --- CONFIG -----------------------------------------------------------------------------

container("config", group="server", since="2.0.0",
          summary="A container for server configuration commands")


@command("config|get", arity=-3, flags=CONFIG_FLAGS, group="server", since="2.0.0",
         summary="Get the values of configuration parameters",
         complexity="O(N) when N is the number of configuration parameters provided")
def config_get(ctx, args):
    """CONFIG GET parameter [parameter ...]"""
    found = ctx.server.config.matching(_text(arg) for arg in args)
    return {name.encode(): value.encode("utf-8", "surrogateescape") for name, value in found.items()}


@command("config|set", arity=-4, flags=CONFIG_FLAGS, group="server", since="2.0.0",
         summary="Set configuration parameters to the given values",
         complexity="O(N) when N is the number of configuration parameters provided",
         tips=("request_policy:all_nodes", "response_policy:all_succeeded"),
         differences="Every Redis 7.0 parameter is validated and stored, but only those in "
                     "config.py's ACTIVE_PARAMS take effect. port and bind are stored (for "
                     "CONFIG REWRITE) but the listener does not move.")
def config_set(ctx, args):
    """CONFIG SET parameter value [parameter value ...]"""
    if len(args) % 2:
        raise RedisError(errors.SYNTAX)
    pairs = [(_text(args[i]), _text(args[i + 1])) for i in range(0, len(args), 2)]
    try:
        ctx.server.config.set_many(pairs, allow_protected=is_allowed(ctx, "enable-protected-configs"))
    except UnknownParameter as err:
        raise RedisError(errors.unsupported_config(err.name.encode("utf-8", "surrogateescape"))) from None
    except ConfigError as err:
        raise RedisError(errors.config_set_failed(err.name, err.reason)) from None
    if any(name.lower() == "requirepass" for name, _ in pairs):
        # The default user's password follows; connected clients stay authenticated.
        ctx.server.acl.set_requirepass(ctx.server.config.get("requirepass"))
        ctx.server.acl.refresh_all(ctx.server.clients.snapshot())
    # maxmemory, its policy, lfu-*; a policy change may rebuild the keyspace's tables
    # (Keyspace.track_access), hence the write lock.
    with locked(ctx, write=True):
        ctx.server.evictor.configure(ctx.server.config)
    return OK


@command("config|resetstat", arity=2, flags=CONFIG_FLAGS, group="server", since="2.0.0",
         summary="Reset the stats returned by INFO")
def config_resetstat(ctx, args):
    """CONFIG RESETSTAT"""
    ctx.server.stats.reset()
    ctx.server.commandlog.reset_stats()  # commandstats and errorstats
    return OK


@command("config|rewrite", arity=2, flags=CONFIG_FLAGS, group="server", since="2.8.0",
         summary="Rewrite the configuration file with the in memory configuration")
def config_rewrite(ctx, args):
    """CONFIG REWRITE"""
    try:
        ctx.server.config.rewrite()
    except ConfigError as err:  # started without a config file
        raise RedisError(err.reason) from None
    except OSError as err:
        log.warning("CONFIG REWRITE failed: %s", err.strerror)
        raise RedisError(errors.config_rewrite_failed(err.strerror or str(err))) from None
    log.warning("CONFIG REWRITE executed with success.")
    return OK


@command("config|help", arity=2, flags=LOADING | STALE, group="server", since="5.0.0",
         summary="Show helpful text about the different subcommands")
def config_help(ctx, args):
    """CONFIG HELP"""
    return help_reply("CONFIG", [
        "GET <pattern>",
        "    Return parameters matching the glob-like <pattern> and their values.",
        "SET <directive> <value>",
        "    Set the configuration <directive> to <value>.",
        "RESETSTAT",
        "    Reset statistics reported by the INFO command.",
        "REWRITE",
        "    Rewrite the configuration file.",
    ])


# --- COMMAND ----------------------------------------------------------------------------

COMMAND_OPTIONS = dict(flags=LOADING | STALE, group="server", acl_categories=("connection",))


@command("command", arity=-1, **COMMAND_OPTIONS, since="2.8.13",
         summary="Get array of Redis command details",
         complexity="O(N) where N is the total number of Redis commands",
         tips=("nondeterministic_output_order",))
def command_(ctx, args):
    """COMMAND"""
    return [command_info(spec) for spec in COMMANDS]


@command("command|count", arity=2, **COMMAND_OPTIONS, since="2.8.13",
         summary="Get total number of Redis commands")
def command_count(ctx, args):
    """COMMAND COUNT"""
    return len(COMMANDS)


@command("command|info", arity=-2, **COMMAND_OPTIONS, since="2.8.13",
         summary="Get array of specific Redis command details, or all when no argument is given.",
         complexity="O(N) where N is the number of commands to look up",
         tips=("nondeterministic_output_order",))
def command_info_(ctx, args):
    """COMMAND INFO [command-name [command-name ...]]"""
    if not args:
        return command_(ctx, args)
    specs = (_lookup_by_name(name) for name in args)
    return [None if spec is None else command_info(spec) for spec in specs]


@command("command|docs", arity=-2, **COMMAND_OPTIONS, since="7.0.0",
         summary="Get array of specific Redis command documentation",
         complexity="O(N) where N is the number of commands to look up",
         tips=("nondeterministic_output_order",),
         differences="Argument trees are derived from each command's syntax line: no "
                     "per-argument since or history, and groups are named after their members.")
def command_docs_(ctx, args):
    """COMMAND DOCS [command-name [command-name ...]]"""
    specs = [_lookup_by_name(name) for name in args] if args else list(COMMANDS)
    return {spec.name.encode(): command_docs(spec) for spec in specs if spec is not None}


@command("command|list", arity=-2, **COMMAND_OPTIONS, since="7.0.0",
         summary="Get an array of Redis command names",
         complexity="O(N) where N is the total number of Redis commands",
         tips=("nondeterministic_output_order",))
def command_list(ctx, args):
    """COMMAND LIST [FILTERBY <MODULE module-name | ACLCAT category | PATTERN pattern>]"""
    specs = [s for spec in COMMANDS for s in (spec, *spec.subcommands.values())]
    if not args:
        return [spec.name.encode() for spec in specs]
    if len(args) != 3 or keyword(args[0]) != "FILTERBY" or keyword(args[1]) not in COMMAND_FILTERS:
        raise RedisError(errors.SYNTAX)
    accepts = COMMAND_FILTERS[keyword(args[1])]
    return [spec.name.encode() for spec in specs if accepts(spec, args[2])]


COMMAND_FILTERS = {
    "MODULE": lambda spec, name: False,  # no modules: every command is built in
    "ACLCAT": lambda spec, category: _text(category).lower() in acl_categories(spec),
    "PATTERN": lambda spec, pattern: glob.match(pattern, spec.name.encode(), nocase=True),
}


@command("command|getkeys", arity=-4, **COMMAND_OPTIONS, since="2.8.13",
         summary="Extract keys given a full Redis command",
         complexity="O(N) where N is the number of arguments to the command")
def command_getkeys(ctx, args):
    """COMMAND GETKEYS command [arg [arg ...]]"""
    spec, positions = _keys_of(args)
    return [args[i] for i in positions]


@command("command|getkeysandflags", arity=-4, **COMMAND_OPTIONS, since="7.0.0",
         summary="Extract keys and access flags given a full Redis command",
         complexity="O(N) where N is the number of arguments to the command")
def command_getkeysandflags(ctx, args):
    """COMMAND GETKEYSANDFLAGS command [arg [arg ...]]"""
    spec, positions = _keys_of(args)
    flags = key_flags(spec)
    return [[args[i], RespSet(Status(flag) for flag in flags)] for i in positions]


@command("command|help", arity=2, **COMMAND_OPTIONS, since="5.0.0",
         summary="Show helpful text about the different subcommands")
def command_help(ctx, args):
    """COMMAND HELP"""
    return help_reply("COMMAND", [
        "(no subcommand)",
        "    Return details about all Redis commands.",
        "COUNT",
        "    Return the total number of commands in this Redis server.",
        "LIST",
        "    Return a list of all commands in this Redis server.",
        "INFO [<command-name> ...]",
        "    Return details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "DOCS [<command-name> ...]",
        "    Return documentation details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "GETKEYS <full-command>",
        "    Return the keys from a full Redis command.",
        "GETKEYSANDFLAGS <full-command>",
        "    Return the keys and the access flags from a full Redis command.",
    ])


def _lookup_by_name(name: bytes) -> CommandSpec | None:
    """'get' or 'config|get', as COMMAND INFO and DOCS name commands."""
    parent, _, child = _text(name).lower().partition("|")
    spec = COMMANDS.get(parent)
    if spec is None or not child:
        return spec
    return spec.subcommands.get(child)


def _keys_of(argv: list[bytes]) -> tuple[CommandSpec, list[int]]:
    """The command a full argv names and the indexes of its keys (COMMAND GETKEYS)."""
    spec = COMMANDS.get(argv[0])
    if spec is not None and spec.subcommands and len(argv) > 1:
        spec = spec.subcommands.get(_text(argv[1]).lower())
    if spec is None:
        raise RedisError(errors.INVALID_COMMAND)
    if not spec.arity_ok(len(argv)):
        raise RedisError(errors.INVALID_COMMAND_ARITY)
    positions = list(spec.key_positions(len(argv)))
    if not positions:
        raise RedisError(errors.NO_KEY_ARGUMENTS)
    return spec, positions


# --- INFO and the small ones -------------------------------------------------------------

@command("info", arity=-1, flags=LOADING | STALE, group="server",
         summary="Get information and statistics about the server",
         acl_categories=("dangerous",),
         tips=("nondeterministic_output", "request_policy:all_shards", "response_policy:special"),
         differences="Counters of features we lack (replication, defragmentation, I/O "
                     "threads) are 0; copy-on-write sizes and latencystats are left out.")
def info(ctx, args):
    """INFO [section [section ...]]"""
    return Verbatim(info_text(ctx.server, (_text(arg) for arg in args)))


@command("dbsize", arity=1, flags=READONLY | FAST, group="server",
         summary="Return the number of keys in the selected database",
         acl_categories=("keyspace",), tips=("request_policy:all_shards", "response_policy:agg_sum"))
def dbsize(ctx, args):
    """DBSIZE"""
    return len(ctx.db)


FLUSH_OPTIONS = dict(flags=WRITE, group="server", acl_categories=("keyspace", "dangerous"),
                     tips=("request_policy:all_shards", "response_policy:all_succeeded"),
                     differences="ASYNC is the same as SYNC: memory is reclaimed at once, not "
                                 "on a background thread.")


@command("flushdb", arity=-1, **FLUSH_OPTIONS, summary="Remove all keys from the current database",
         complexity="O(N) where N is the number of keys in the selected database")
def flushdb(ctx, args):
    """FLUSHDB [ASYNC | SYNC]"""
    _check_flush_mode(args)
    ctx.db.flush()
    return OK


@command("flushall", arity=-1, **FLUSH_OPTIONS, summary="Remove all keys from all databases",
         complexity="O(N) where N is the total number of keys in all databases")
def flushall(ctx, args):
    """FLUSHALL [ASYNC | SYNC]"""
    _check_flush_mode(args)
    ctx.server.keyspace.flush_all()
    ctx.server.persistence.after_flushall()  # with save points, the empty dataset is saved
    return OK


def _check_flush_mode(args: list[bytes]) -> None:
    """ASYNC frees memory in the background in Redis; here both modes flush at once
    (Python frees the objects when the last reference goes)."""
    if len(args) > 1 or (args and keyword(args[0]) not in ("ASYNC", "SYNC")):
        raise RedisError(errors.SYNTAX)


@command("time", arity=1, flags=LOADING | STALE | FAST, group="server", since="2.6.0",
         summary="Return the current server time", tips=("nondeterministic_output",))
def time_(ctx, args):
    """TIME"""
    microseconds = round(ctx.server.clock.time() * 1_000_000)
    return [b"%d" % (microseconds // 1_000_000), b"%d" % (microseconds % 1_000_000)]


# --- DEBUG and SHUTDOWN ---------------------------------------------------------------

@command("debug", arity=-2, flags=ADMIN | NOSCRIPT | LOADING | STALE, group="server",
         summary="A container for debugging commands", complexity="Depends on subcommand.",
         differences="Only SLEEP, LOG, RELOAD, POPULATE and HELP. DEBUG SLEEP pauses the "
                     "calling connection only; Redis stops the whole server. DEBUG POPULATE's "
                     "keys count as changes for the save points; Redis's do not.")
def debug(ctx, args):
    """DEBUG <SLEEP seconds | LOG message | RELOAD [option ...] | POPULATE count [prefix] [size] | HELP>"""
    if not is_allowed(ctx, "enable-debug-command"):
        raise RedisError(errors.DEBUG_NOT_ALLOWED)
    sub = keyword(args[0])
    if sub == "HELP" and len(args) == 1:
        return help_reply("DEBUG", [
            "LOG <message>",
            "    Write <message> to the server log.",
            "POPULATE <count> [<prefix>] [<size>]",
            "    Create <count> string keys named key:<num>. If <prefix> is specified then",
            "    it is used instead of the 'key' prefix. These are not propagated to",
            "    replicas. Cluster slots are not respected so keys not belonging to the",
            "    current node can be created in cluster mode.",
            "RELOAD [option ...]",
            "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
            "    * MERGE: conflicting keys will be loaded from RDB.",
            "    * NOFLUSH: the existing database will not be removed before load, but",
            "      conflicting keys will generate an exception and kill the server.",
            "    * NOSAVE: the database will be loaded from an existing RDB file.",
            "    Examples:",
            "    * DEBUG RELOAD: verify that the server is able to persist, flush and reload",
            "      the database.",
            "    * DEBUG RELOAD NOSAVE: replace the current database with the contents of an",
            "      existing RDB file.",
            "    * DEBUG RELOAD NOSAVE NOFLUSH MERGE: add the contents of an existing RDB",
            "      file to the database.",
            "SLEEP <seconds>",
            "    Stop the server for <seconds>. Decimals allowed.",
        ])
    if sub == "SLEEP" and len(args) == 2:
        # Only this connection waits: the handler holds no lock, so other clients go on
        # (in Redis the whole server stops). A shutdown cuts the sleep short.
        seconds = _strtod_prefix(_text(args[1]))
        if seconds > 0:
            ctx.server.shutdown_requested.wait(seconds)
        return OK
    if sub == "LOG" and len(args) == 2:
        log.warning("DEBUG LOG: %s", _text(args[1]))
        return OK
    if sub == "RELOAD":
        return _debug_reload(ctx, args[1:])
    if sub == "POPULATE" and 2 <= len(args) <= 4:
        return _debug_populate(ctx, args[1:])
    raise RedisError(errors.debug_unknown_subcommand(args[0]))


RELOAD_OPTIONS = ("MERGE", "NOFLUSH", "NOSAVE")


def _debug_reload(ctx, args: list[bytes]):
    """DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: save, then load the file back in place
    (NOFLUSH: on top of the current keys; MERGE: the file wins where both have a key)."""
    options = {keyword(arg) for arg in args}
    if not options <= set(RELOAD_OPTIONS):
        raise RedisError(errors.RELOAD_OPTIONS)
    with locked(ctx, write=True):
        ctx.server.persistence.reload(save="NOSAVE" not in options,
                                      flush="NOFLUSH" not in options, merge="MERGE" in options)
    return OK


def _debug_populate(ctx, args: list[bytes]):
    """DEBUG POPULATE count [prefix] [size]: string keys prefix:0 .. prefix:count-1
    holding "value:N" (cut or padded with zero bytes to `size`). Existing keys stay."""
    count = parse_int(args[0])
    size = parse_int(args[2]) if len(args) == 3 else 0
    if count < 0 or size < 0:
        raise RedisError(errors.NOT_POSITIVE)
    prefix = args[1] if len(args) > 1 else b"key"
    with locked(ctx, write=True):
        db = ctx.db
        for number in range(count):
            key = b"%s:%d" % (prefix, number)
            if db.lookup_for_write(key) is None:
                value = b"value:%d" % number
                db.set(key, value[:size].ljust(size, b"\0") if size else value)
    return OK


def _strtod_prefix(text: str) -> float:
    """C's strtod() as DEBUG SLEEP uses it: the longest number at the start, else 0."""
    match = re.match(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text)
    return float(match.group()) if match else 0.0


SHUTDOWN_OPTIONS = ("NOSAVE", "SAVE", "NOW", "FORCE", "ABORT")


@command("shutdown", arity=-1, flags=ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | Flag.ALLOW_BUSY,
         group="server", summary="Synchronously save the dataset to disk and then shut down the server",
         complexity="O(N) when saving, where N is the total number of keys in all databases when "
                    "saving data, otherwise O(1)",
         differences="There is never a shutdown in progress for ABORT to stop (we do not "
                     "wait for replicas), so NOW changes nothing.")
def shutdown(ctx, args):
    """SHUTDOWN [NOSAVE | SAVE] [NOW] [FORCE] [ABORT]"""
    options = {keyword(arg) for arg in args}
    if not options <= set(SHUTDOWN_OPTIONS) or {"NOSAVE", "SAVE"} <= options \
            or ("ABORT" in options and len(options) > 1):
        raise RedisError(errors.SYNTAX)
    if "ABORT" in options:
        # Redis can be waiting for replicas to catch up; we shut down at once, so there
        # is never a shutdown in progress to abort.
        raise RedisError(errors.NO_SHUTDOWN_IN_PROGRESS)
    # NOW concerns replicas, which we do not have. FORCE exits even if the save fails.
    log.warning("User requested shutdown...")
    save = True if "SAVE" in options else False if "NOSAVE" in options else None
    if not ctx.server.persistence.prepare_for_shutdown(save=save, force="FORCE" in options):
        raise RedisError(errors.SHUTDOWN_FAILED)
    ctx.client.close_after_reply = True
    ctx.server.shutdown_requested.set()
    return NO_REPLY  # the client sees the connection close, as with Redis
