"""Transaction commands: MULTI, EXEC, DISCARD, WATCH, UNWATCH.

The state they act on, and how queuing and WATCH work, is in redis_clone/transactions.py;
these handlers are the client-facing edges. EXEC is the one that matters: it takes the
keyspace write lock once, checks the watched keys, and runs every queued command with
`registry.call()` under that one hold, so no other client sees a half-applied
transaction. Its reply is the array of the commands' replies, errors in place.
"""

from __future__ import annotations

from common.resp import NULL_ARRAY, OK
from redis_clone import errors, transactions
from redis_clone.errors import RedisError
from redis_clone.registry import (ALLOW_BUSY, FAST, LOADING, NOSCRIPT, SKIP_SLOWLOG, STALE,
                                  call, command, locked)

GROUP = "transactions"
FLAGS = NOSCRIPT | LOADING | STALE


@command("multi", arity=1, flags=FLAGS | FAST | ALLOW_BUSY, group=GROUP, since="1.2.0",
         summary="Mark the start of a transaction block")
def multi(ctx, args):
    """MULTI"""
    transaction = ctx.client.transaction
    if transaction.active:
        raise RedisError(errors.MULTI_NESTED)
    transaction.queue = []
    return OK


@command("exec", arity=1, flags=FLAGS | SKIP_SLOWLOG, group=GROUP, since="1.2.0", own_lock=True,
         summary="Execute all commands issued after MULTI",
         complexity="Depends on commands in the transaction")
def exec_(ctx, args):
    """EXEC"""
    transaction = ctx.client.transaction
    if not transaction.active:
        raise RedisError(errors.EXEC_WITHOUT_MULTI)
    keyspace = ctx.server.keyspace
    with locked(ctx, write=True):
        queued, failed = transaction.queue, transaction.failed
        changed = transaction.dirty or transactions.watched_key_expired(keyspace, transaction)
        transactions.leave_multi(transaction)
        transactions.unwatch_all(keyspace, transaction)
        if failed:
            raise RedisError(errors.EXECABORT)
        if changed:
            return NULL_ARRAY  # optimistic locking: someone touched a watched key
        return [call(ctx, spec, args) for spec, args in queued]


@command("discard", arity=1, flags=FLAGS | FAST | ALLOW_BUSY, group=GROUP, since="2.0.0",
         summary="Discard all commands issued after MULTI",
         complexity="O(N), when N is the number of queued commands")
def discard(ctx, args):
    """DISCARD"""
    transaction = ctx.client.transaction
    if not transaction.active:
        raise RedisError(errors.DISCARD_WITHOUT_MULTI)
    transactions.leave_multi(transaction)
    transactions.unwatch_all(ctx.server.keyspace, transaction)
    return OK


@command("watch", arity=-2, flags=FLAGS | FAST | ALLOW_BUSY, keys=(1, -1, 1), group=GROUP,
         since="2.2.0", summary="Watch the given keys to determine execution of the MULTI/EXEC block",
         complexity="O(1) for every key.",
         key_flags=("RO",), own_lock=True)
def watch(ctx, args):
    """WATCH key [key ...]"""
    transaction = ctx.client.transaction
    if transaction.active:
        raise RedisError(errors.WATCH_INSIDE_MULTI)
    with locked(ctx, write=False):  # whether each key is already expired must not race
        transactions.watch(ctx.db, transaction, args)
    return OK


@command("unwatch", arity=1, flags=FLAGS | FAST | ALLOW_BUSY, group=GROUP, since="2.2.0",
         summary="Forget about all watched keys")
def unwatch(ctx, args):
    """UNWATCH"""
    transactions.unwatch_all(ctx.server.keyspace, ctx.client.transaction)
    return OK
