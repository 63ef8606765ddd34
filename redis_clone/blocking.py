"""Blocking commands (BLPOP, BLMOVE, BZPOPMIN...): clients that wait for a key to fill.

A blocking handler first tries to serve at once, like its non-blocking twin. When every
key is empty it returns a `Block` instead of a reply: the keys, the timeout and an
`attempt()` that retries the pop later. The connection thread (server.py) registers a
`Waiter` here and sleeps; the registry keeps a FIFO queue of waiters per (db, key).

Serving is done by the *writer*, as Redis's handleClientsBlockedOnKeys does. A push only
calls `Database.signal_ready(key)`, which notes the key if someone waits on it. After
the write command returns, still under the keyspace write lock, the dispatcher calls
`serve()`: for each ready key, waiters in arrival order get attempt() until the key is
gone. So the pushed element goes to the longest-waiting client, atomically, and no other
command can steal it in between:

    client A (BLPOP q 0)       client B (LPUSH q x)         registry
    ---------------------      ---------------------        -------------------------
    execute -> Block
    register(waiter) ----------------------------------->   queues[(0, q)] = [A]
    poll(client socket, wake-up)
                               execute, write lock held:
                                 push x, signal_ready(q) -> ready = {(0, q)}
                                 serve() --------------->   A.attempt() -> [q, x]
                                                            A.reply = [q, x]; A.wake()
                               lock released, reply 1
    wakes, sends [q, x]

Locks: the queues, the ready set and each waiter's reply are guarded by the keyspace
write lock. Writers already hold it when they signal and serve; the connection
threads take it in `register()` and `cancel()`. Waking a waiter writes one byte to its
private wake-up socket (non-blocking), so no client socket I/O happens under the lock.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from common.resp import INT64_MAX, NULL_ARRAY, ErrorReply
from redis_clone import errors, longdouble
from redis_clone.errors import RedisError

if TYPE_CHECKING:
    from redis_clone.clients import ClientState
    from redis_clone.keyspace import Keyspace

BLOCKED_FLAG = "b"  # CLIENT LIST flags=b while a client waits

# The one way serving differs from Redis (docs/commands.md lists it for each command).
SERVED_FROM_FIRST_KEY = (
    "When one write fills several of the keys a client waits on (a MULTI block, say), the "
    "client is served from the first of its keys that holds data; Redis serves it from the "
    "key that was filled first.")


@dataclass
class Block:
    """A handler's answer "nothing yet: wait for these keys". Not a reply value.

    `attempt()` is called under the keyspace write lock, each time one of the keys may
    have something; it returns the reply, or None when there is still nothing to take.
    It may raise RedisError (BLMOVE to a destination of the wrong type): the client
    then gets that error, as Redis does.
    """

    keys: list[bytes]
    timeout: float                  # seconds; 0 waits forever
    attempt: Callable[[], object]
    timeout_reply: object = NULL_ARRAY
    # The reply inside MULTI or a script, where nothing may block (registry.call): the
    # timeout reply, except for BLMOVE/BRPOPLPUSH, which Redis answers with a nil bulk.
    nonblocking_reply: object = NULL_ARRAY


def parse_timeout(arg: bytes) -> float:
    """A blocking command's timeout in seconds (0 = forever), refused as Redis refuses it.

    Redis 7.0 reads a C long double and rounds it *up* to whole milliseconds, so
    0.0001 means 1 ms rather than "forever", and -0.0005 rounds to 0 and does block
    forever. A number too large for a 64-bit millisecond count (inf, 1e20) converts
    to LLONG_MIN on x86-64, which is why Redis calls it negative.
    """
    value = longdouble.parse(arg)
    if value is None:
        raise RedisError(errors.TIMEOUT_NOT_FLOAT)
    if not longdouble.is_finite(value):
        raise RedisError(errors.TIMEOUT_NEGATIVE)
    milliseconds = math.ceil(longdouble.round_to_long_double(value * 1000))
    if milliseconds < 0 or milliseconds > INT64_MAX:
        raise RedisError(errors.TIMEOUT_NEGATIVE)
    return milliseconds / 1000


class Waiter:
    """One blocked client: what it waits for, where its reply goes, how to wake it."""

    __slots__ = ("block", "db_index", "client", "wake", "reply")

    def __init__(self, block: Block, db_index: int, client: "ClientState",
                 wake: Callable[[], None]) -> None:
        self.block = block
        self.db_index = db_index
        self.client = client
        self.wake = wake        # called under the write lock: must return at once
        self.reply = None       # set by serve() when the waiter is served

    @property
    def slots(self) -> list[tuple[int, bytes]]:
        """Where it queues: each distinct key once (BLPOP k k 0 is legal)."""
        return [(self.db_index, key) for key in dict.fromkeys(self.block.keys)]


class BlockedClients:
    """Every waiter, queued per (db index, key), and the keys that may now serve them."""

    def __init__(self, keyspace: "Keyspace") -> None:
        self._keyspace = keyspace
        self._queues: dict[tuple[int, bytes], deque[Waiter]] = {}
        self._waiters: set[Waiter] = set()
        self.timed = 0  # waiters with a timeout (INFO's clients_in_timeout_table)
        # Keys signalled since the last serve(), in signal order (a dict is an ordered set).
        self._ready: dict[tuple[int, bytes], None] = {}

    def __len__(self) -> int:
        """How many clients are blocked (INFO's blocked_clients)."""
        return len(self._waiters)

    def waiters_on(self, db_index: int, key: bytes) -> list[Waiter]:
        """The waiters queued on one key, first come first. Caller holds the lock."""
        return list(self._queues.get((db_index, key), ()))

    # --- connection threads: these take the write lock themselves ---------------------

    def register(self, waiter: Waiter):
        """Queue `waiter` on its keys, unless its attempt() succeeds right now.

        The handler found every key empty, but it released the lock before we got here,
        and a push in between would have found nobody to serve. So: try once more, under
        the lock, and only queue the waiter if there is still nothing. Returns that
        immediate reply, or None when the waiter is now queued.
        """
        keyspace = self._keyspace
        with keyspace.lock.write():
            reply = self._attempt(waiter)
            if reply is not None:
                self.serve()  # the attempt may have pushed (BLMOVE): serve that key's waiters
                return reply
            for slot in waiter.slots:
                self._queues.setdefault(slot, deque()).append(waiter)
            self._waiters.add(waiter)
            self.timed += bool(waiter.block.timeout)
            waiter.client.flags.add(BLOCKED_FLAG)
            return None

    def cancel(self, waiter: Waiter):
        """Stop waiting (timeout, disconnect, shutdown). Returns the reply if the waiter
        was served just before we took the lock, else None."""
        with self._keyspace.lock.write():
            if waiter in self._waiters:
                self._remove(waiter)
            return waiter.reply

    def wake_all(self) -> None:
        """Wake every waiter without serving it: the server is shutting down."""
        with self._keyspace.lock.write():
            for waiter in self._waiters:
                waiter.wake()

    # --- writers: the caller holds the write lock -------------------------------------

    def signal_ready(self, db_index: int, key: bytes) -> None:
        """The key may now hold what some waiter wants (Redis's signalKeyAsReady)."""
        slot = (db_index, key)
        if slot in self._queues:
            self._ready[slot] = None

    def serve(self) -> None:
        """Serve waiters on every ready key: Redis's handleClientsBlockedOnKeys.

        Runs at the end of every write command. Serving one waiter can make another key
        ready (BLMOVE pushes to its destination), hence the loop until nothing is ready.

        MULTI/EXEC and scripts (later issues) must call this once, after their last
        command, and not after each command inside them: clients blocked on a key
        pushed inside a transaction are served only when it completes, as in Redis.
        """
        while self._ready:
            ready, self._ready = self._ready, {}
            for db_index, key in ready:
                self._serve_key(db_index, key)

    def _serve_key(self, db_index: int, key: bytes) -> None:
        db = self._keyspace.dbs[db_index]
        for waiter in self.waiters_on(db_index, key):
            # An emptied list or sorted set is deleted at once, so a missing key means
            # nothing is left for anyone. A waiter whose attempt() gives None while the
            # key exists wants another type (BZPOPMIN on what is now a list): skip it,
            # the next waiter may want this one, as Redis skips by blocked type.
            if not db.exists(key):
                return
            reply = self._attempt(waiter)
            if reply is not None:
                self._remove(waiter)
                waiter.reply = reply
                waiter.wake()

    def _attempt(self, waiter: Waiter):
        try:
            return waiter.block.attempt()
        except RedisError as err:
            self._keyspace.stats.incr("total_error_replies")
            return ErrorReply(err.message)

    def _remove(self, waiter: Waiter) -> None:
        for slot in waiter.slots:
            queue = self._queues[slot]
            queue.remove(waiter)
            if not queue:
                del self._queues[slot]
        self._waiters.remove(waiter)
        self.timed -= bool(waiter.block.timeout)
        waiter.client.flags.discard(BLOCKED_FLAG)
