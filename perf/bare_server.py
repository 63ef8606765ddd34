"""The architecture baseline: the least a thread-per-connection Python server can do.

    .venv/bin/python -m perf.bare_server --port 7000

Same accept loop as our clone (common/tcpserver.py: blocking sockets, one thread per
connection), same RESP codec (common/resp.py), but behind it only a plain dict under
one lock and the eight commands redis-benchmark's headline tests send (PING, SET, GET,
INCR, LPUSH, LPOP, SADD, HSET), plus CONFIG GET and INFO answered just enough for
redis-benchmark and the report to start. No type checks, expiry, keyspace lock,
registry or statistics: whatever the report measures for this server is the ceiling of
the architecture itself, so ours/bare says how much our features cost, bare/real how
much the architecture does. Not a Redis: wrong-type keys simply raise.
"""

from __future__ import annotations

import argparse
import socket
import threading
from collections import deque

from common.resp import ErrorReply, RequestParser, Status, encode
from common.tcpserver import ThreadedTCPServer


def _ping(data, message=None):
    return Status("PONG") if message is None else message


def _set(data, key, value):
    data[key] = value
    return Status("OK")


def _incr(data, key):
    value = int(data.get(key, b"0")) + 1
    data[key] = b"%d" % value
    return value


def _lpush(data, key, *values):
    items = data.setdefault(key, deque())
    items.extendleft(values)
    return len(items)


def _lpop(data, key):
    items = data.get(key)
    return items.popleft() if items else None


def _sadd(data, key, *members):
    existing = data.setdefault(key, set())
    before = len(existing)
    existing.update(members)
    return len(existing) - before


def _hset(data, key, *pairs):
    fields = data.setdefault(key, {})
    before = len(fields)
    fields.update(zip(pairs[::2], pairs[1::2]))
    return len(fields) - before


COMMANDS = {   # upper-case name -> handler(data, *args); no arity check: a wrong call drops the connection
    b"PING": _ping, b"SET": _set, b"GET": lambda data, key: data.get(key), b"INCR": _incr,
    b"LPUSH": _lpush, b"LPOP": _lpop, b"SADD": _sadd, b"HSET": _hset,
    b"CONFIG": lambda data, *args: [],   # redis-benchmark asks CONFIG GET save/appendonly: nothing to say
    b"INFO": lambda data, *args: b"# Server\r\nredis_version:bare\r\n",   # what perf/servers.py reads
}


class BareStore:
    """One dict behind one lock (INCR and friends read, then write)."""

    def __init__(self) -> None:
        self.data: dict[bytes, object] = {}
        self.lock = threading.Lock()

    def execute(self, argv: list[bytes]):
        handler = COMMANDS.get(argv[0].upper())
        if handler is None:
            return ErrorReply(f"ERR unknown command '{argv[0].decode('utf-8', 'replace')}'")
        with self.lock:
            return handler(self.data, *argv[1:])


def serve_connection(store: BareStore, sock: socket.socket) -> None:
    """Read, parse every complete command, answer them all in one send; until EOF."""
    parser = RequestParser()
    while data := sock.recv(65536):
        parser.feed(data)
        sock.sendall(b"".join(encode(store.execute(argv)) for argv in parser))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    store = BareStore()
    server = ThreadedTCPServer("127.0.0.1", args.port, lambda sock, addr: serve_connection(store, sock),
                               name="bare")
    server.start()
    print(f"bare server listening on 127.0.0.1:{server.port}", flush=True)
    threading.Event().wait()   # the accept and connection threads do the work until killed


if __name__ == "__main__":
    main()
