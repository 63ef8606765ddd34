"""Session persistence: keeping a client on the server it started with, while that server is up.

Where it sits: a pool with a `[sticky]` setting asks its persistence before its
algorithm (serverpool.py): `server_for()` names the server this client is pinned to,
if it is in the snapshot (up, and not already tried for this request); otherwise the
algorithm picks and `stick()` pins the client to the pick. Two kinds:

* **cookie**: the response carries `Set-Cookie: LB_SERVER=<token>`, and later requests
  bring it back. The token is an HMAC-SHA256 of the pool and server names under a
  secret: it says nothing about the server's address, and without the secret nobody
  can forge the token of a server they were never sent to. When the pinned server is
  down (or removed by a reload) the request is balanced afresh and the response
  carries a new cookie for its new server. Set `cookie_secret` so that restarts and
  other balancers in front of the same servers honour the same cookies.
* **source-ip**: a stick table (HAProxy's `stick on src`): client address -> server,
  written on the first request and forgotten after `timeout` idle seconds. Works for
  any protocol, TCP mode included, but clients behind one NAT share a server and the
  table is per process: another balancer, or a restart, starts from scratch.

Both differ from ip-hash and consistent-hash, which keep no state: a hash needs no
table and agrees across balancers, but when servers come and go some clients move; a
pinned client moves only when its own server fails. Left out: cookie expiry (these are
session cookies) and removing the cookie before the request reaches the server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from collections import OrderedDict
from typing import Protocol

from common.clock import Clock
from load_balancer.backends import Backend, Snapshot
from load_balancer.config import StickyConfig
from load_balancer.strategies import RequestInfo


class Persistence(Protocol):
    def server_for(self, request: RequestInfo, snapshot: Snapshot) -> Backend | None:
        """The server this client is pinned to, if it may take this request."""

    def stick(self, request: RequestInfo, backend: Backend) -> str | None:
        """Pin the client to `backend`; returns a `Set-Cookie` value to send, if any."""


class CookiePersistence:
    def __init__(self, cookie: str, secret: bytes, pool: str) -> None:
        self.cookie = cookie
        self.secret = secret
        self.pool = pool

    def token(self, backend: Backend) -> str:
        """22 URL-safe characters: 128 bits of HMAC, the same for every client of `backend`."""
        mac = hmac.new(self.secret, f"{self.pool}\0{backend.name}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()[:16]).rstrip(b"=").decode()

    def server_for(self, request: RequestInfo, snapshot: Snapshot) -> Backend | None:
        value = request.headers.cookie(self.cookie)
        if value is None:
            return None
        # compare_digest takes as long for a near miss as for a far one, so response
        # times leak nothing about how much of a guessed token was right.
        return next((backend for backend in snapshot.servers
                     if hmac.compare_digest(self.token(backend), value)), None)

    def stick(self, request: RequestInfo, backend: Backend) -> str | None:
        return f"{self.cookie}={self.token(backend)}; Path=/; HttpOnly; SameSite=Lax"


class SourceIPPersistence:
    MAX_CLIENTS = 100_000  # the table's bound: the least recently seen client goes first

    def __init__(self, timeout: float, clock: Clock, max_clients: int = MAX_CLIENTS) -> None:
        self.timeout = timeout
        self.clock = clock
        self.max_clients = max_clients
        self._lock = threading.Lock()  # guards _table
        # client address -> (server, when last seen); least recently seen first
        self._table: OrderedDict[str, tuple[Backend, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._table)

    def server_for(self, request: RequestInfo, snapshot: Snapshot) -> Backend | None:
        now = self.clock.monotonic()
        with self._lock:
            entry = self._table.get(request.client_ip)
            if entry is None or now - entry[1] > self.timeout:
                return None
            backend = entry[0]
            if backend not in snapshot.servers:
                return None  # down or already tried: balance afresh, `stick` re-pins
            self._remember(request.client_ip, backend, now)
            return backend

    def stick(self, request: RequestInfo, backend: Backend) -> str | None:
        now = self.clock.monotonic()
        with self._lock:
            self._remember(request.client_ip, backend, now)
            # Forget the clients at the old end: silent too long, or beyond the bound.
            while self._table and (len(self._table) > self.max_clients
                                   or now - next(iter(self._table.values()))[1] > self.timeout):
                self._table.popitem(last=False)
        return None

    def _remember(self, client: str, backend: Backend, now: float) -> None:
        """Caller holds `_lock`."""
        self._table[client] = (backend, now)
        self._table.move_to_end(client)


def create(config: StickyConfig, *, pool: str, secret: bytes, clock: Clock) -> Persistence:
    if config.mode == "cookie":
        return CookiePersistence(config.cookie, secret, pool)
    return SourceIPPersistence(config.timeout, clock)
