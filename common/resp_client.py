"""A small blocking Redis client: connection pool, short timeouts, pipelining, scripts.

Where it sits: the rate limiter's Redis store (and the tests) talk to Redis, or to our
clone, through `RedisClient`. Commands are encoded and replies parsed by the one RESP
codec, `common/resp.py`; this module only owns sockets and the pool around them.

Design choices, each for a limiter that must never hang a request:

* timeouts default to 0.25 s for connect and for every read: a slow store must turn
  into an error quickly (the circuit breaker then decides), not into a stuck request;
* connections are pooled (last in, first out) and checked before reuse: one that
  turned readable while idle has been closed by the server (a restart, `timeout`) and
  is dropped, so reconnecting after an outage is automatic and no command is ever
  retried blindly (a retried EVALSHA could count one request twice);
* a connection that failed in any way (timeout, reset, garbage) is closed, never
  returned to the pool: its stream may hold a late reply that would answer the wrong
  command;
* `pipeline()` sends many commands in one write and reads the replies in order;
* `Script` + `evalsha()`: scripts run by SHA1; a server that has not seen the script
  yet answers NOSCRIPT, and the client re-sends it with EVAL, which also caches it.

Left out on purpose: RESP3, pub/sub, cluster redirections, TLS.
"""

from __future__ import annotations

import hashlib
import select
import socket
import threading
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from common.resp import INCOMPLETE, ErrorReply, ProtocolError, ReplyParser, encode_command

DEFAULT_TIMEOUT = 0.25  # seconds; "well under a second" so an outage is noticed fast
RECV_SIZE = 64 * 1024


class RedisConnectionError(ConnectionError):
    """The server could not be reached, went silent past the timeout, or broke the protocol."""


class ResponseError(Exception):
    """The server answered with an error reply (`-ERR ...`, `-NOSCRIPT ...`)."""

    @property
    def code(self) -> str:
        return str(self).split(" ", 1)[0]


@dataclass(frozen=True)
class RedisURL:
    """`redis://[[username]:password@]host[:port][/db]`, as redis-cli and redis-py read it."""

    host: str = "127.0.0.1"
    port: int = 6379
    db: int = 0
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> RedisURL:
        parts = urlsplit(url)
        if parts.scheme != "redis":
            raise ValueError(f"expected a redis:// URL, got {url!r}")
        if parts.query or parts.fragment:
            raise ValueError(f"query strings are not supported in {url!r}")
        try:
            port = parts.port or 6379
        except ValueError:
            raise ValueError(f"bad port in {url!r}") from None
        path = parts.path.strip("/")
        if path and not path.isdigit():
            raise ValueError(f"the path of {url!r} must be a database number")
        return cls(parts.hostname or "127.0.0.1", port, int(path or 0),
                   unquote(parts.username) if parts.username else None,
                   unquote(parts.password) if parts.password is not None else None)


class Script:
    """A Lua script and its SHA1, the name the server caches it under."""

    def __init__(self, source: str, name: str = "script") -> None:
        self.source = source
        self.name = name
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    def __repr__(self) -> str:
        return f"Script({self.name}, {self.sha[:8]})"


class Connection:
    """One socket and the reply parser for what comes back on it."""

    def __init__(self, url: RedisURL, connect_timeout: float, timeout: float) -> None:
        try:
            self.sock = socket.create_connection((url.host, url.port), timeout=connect_timeout)
        except OSError as err:
            raise RedisConnectionError(f"connect to {url.host}:{url.port}: {err.strerror or err}") from err
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(timeout)
        self.parser = ReplyParser()
        self.address = f"{url.host}:{url.port}"
        handshake = []
        if url.password is not None:
            handshake.append(("AUTH", url.username, url.password) if url.username else ("AUTH", url.password))
        if url.db:
            handshake.append(("SELECT", url.db))
        try:
            for reply in self.execute_many(handshake):
                if isinstance(reply, ErrorReply):
                    raise ResponseError(reply)
        except BaseException:
            self.close()
            raise

    def execute_many(self, commands: list[tuple]) -> list:
        """Send every command in one write, then read one reply per command.

        Error replies come back as `ErrorReply` values in their place; socket trouble
        raises RedisConnectionError and leaves this connection unusable.
        """
        if not commands:
            return []
        try:
            self.sock.sendall(b"".join(encode_command(*command) for command in commands))
            return [self._read_reply() for _ in commands]
        except TimeoutError as err:
            raise RedisConnectionError(f"{self.address}: no reply within {self.sock.gettimeout()} s") from err
        except (OSError, ProtocolError) as err:
            raise RedisConnectionError(f"{self.address}: {getattr(err, 'strerror', None) or err}") from err

    def _read_reply(self):
        while (reply := self.parser.get_reply()) is INCOMPLETE:
            data = self.sock.recv(RECV_SIZE)
            if not data:
                raise ConnectionResetError("server closed the connection")
            self.parser.feed(data)
        return reply

    def looks_closed(self) -> bool:
        """Readable while idle means EOF, a reset or stray bytes: unusable in every case."""
        poller = select.poll()
        poller.register(self.sock, select.POLLIN)
        return bool(poller.poll(0))

    def close(self) -> None:
        self.sock.close()


class RedisClient:
    """Thread-safe: any number of threads may call it; each call borrows a connection."""

    def __init__(self, host: str = "127.0.0.1", port: int = 6379, *, db: int = 0,
                 username: str | None = None, password: str | None = None,
                 connect_timeout: float = DEFAULT_TIMEOUT, timeout: float = DEFAULT_TIMEOUT,
                 max_idle: int = 16) -> None:
        self.url = RedisURL(host, port, db, username, password)
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self.max_idle = max_idle
        self._lock = threading.Lock()  # guards _idle; no socket calls while holding it
        self._idle: list[Connection] = []

    @classmethod
    def from_url(cls, url: str, **options) -> RedisClient:
        parsed = RedisURL.parse(url)
        return cls(parsed.host, parsed.port, db=parsed.db, username=parsed.username,
                   password=parsed.password, **options)

    # --- commands -------------------------------------------------------------------

    def execute(self, *args):
        """Run one command and return its reply; an error reply raises ResponseError."""
        reply = self.pipeline([args])[0]
        if isinstance(reply, ErrorReply):
            raise ResponseError(reply)
        return reply

    def pipeline(self, commands: list[tuple]) -> list:
        """Run several commands in one round trip. Error replies are returned in place
        (as `ErrorReply`), because in a pipeline one failing command is not a failure
        of the others."""
        conn = self._acquire()
        try:
            replies = conn.execute_many(commands)
        except BaseException:
            conn.close()
            raise
        self._release(conn)
        return replies

    def evalsha(self, script: Script, keys: list, args: list):
        """Run `script` atomically on the server; an error reply raises ResponseError."""
        reply = self.eval_many([(script, keys, args)])[0]
        if isinstance(reply, ErrorReply):
            raise ResponseError(reply)
        return reply

    def eval_many(self, calls: list[tuple[Script, list, list]]) -> list:
        """Pipelined EVALSHAs; the ones the server answers NOSCRIPT are re-sent with EVAL.

        Each script runs atomically, but the calls as a whole are not a transaction.
        Error replies are returned in place, as in `pipeline()`.
        """
        replies = self.pipeline([("EVALSHA", script.sha, len(keys), *keys, *args)
                                 for script, keys, args in calls])
        missing = [i for i, reply in enumerate(replies)
                   if isinstance(reply, ErrorReply) and reply.code == "NOSCRIPT"]
        if missing:
            # NOSCRIPT means nothing ran, so sending the source now cannot count twice.
            retried = self.pipeline([("EVAL", calls[i][0].source, len(calls[i][1]), *calls[i][1],
                                      *calls[i][2]) for i in missing])
            for i, reply in zip(missing, retried):
                replies[i] = reply
        return replies

    # --- the pool -------------------------------------------------------------------

    def _acquire(self) -> Connection:
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return Connection(self.url, self.connect_timeout, self.timeout)
            if not conn.looks_closed():
                return conn
            conn.close()

    def _release(self, conn: Connection) -> None:
        with self._lock:
            if len(self._idle) < self.max_idle:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        """Close the idle connections; ones in use are closed when they come back full."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
