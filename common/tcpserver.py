"""A classic threaded TCP server: one accept loop per listening address, one thread per connection.

This is the architecture of stdlib `socketserver.ThreadingTCPServer` and of many real
servers before event loops: each connection gets a thread that blocks in `recv()`, so the
per-connection code reads top to bottom like a conversation. The price is one OS thread
per client (a few tens of KB of memory each, plus scheduling), which is fine for
hundreds or a few thousand clients.

Both the Redis clone and the load balancer use it; they pass a `handle(sock, addr)`
function that owns the connection until it returns. The server takes care of the rest:

* a listen backlog of 511 by default (Redis's `tcp-backlog`): with a tiny backlog, a
  benchmark opening 200 connections at once sees SYN drops and multi-second stalls;
* a handler that raises only loses its own connection, never the server;
* `shutdown()` stops accepting, wakes every connection thread blocked in recv() by
  shutting its socket down, and waits (bounded) for the threads to finish;
  `stop_accepting()` alone is the first half, for servers that drain gracefully.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
from typing import Callable

log = logging.getLogger(__name__)

Handler = Callable[[socket.socket, tuple], None]


class ThreadedTCPServer:
    def __init__(self, hosts: list[str] | str, port: int, handle: Handler, *,
                 backlog: int = 511, name: str = "tcp") -> None:
        self.hosts = [hosts] if isinstance(hosts, str) else list(hosts)
        self.requested_port = port
        self.handle = handle
        self.backlog = backlog
        self.name = name
        self._listeners: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._closing = False

    # --- lifecycle ----------------------------------------------------------------

    def start(self) -> None:
        """Bind and listen on every address, then accept in background threads.

        With port 0 the OS picks a free port (tests do this); every address then shares
        the port the first one got.
        """
        port = self.requested_port
        for host in self.hosts:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            listener = socket.socket(family, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                listener.bind((host, port))
            except OSError:
                listener.close()
                self._close_listeners()
                raise
            listener.listen(self.backlog)
            port = listener.getsockname()[1]
            self._listeners.append(listener)
        for listener in self._listeners:
            thread = threading.Thread(target=self._accept_loop, args=(listener,),
                                      name=f"{self.name}-accept", daemon=True)
            thread.start()
            self._threads.append(thread)

    @property
    def port(self) -> int:
        return self._listeners[0].getsockname()[1]

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    def stop_accepting(self) -> None:
        """Close the listening sockets; connections already accepted carry on.

        The first step of a graceful shutdown: the owner lets the connections finish
        what they are doing, then calls `shutdown()`.
        """
        with self._lock:
            self._closing = True
        self._close_listeners()

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop accepting, disconnect every client and wait for their threads to end."""
        self.stop_accepting()
        with self._lock:
            connections = list(self._connections.items())
        for sock, _ in connections:
            shutdown_socket(sock)  # wakes a thread blocked in recv()
        for _, thread in connections:
            if thread is not threading.current_thread():
                thread.join(timeout)
        for thread in self._threads:
            thread.join(timeout)

    def _close_listeners(self) -> None:
        for listener in self._listeners:
            shutdown_socket(listener)  # on Linux this is what wakes a blocked accept()
            listener.close()

    # --- the loops ----------------------------------------------------------------

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                sock, addr = listener.accept()
            except OSError:
                if self._closing:
                    return
                log.exception("%s: accept failed", self.name)
                continue
            thread = threading.Thread(target=self._run_connection, args=(sock, addr),
                                      name=f"{self.name}-conn", daemon=True)
            with self._lock:
                if self._closing:
                    sock.close()
                    return
                self._connections[sock] = thread
            thread.start()

    def _run_connection(self, sock: socket.socket, addr: tuple) -> None:
        try:
            self.handle(sock, addr)
        except Exception:  # one broken connection must never take the server down
            log.exception("%s: connection from %s failed", self.name, addr)
        finally:
            with self._lock:
                self._connections.pop(sock, None)
            sock.close()


def reset_on_close(sock: socket.socket) -> None:
    """Make close() send a reset (RST) instead of a FIN: SO_LINGER with a zero timeout.
    A crashed peer looks like this; the fault tests and the soak use it on purpose."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def shutdown_socket(sock: socket.socket) -> None:
    """Wake any thread blocked in recv()/accept() on `sock`: it returns EOF or an error."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed or never connected: nothing left to wake
