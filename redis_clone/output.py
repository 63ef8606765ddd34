"""A connection's outgoing side, for bytes that other threads write: pub/sub and MONITOR.

Normally only a connection's own thread writes to its socket (its replies, one
`sendall()` per batch). A PUBLISH runs on the *publisher's* thread, though, and must put
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

A connection that never subscribes stays unshared and pays nothing: its thread
`sendall()`s directly. Killing (CLIENT KILL, timeout, buffer limits) shuts the socket
down from whichever thread decides it: the owner's blocked `recv()` wakes with EOF and
its thread cleans up as for any hang-up.
"""

from __future__ import annotations

import socket
import threading

from common.tcpserver import shutdown_socket


class ClientOutput:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.shared = False          # set (once, by the owner) on SUBSCRIBE or MONITOR
        self.killed = False
        self.pending = bytearray()   # guarded by _lock; what the kernel did not take yet
        self.soft_since: float | None = None  # when pending first passed the soft limit
        self._lock = threading.Lock()
        self._owner_sending = False  # the owner is in a blocking sendall(): others only queue

    def reply(self, data: bytes) -> None:
        """The owner's thread sends its replies, after anything pushed before them."""
        if not self.shared:
            self.sock.sendall(data)
            return
        with self._lock:
            data, self.pending = bytes(self.pending) + data, bytearray()
            self._owner_sending = True
        try:
            self.sock.sendall(data)
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
