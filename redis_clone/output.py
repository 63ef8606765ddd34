"""A connection's outgoing side: its replies, and the bytes other threads push to it.

Replies. The owner's thread sends each batch of replies itself, blocking in `sendall()`
while the client reads slowly. That blocking is the back-pressure: a thread stuck in
`sendall()` reads and runs no further commands, so a client that never reads holds at
most one batch (server.py caps a batch at REPLY_BATCH_BYTES plus one reply) instead of
growing a buffer as Redis's event loop would. `client-output-buffer-limit normal` (0 0 0
by default, "unlimited") adds Redis's two cut-offs on top, measured on the bytes of the
batch not yet taken by the kernel:

* hard: a batch bigger than the hard limit is never sent; the client is killed at once;
* soft: while more than `soft` bytes are still unsent, the send waits for the socket in
  poll() instead of blocking, and a client that keeps it over `soft` for longer than
  the soft seconds is killed. Once the rest fits under `soft`, a plain `sendall()` ends
  the batch.

With both limits 0 a reply is one plain `sendall()`, exactly as without this module.
A subscribed client's replies obey the `pubsub` class instead, as in Redis. Unlike
Redis, a client that stops reading cannot pile up more than one batch (its thread stops
reading commands), so a `normal` limit above the batch size never cuts it off.

Pushes (pub/sub and MONITOR). A PUBLISH runs on the *publisher's* thread and must put
a message on every subscriber's socket; MONITOR does the same for every command. So a
client that subscribes or monitors switches its `ClientOutput` to *shared* mode, where:

* one lock orders all writers, so a reply and a pushed message never interleave
  mid-frame;
* other threads never block on a slow reader: they `send(..., MSG_DONTWAIT)` what the
  kernel takes now and keep the rest in `pending`, in order;
* `pending` is drained by whoever writes next, by the owner before its own replies, and
  by the server cron; once it passes the client's `client-output-buffer-limit` (hard
  limit, or the soft limit for longer than its seconds) the client is killed instead of
  growing without bound.

Killing (CLIENT KILL, timeout, buffer limits) shuts the socket down from whichever
thread decides it: the owner's blocked `recv()` or `sendall()` wakes with EOF or an
error and its thread cleans up as for any hang-up.
"""

from __future__ import annotations

import logging
import select
import socket
import threading
from typing import TYPE_CHECKING

from common.clock import Clock, SystemClock
from common.tcpserver import shutdown_socket

if TYPE_CHECKING:
    from redis_clone.config import Config

log = logging.getLogger("redis_clone")

Limits = tuple[int, int, int]  # one class of client-output-buffer-limit: hard, soft, soft seconds
UNLIMITED: Limits = (0, 0, 0)


class OutputLimits:
    """client-output-buffer-limit by client class ("normal", "slave", "pubsub"), parsed
    again only when the setting changes. A class with no limits is the UNLIMITED object
    itself, so the send path recognizes it with one identity test."""

    def __init__(self, config: "Config") -> None:
        self._config = config
        self._parsed: tuple[str, dict[str, Limits]] = ("", {})  # one attribute: swapped whole

    def of(self, kind: str) -> Limits:
        text, limits = self._parsed
        current = self._config.get("client-output-buffer-limit")
        if current is not text:
            words = current.split()
            limits = {}
            for i in range(0, len(words), 4):
                values = (int(words[i + 1]), int(words[i + 2]), int(words[i + 3]))
                limits[words[i]] = values if any(values[:2]) else UNLIMITED
            self._parsed = (current, limits)
        return limits[kind]


def log_output_limit_kill(client_id: int, addr: str) -> None:
    """Redis's warning when a client is closed for its output buffer limits."""
    log.warning("Client id=%d addr=%s scheduled to be closed ASAP for overcoming "
                "of output buffer limits.", client_id, addr)


class ClientOutput:
    def __init__(self, sock: socket.socket, clock: Clock | None = None) -> None:
        self.sock = sock
        self.clock = clock or SystemClock()
        self.shared = False          # set (once, by the owner) on SUBSCRIBE or MONITOR
        self.killed = False
        self.pending = bytearray()   # guarded by _lock; what the kernel did not take yet
        self.soft_since: float | None = None  # when pending first passed the soft limit
        self._lock = threading.Lock()
        self._owner_sending = False  # the owner is in a blocking sendall(): others only queue

    def reply(self, data: bytes, limits: Limits = UNLIMITED) -> bool:
        """The owner's thread sends its replies, after anything pushed before them.
        Returns False if `limits` killed the client instead (see the module docstring)."""
        if not self.shared:
            if limits is UNLIMITED:
                self.sock.sendall(data)
                return True
            return self._send_within(data, limits)
        with self._lock:
            data, self.pending = bytes(self.pending) + data, bytearray()
            self._owner_sending = True
        try:
            return self._send_within(data, limits)
        finally:
            with self._lock:
                self._owner_sending = False
                self._flush()  # what other threads queued while we were sending

    def push(self, data: bytes, hard_limit: int) -> None:
        """Another thread delivers a message: send what fits now, queue the rest, and
        kill the client if its queue passes `hard_limit` bytes (0: no limit)."""
        with self._lock:
            if self.killed:
                return
            self.pending += data
            if not self._owner_sending:
                self._flush()
            over = hard_limit and len(self.pending) > hard_limit
        if over:
            self.kill()

    def drain(self) -> int:
        """The cron's turn: send what the kernel takes now; return what is still pending."""
        with self._lock:
            if not self._owner_sending:
                self._flush()
            return len(self.pending)

    def kill(self) -> None:
        self.killed = True
        shutdown_socket(self.sock)

    def _send_within(self, data: bytes, limits: Limits) -> bool:
        """The owner's blocking send, cut off by the hard and soft limits."""
        hard, soft, soft_seconds = limits
        if hard and len(data) > hard:
            self.kill()
            return False
        unsent = memoryview(data)
        deadline = None  # when the time over the soft limit runs out
        while unsent:
            if not soft or len(unsent) <= soft:
                self.sock.sendall(unsent)  # under the soft limit a reader may be slow
                return True
            now = self.clock.monotonic()
            if deadline is None:
                deadline = now + soft_seconds
            elif now >= deadline:
                self.kill()
                return False
            if self._writable(deadline - now):
                try:
                    unsent = unsent[self.sock.send(unsent, socket.MSG_DONTWAIT):]
                except BlockingIOError:
                    pass  # another writer took the room first: wait again
        return True

    def _writable(self, seconds: float) -> bool:
        """poll() rather than select(), which cannot watch descriptors above 1023."""
        poller = select.poll()
        poller.register(self.sock, select.POLLOUT)
        return bool(poller.poll(seconds * 1000))

    def _flush(self) -> None:
        """Caller holds _lock. Never blocks: a full socket buffer leaves bytes pending."""
        if not self.pending or self.killed:
            return
        try:
            sent = self.sock.send(self.pending, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return
        except OSError:
            self.pending.clear()  # the peer is gone; its thread is cleaning up
            return
        del self.pending[:sent]
