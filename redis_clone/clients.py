"""Connected clients: the per-connection state commands can see, and the registry of all.

A `ClientState` is what Redis keeps in its `client` struct minus the socket and buffers
(those belong to `server.py`): an id, a name, the selected database, the RESP version
agreed with HELLO, its MULTI/WATCH state, and a few timestamps for CLIENT LIST / INFO.
Commands read and change it through `ctx.client`.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field

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


class ClientRegistry:
    """All connected clients, by id. Ids are never reused (Redis's CLIENT ID promise)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[int, ClientState] = {}
        self._ids = itertools.count(1)

    def register(self, **fields) -> ClientState:
        with self._lock:
            client = ClientState(id=next(self._ids), **fields)
            self._clients[client.id] = client
            return client

    def unregister(self, client: ClientState) -> None:
        with self._lock:
            self._clients.pop(client.id, None)

    def snapshot(self) -> list[ClientState]:
        with self._lock:
            return list(self._clients.values())

    def __len__(self) -> int:
        return len(self._clients)
