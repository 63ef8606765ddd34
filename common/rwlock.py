"""A writer-preferring readers-writer lock: the one lock that guards the Redis keyspace.

Many client threads may read the keyspace at once (GET, EXISTS, TTL...), but a write
(SET, DEL, an expiry sweep) needs it alone. A plain mutex would serialize readers for
nothing; a naive readers-writer lock lets a steady stream of readers starve a writer
forever. This one is *writer-preferring*: once a writer is waiting, new readers queue
behind it, so the writer gets in as soon as the current readers leave.

Both sides are context managers:

    with lock.read():   ...   # shared
    with lock.write():  ...   # exclusive

The lock is not reentrant: a thread holding it must not ask for it again (a reader that
asks for a second read while a writer waits would deadlock, as it would in Redis's
single thread if a command called back into the event loop). Callers that need "write,
then read" do both under the write lock.

`acquire_read(timeout)` / `acquire_write(timeout)` give up after `timeout` seconds and
return False. The dispatcher waits in such slices so that a client stuck behind a long
Lua script can wake up and answer -BUSY instead of waiting for the script to end.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator


class RWLock:
    def __init__(self) -> None:
        # One mutex, two queues: readers wait on _read_ok, writers on _write_ok. Waking
        # only the side that can proceed (one writer, or all readers) avoids a thundering
        # herd: with 50 clients queued behind a Lua script, notify_all on one shared
        # condition woke 49 threads per release only for 48 to go back to sleep.
        # The fast paths take the mutex itself: `with` on a Condition goes through its
        # Python-level __enter__/__exit__, twice per command otherwise.
        self._mutex = mutex = threading.Lock()
        self._read_ok = threading.Condition(mutex)
        self._write_ok = threading.Condition(mutex)
        self._readers = 0            # threads inside a read section
        self._writer = False         # a thread is inside the write section
        self._writers_waiting = 0    # writers queued: new readers must wait for them
        self._readers_waiting = 0    # readers queued (a release with none skips notify_all)

    def acquire_read(self, timeout: float | None = None) -> bool:
        """Enter a read section; False if `timeout` seconds passed first (None: wait forever)."""
        with self._mutex:
            if not (self._writer or self._writers_waiting):  # uncontended: no waiting at all
                self._readers += 1
                return True
            self._readers_waiting += 1
            try:
                if not self._read_ok.wait_for(lambda: not (self._writer or self._writers_waiting), timeout):
                    return False
            finally:
                self._readers_waiting -= 1
            self._readers += 1
            return True

    def release_read(self) -> None:
        with self._mutex:
            self._readers -= 1
            if self._readers == 0 and self._writers_waiting:
                self._write_ok.notify()

    def acquire_write(self, timeout: float | None = None) -> bool:
        """Enter the write section; False if `timeout` seconds passed first (None: wait forever)."""
        with self._mutex:
            if not (self._writer or self._readers):  # uncontended: take it at once
                self._writer = True
                return True
            self._writers_waiting += 1
            acquired = False
            try:
                acquired = self._write_ok.wait_for(lambda: not (self._writer or self._readers), timeout)
            finally:
                self._writers_waiting -= 1
                if not acquired:
                    self._wake_after_giving_up()
            if acquired:
                self._writer = True
            return acquired

    def _wake_after_giving_up(self) -> None:
        """A writer stopped waiting. Caller holds the mutex."""
        if not self._writers_waiting:
            if self._readers_waiting:
                self._read_ok.notify_all()  # readers queued behind it must not wait any longer
        elif not (self._writer or self._readers):
            self._write_ok.notify()  # it may have taken the wake-up meant for the next writer

    def release_write(self) -> None:
        with self._mutex:
            self._writer = False
            if self._writers_waiting:
                self._write_ok.notify()
            elif self._readers_waiting:
                self._read_ok.notify_all()

    @contextmanager
    def read(self) -> Iterator[None]:
        self.acquire_read()
        try:
            yield
        finally:
            self.release_read()

    @contextmanager
    def write(self) -> Iterator[None]:
        self.acquire_write()
        try:
            yield
        finally:
            self.release_write()
