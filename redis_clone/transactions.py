"""MULTI/EXEC and WATCH: one client's transaction state, and how it is kept.

A client that sends MULTI gets its later commands *queued* instead of run (+QUEUED);
EXEC runs the whole queue under one hold of the keyspace write lock, so no other client
sees half of it (commands/transactions.py). The dispatcher (registry.execute) asks
`queues()` whether to queue, and reports refused commands through `doom()`: a
command refused while queuing (unknown, wrong arity, not allowed in MULTI) dooms the
transaction, and EXEC will answer -EXECABORT. Errors that only show up when a queued
command runs (WRONGTYPE...) are returned in place, as Redis does: there is no rollback.

WATCH is optimistic locking. Each database keeps `watchers`: key -> the transactions
watching it. Every write goes through `keyspace.Database`, which calls `touched()` for
the watchers of the key it changed (Redis's touchWatchedKey); that marks the
transaction dirty and its EXEC answers a nil array. One subtlety is Redis 7's: a key
already logically expired when it was WATCHed may be reclaimed (lazily, actively, by a
flush) without that counting as a change, while a key that expires *after* WATCH makes
EXEC fail even if nothing reclaimed it yet (`watched_key_expired`).

Locks: the queue belongs to its connection thread. `Database.watchers` and each
transaction's `watched` are guarded by `Keyspace.watch_lock`, a small mutex taken
after the keyspace lock (never before), so UNWATCH, DISCARD and a disconnect can drop
their watches without waiting for the keyspace lock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from common.resp import Status
from redis_clone import errors

if TYPE_CHECKING:
    from redis_clone.keyspace import Database, Keyspace
    from redis_clone.registry import CommandSpec

QUEUED = Status("QUEUED")

# Commands that act on the transaction itself and so run at once even inside MULTI.
NOT_QUEUED = frozenset({"exec", "discard", "multi", "watch", "quit", "reset"})

Slot = tuple[int, bytes]  # (database index, key)


class Transaction:
    """One client's MULTI queue and WATCHed keys (Redis's multiState + watched_keys)."""

    __slots__ = ("queue", "failed", "watched", "dirty")

    def __init__(self) -> None:
        self.queue: list[tuple["CommandSpec", list[bytes]]] | None = None  # None: not in MULTI
        self.failed = False  # a command was refused while queuing: EXEC answers EXECABORT
        # slot -> whether the key was already logically expired when it was watched.
        self.watched: dict[Slot, bool] = {}
        self.dirty = False   # a watched key changed: EXEC answers a nil array

    @property
    def active(self) -> bool:
        return self.queue is not None

    def touched(self, slot: Slot, exists: bool) -> None:
        """A watched key was modified. Caller holds the watch lock."""
        if self.watched.get(slot) and not exists:
            # It was already expired when watched, and has now merely been reclaimed:
            # logically nothing changed. From now on it counts as a missing key.
            self.watched[slot] = False
        else:
            self.dirty = True


# --- queuing (called by the dispatcher) --------------------------------------------------

def queues(transaction: Transaction, spec: "CommandSpec") -> bool:
    return transaction.active and spec.name not in NOT_QUEUED


def queue(transaction: Transaction, spec: "CommandSpec", args: list[bytes]) -> Status:
    transaction.queue.append((spec, args))
    return QUEUED


def doom(transaction: Transaction) -> None:
    """A command was refused while queuing (unknown, arity, NO_MULTI, BUSY...): EXEC
    will answer EXECABORT. Outside MULTI, nothing to do."""
    if transaction.active:
        transaction.failed = True


def abort(keyspace: "Keyspace", transaction: Transaction, message: str) -> str:
    """EXEC itself was turned away (BUSY, wrong arity): the transaction is over, and
    the reply says why. Redis quotes its own error without the generic "ERR " code."""
    leave_multi(transaction)
    unwatch_all(keyspace, transaction)
    return errors.exec_aborted_because(message.removeprefix("ERR "))


def leave_multi(transaction: Transaction) -> None:
    """Forget the queue (EXEC, DISCARD). The watches go separately: see unwatch_all."""
    transaction.queue = None
    transaction.failed = False


# --- WATCH ------------------------------------------------------------------------------

def watch(db: "Database", transaction: Transaction, keys: list[bytes]) -> None:
    """Start watching `keys` of `db`. Caller holds the keyspace lock (read is enough)."""
    with db.keyspace.watch_lock:
        for key in keys:
            slot = (db.index, key)
            if slot in transaction.watched:
                continue
            transaction.watched[slot] = db.logically_expired(key)
            db.watchers.setdefault(key, set()).add(transaction)


def unwatch_all(keyspace: "Keyspace", transaction: Transaction) -> None:
    """UNWATCH, EXEC, DISCARD, disconnect: drop every watch and the dirty mark."""
    with keyspace.watch_lock:
        for db_index, key in transaction.watched:
            watchers = keyspace.dbs[db_index].watchers
            watching = watchers[key]
            watching.discard(transaction)
            if not watching:
                del watchers[key]
        transaction.watched.clear()
        transaction.dirty = False


def watched_key_expired(keyspace: "Keyspace", transaction: Transaction) -> bool:
    """Has a key that was alive when watched expired since (reclaimed or not)?
    Redis 7's isWatchedKeyExpired, checked by EXEC. Caller holds the write lock."""
    return any(not expired_when_watched and keyspace.dbs[db_index].logically_expired(key)
               for (db_index, key), expired_when_watched in transaction.watched.items())
