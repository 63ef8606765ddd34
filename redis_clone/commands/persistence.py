"""Persistence commands: SAVE, BGSAVE, LASTSAVE (Redis's rdb.c and server.c).

The handlers parse arguments and pick the reply; the work is in
`redis_clone/persistence/snapshots.py` (`ctx.server.persistence`). DEBUG RELOAD and
SHUTDOWN's saving live with DEBUG and SHUTDOWN in commands/server.py, and call the same
object. None of these commands declares READONLY or WRITE: SAVE takes the keyspace lock
itself (shared, for as long as the file takes), BGSAVE only while it forks.
"""

from __future__ import annotations

from common.resp import OK, Status
from redis_clone import errors
from redis_clone.arguments import keyword
from redis_clone.errors import RedisError
from redis_clone.registry import (ADMIN, FAST, LOADING, NO_ASYNC_LOADING, NO_MULTI, NOSCRIPT,
                                  STALE, command)

BGSAVE_STARTED = Status("Background saving started")
BGSAVE_SCHEDULED = Status("Background saving scheduled")


@command("save", arity=1, flags=ADMIN | NOSCRIPT | NO_ASYNC_LOADING | NO_MULTI, group="server",
         summary="Synchronously save the dataset to disk",
         complexity="O(N) where N is the total number of keys in all databases",
         differences="Readers go on while it runs, until a writer queues for the keyspace "
                     "lock (which prefers writers); Redis blocks every client.")
def save(ctx, args):
    """SAVE"""
    ctx.server.persistence.save()
    return OK


@command("bgsave", arity=-1, flags=ADMIN | NOSCRIPT | NO_ASYNC_LOADING, group="server",
         summary="Asynchronously save the dataset to disk")
def bgsave(ctx, args):
    """BGSAVE [SCHEDULE]"""
    if len(args) > 1 or (args and keyword(args[0]) != "SCHEDULE"):
        raise RedisError(errors.SYNTAX)
    persistence = ctx.server.persistence
    if persistence.bgsave_in_progress:
        raise RedisError(errors.BGSAVE_IN_PROGRESS)
    if ctx.holds_lock:
        # Inside EXEC, which holds the write lock: a fork now would capture the
        # transaction half-done. Like Redis, leave it to the cron, right after.
        # (SCHEDULE matters in Redis when an AOF rewrite runs; we have none.)
        persistence.bgsave_scheduled = True
        return BGSAVE_SCHEDULED
    persistence.background_save()
    return BGSAVE_STARTED


@command("lastsave", arity=1, flags=LOADING | STALE | FAST, group="server",
         summary="Get the UNIX time stamp of the last successful save to disk",
         acl_categories=("admin", "dangerous"), tips=("nondeterministic_output",))
def lastsave(ctx, args):
    """LASTSAVE"""
    return ctx.server.persistence.last_save
