"""Connected clients: the per-connection state commands can see, and the registry of all.

A `ClientState` is what Redis keeps in its `client` struct minus the socket and buffers
(those belong to `server.py`): an id, a name, the selected database, the RESP version
agreed with HELLO, its MULTI/WATCH state, its pub/sub subscriptions, and a few
timestamps for CLIENT LIST / INFO. Commands read and change it through `ctx.client`;
`output` is the one handle on the socket others may use (pub/sub, MONITOR, CLIENT KILL).
`ClientPause` is CLIENT PAUSE's state, checked by the dispatcher before each command.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field

from common.clock import Clock
from redis_clone.output import ClientOutput
from redis_clone.registry import WRITE, CommandSpec
from redis_clone.transactions import Transaction


@dataclass(eq=False)
class ClientState:
    id: int
    addr: str = ""          # "ip:port" of the peer
    laddr: str = ""         # "ip:port" of our end
    fd: int = -1            # the socket's file descriptor (CLIENT LIST fd=)
    name: bytes = b""
    db: int = 0
    protocol: int = 2       # RESP version; HELLO 3 switches to RESP3
    created: float = 0.0    # wall-clock seconds
    last_interaction: float = 0.0
    last_command: str = "NULL"
    close_after_reply: bool = False  # QUIT, protocol errors: send the reply, then hang up
    flags: set[str] = field(default_factory=set)
    transaction: Transaction = field(default_factory=Transaction)  # MULTI queue, WATCHed keys
    channels: set[bytes] = field(default_factory=set)   # SUBSCRIBEd (guarded by PubSub's lock)
    patterns: set[bytes] = field(default_factory=set)   # PSUBSCRIBEd
    output: ClientOutput | None = None  # the socket side other threads write to (None in unit tests)
    # Authentication (acl.py): the user this connection acts as and whether it has
    # authenticated. `admitted` is the dispatcher's one-attribute fast path: True when
    # no ACL check is needed (authenticated, user may do anything); `auth_required`
    # makes the request parser refuse big requests before AUTH. Acl.refresh() sets both.
    user: str = "default"
    authenticated: bool = True
    admitted: bool = True
    auth_required: bool = False
    # Bytes read and replied, counted by the connection's own thread without a lock;
    # INFO's total_net_*_bytes add them up (ClientRegistry.total).
    net_input_bytes: int = 0
    net_output_bytes: int = 0

    @property
    def subscription_count(self) -> int:
        """In RESP2, a client with any subscription may only run pub/sub commands."""
        return len(self.channels) + len(self.patterns)


class ClientRegistry:
    """All connected clients, by id. Ids are never reused (Redis's CLIENT ID promise)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[int, ClientState] = {}
        self._ids = itertools.count(1)
        self._retired = {"net_input_bytes": 0, "net_output_bytes": 0}  # of clients gone

    def register(self, **fields) -> ClientState:
        with self._lock:
            client = ClientState(id=next(self._ids), **fields)
            self._clients[client.id] = client
            return client

    def unregister(self, client: ClientState) -> None:
        with self._lock:
            if self._clients.pop(client.id, None) is not None:
                for counter in self._retired:
                    self._retired[counter] += getattr(client, counter)

    def total(self, counter: str) -> int:
        """A per-client byte counter summed over every client there has been."""
        with self._lock:
            return self._retired[counter] + sum(getattr(c, counter) for c in self._clients.values())

    def kill(self, client: ClientState) -> None:
        """Disconnect another client (CLIENT KILL, timeout). It leaves the registry at
        once, as in Redis; its own thread, woken by the shutdown socket, cleans up the rest."""
        self.unregister(client)
        if client.output is not None:
            client.output.kill()

    def snapshot(self) -> list[ClientState]:
        with self._lock:
            return list(self._clients.values())

    def __len__(self) -> int:
        return len(self._clients)


class ClientPause:
    """CLIENT PAUSE: hold every command (ALL) or only those that change data (WRITE)
    until a deadline or CLIENT UNPAUSE. Held clients sleep on a condition, never spin.

    `active` is read without the lock by every command: a cheap first check, confirmed
    under the lock by `wait()`.
    """

    # Not flagged WRITE, but they change data or reach other clients: Redis's
    # "may-replicate" commands, held by a WRITE pause too.
    MAY_REPLICATE = frozenset({"publish", "eval", "evalsha", "spublish", "fcall"})

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._changed = threading.Condition()
        self.active = False
        self.all_commands = False
        self.until = 0.0  # monotonic deadline

    def pause(self, seconds: float, all_commands: bool) -> None:
        """A second pause extends the first and can widen WRITE to ALL, never narrow it."""
        with self._changed:
            until = self._clock.monotonic() + seconds
            self.all_commands = all_commands or (self.active and self.all_commands)
            self.until = max(until, self.until) if self.active else until
            self.active = True

    def unpause(self) -> None:
        with self._changed:
            self.active = False
            self._changed.notify_all()

    def wait(self, spec: CommandSpec) -> None:
        with self._changed:
            while self.active and (self.all_commands or spec.flags & WRITE
                                   or spec.name in self.MAY_REPLICATE):
                remaining = self.until - self._clock.monotonic()
                if remaining <= 0:
                    self.active = False
                    self._changed.notify_all()
                    return
                self._changed.wait(remaining)
