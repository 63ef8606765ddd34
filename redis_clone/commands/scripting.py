"""Scripting commands: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT LOAD/EXISTS/FLUSH/KILL.

The engine (interpreter, cache, conversions) is redis_clone/scripting.py; these
handlers parse arguments and take the lock. A script runs under the keyspace write lock
from start to end: that is its atomicity. The flags are Redis's, which is why EVAL is
not flagged WRITE (it may or may not write) and takes the lock itself. SCRIPT KILL
takes no lock at all: it must get through while a script holds it.
"""

from __future__ import annotations

from common.resp import OK
from redis_clone import errors
from redis_clone.arguments import keyword, parse_int
from redis_clone.commanddocs import help_reply
from redis_clone.errors import RedisError
from redis_clone.registry import (ALLOW_BUSY, LOADING, NOSCRIPT, READONLY, SKIP_MONITOR, STALE,
                                  command, container, locked)

GROUP = "scripting"
EVAL_FLAGS = NOSCRIPT | STALE | SKIP_MONITOR
EVAL_OPTIONS = dict(group=GROUP, since="2.6.0", complexity="Depends on the script that is executed.",
                    own_lock=True)


@command("eval", arity=-3, flags=EVAL_FLAGS, **EVAL_OPTIONS,
         summary="Execute a Lua script server side")
def eval_(ctx, args):
    """EVAL script numkeys [key [key ...]] [arg [arg ...]]"""
    return _run(ctx, args, by_sha=False, read_only=False)


@command("evalsha", arity=-3, flags=EVAL_FLAGS, **EVAL_OPTIONS,
         summary="Execute a Lua script server side")
def evalsha(ctx, args):
    """EVALSHA sha1 numkeys [key [key ...]] [arg [arg ...]]"""
    return _run(ctx, args, by_sha=True, read_only=False)


@command("eval_ro", arity=-3, flags=READONLY | EVAL_FLAGS, **{**EVAL_OPTIONS, "since": "7.0.0"},
         summary="Execute a read-only Lua script server side")
def eval_ro(ctx, args):
    """EVAL_RO script numkeys [key [key ...]] [arg [arg ...]]"""
    return _run(ctx, args, by_sha=False, read_only=True)


@command("evalsha_ro", arity=-3, flags=READONLY | EVAL_FLAGS, **{**EVAL_OPTIONS, "since": "7.0.0"},
         summary="Execute a read-only Lua script server side")
def evalsha_ro(ctx, args):
    """EVALSHA_RO sha1 numkeys [key [key ...]] [arg [arg ...]]"""
    return _run(ctx, args, by_sha=True, read_only=True)


def _run(ctx, args: list[bytes], *, by_sha: bool, read_only: bool):
    numkeys = parse_int(args[1])
    if numkeys > len(args) - 2:
        raise RedisError(errors.NUMKEYS_TOO_MANY)
    if numkeys < 0:
        raise RedisError(errors.NUMKEYS_NEGATIVE)
    keys, argv = args[2:2 + numkeys], args[2 + numkeys:]
    engine = ctx.server.scripts
    # EVAL_RO is READONLY, but the interpreter runs one script at a time: every
    # script takes the write lock (own_lock keeps the dispatcher from taking another).
    with locked(ctx, write=True):
        script = engine.lookup(args[0]) if by_sha else engine.load(args[0])
        return engine.run(ctx, script, keys, argv, read_only=read_only)


# --- SCRIPT ---------------------------------------------------------------------------

container("script", group=GROUP, since="2.6.0", summary="A container for Lua scripts management commands")


@command("script|load", arity=3, flags=NOSCRIPT | STALE, group=GROUP, since="2.6.0", own_lock=True,
         summary="Load the specified Lua script into the script cache.",
         complexity="O(N) with N being the length in bytes of the script body.",
         tips=("request_policy:all_nodes", "response_policy:all_succeeded"))
def script_load(ctx, args):
    """SCRIPT LOAD script"""
    with locked(ctx, write=True):
        return ctx.server.scripts.load(args[0]).sha.encode()


@command("script|exists", arity=-3, flags=NOSCRIPT, group=GROUP, since="2.6.0", own_lock=True,
         summary="Check existence of scripts in the script cache.",
         complexity="O(N) with N being the number of scripts to check (so checking a single "
                    "script is an O(1) operation).",
         tips=("request_policy:all_shards", "response_policy:agg_logical_and"))
def script_exists(ctx, args):
    """SCRIPT EXISTS sha1 [sha1 ...]"""
    with locked(ctx, write=True):
        return [int(ctx.server.scripts.exists(sha)) for sha in args]


@command("script|flush", arity=-2, flags=NOSCRIPT, group=GROUP, since="2.6.0", own_lock=True,
         summary="Remove all the scripts from the script cache.",
         complexity="O(N) with N being the number of scripts in cache",
         tips=("request_policy:all_nodes", "response_policy:all_succeeded"))
def script_flush(ctx, args):
    """SCRIPT FLUSH [ASYNC | SYNC]"""
    if len(args) > 1 or (args and keyword(args[0]) not in ("ASYNC", "SYNC")):
        raise RedisError(errors.SCRIPT_FLUSH_MODE)
    with locked(ctx, write=True):
        ctx.server.scripts.flush()
    return OK


@command("script|kill", arity=2, flags=NOSCRIPT | ALLOW_BUSY, group=GROUP, since="2.6.0",
         summary="Kill the script currently in execution.",
         tips=("request_policy:all_shards", "response_policy:one_succeeded"))
def script_kill(ctx, args):
    """SCRIPT KILL"""
    ctx.server.scripts.kill()
    return OK


@command("script|help", arity=2, flags=LOADING | STALE, group=GROUP, since="5.0.0",
         summary="Show helpful text about the different subcommands")
def script_help(ctx, args):
    """SCRIPT HELP"""
    return help_reply("SCRIPT", [
        "DEBUG (YES|SYNC|NO)",
        "    Set the debug mode for subsequent scripts executed.",
        "EXISTS <sha1> [<sha1> ...]",
        "    Return information about the existence of the scripts in the script cache.",
        "FLUSH [ASYNC|SYNC]",
        "    Flush the Lua scripts cache. Very dangerous on replicas.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the scripts cache.",
        "    * SYNC: Synchronously flush the scripts cache.",
        "KILL",
        "    Kill the currently executing Lua script.",
        "LOAD <script>",
        "    Load a script into the scripts cache without executing it.",
    ])
