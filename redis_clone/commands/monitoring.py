"""Watching the server work: SLOWLOG and MONITOR.

Both read what the dispatcher records after every command (`redis_clone/commandlog.py`):
SLOWLOG keeps the commands that took longer than `slowlog-log-slower-than`
microseconds; a MONITOR client gets every command other clients run, as one status
line each, pushed to it from their threads (`redis_clone/output.py`).
"""

from __future__ import annotations

from common.resp import OK
from redis_clone import errors
from redis_clone.arguments import parse_int
from redis_clone.commanddocs import help_reply
from redis_clone.errors import RedisError
from redis_clone.registry import ADMIN, LOADING, NO_REPLY, NOSCRIPT, STALE, command, container

MONITOR_FLAG = "O"  # CLIENT LIST flags=O


@command("monitor", arity=1, flags=ADMIN | NOSCRIPT | LOADING | STALE, group="server", since="1.0.0",
         summary="Listen for all requests received by the server in real time",
         acl_categories=("dangerous",),
         differences="Commands run inside MULTI/EXEC or a script show their name in lower case, "
                     "and subcommands are split from it as typed by the client only outside them.")
def monitor(ctx, args):
    """MONITOR"""
    client = ctx.client
    if MONITOR_FLAG in client.flags:
        return NO_REPLY  # already monitoring: Redis ignores it silently
    if client.output is not None:
        client.output.shared = True
    client.flags.add(MONITOR_FLAG)
    ctx.server.commandlog.add_monitor(client)
    return OK


# --- SLOWLOG ----------------------------------------------------------------------------

container("slowlog", group="server", since="2.2.12",
          summary="A container for slow log commands")

SLOWLOG_OPTIONS = dict(flags=ADMIN | LOADING | STALE, group="server", acl_categories=("dangerous",),
                       tips=("request_policy:all_nodes",))
DEFAULT_SLOWLOG_COUNT = 10


@command("slowlog|get", arity=-2, **SLOWLOG_OPTIONS, since="2.2.12",
         summary="Get the slow log's entries",
         complexity="O(N) where N is the number of entries returned")
def slowlog_get(ctx, args):
    """SLOWLOG GET [count]"""
    count = DEFAULT_SLOWLOG_COUNT
    if args:
        count = parse_int(args[0], errors.SLOWLOG_COUNT)
        if count < -1:
            raise RedisError(errors.SLOWLOG_COUNT)
    return ctx.server.commandlog.slowlog_get(count)


@command("slowlog|len", arity=2, **SLOWLOG_OPTIONS, since="2.2.12",
         summary="Get the slow log's length")
def slowlog_len(ctx, args):
    """SLOWLOG LEN"""
    return len(ctx.server.commandlog.slowlog)


@command("slowlog|reset", arity=2, **SLOWLOG_OPTIONS, since="2.2.12",
         summary="Clear all entries from the slow log",
         complexity="O(N) where N is the number of entries in the slowlog")
def slowlog_reset(ctx, args):
    """SLOWLOG RESET"""
    ctx.server.commandlog.slowlog_reset()
    return OK


@command("slowlog|help", arity=2, flags=LOADING | STALE, group="server", since="6.2.0",
         summary="Show helpful text about the different subcommands")
def slowlog_help(ctx, args):
    """SLOWLOG HELP"""
    return help_reply("SLOWLOG", [
        "GET [<count>]",
        "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
        "    Entries are made of:",
        "    id, timestamp, time in microseconds, arguments array, client IP and port,",
        "    client name",
        "LEN",
        "    Return the length of the slowlog.",
        "RESET",
        "    Reset the slowlog.",
    ])
