"""What a command handler can reach: the server-wide state and its own client.

`ServerState` is the Redis server minus its sockets: configuration, keyspace, clients,
users (ACL), statistics, the clock, the Lua scripting engine and persistence (snapshots). `server.py`
owns one and drives the network around it; tests can build one without any socket at
all and call handlers directly.

`CommandContext` is the handler's view of one invocation: which client is calling and
which database it has selected. One context lives as long as its connection.
"""

from __future__ import annotations

import os
import threading
from functools import partial
from typing import TYPE_CHECKING

from common.clock import Clock, SystemClock
from redis_clone.acl import Acl
from redis_clone.clients import ClientPause, ClientRegistry, ClientState
from redis_clone.commandlog import CommandLog
from redis_clone.config import Config
from redis_clone.eviction import Evictor
from redis_clone.keyspace import Database, Keyspace
from redis_clone.persistence.snapshots import Persistence
from redis_clone.pubsub import PubSub
from redis_clone.scripting import ScriptEngine
from redis_clone.stats import InstantaneousMetrics, Stats

if TYPE_CHECKING:
    from redis_clone.registry import CommandSpec

REDIS_VERSION = "7.0.15"  # the version whose replies we match; clients gate features on it


class ServerState:
    def __init__(self, config: Config | None = None, clock: Clock | None = None) -> None:
        self.config = config or Config()
        self.clock = clock or SystemClock()
        self.stats = Stats()
        self.metrics = InstantaneousMetrics()  # ops/sec etc., sampled by the cron
        self.keyspace = Keyspace(self.config.get_int("databases"), self.clock, self.stats)
        # maxmemory and the LRU/LFU access stamps (eviction.py); CONFIG SET reconfigures.
        self.evictor = Evictor(self.keyspace, self.config)
        self.clients = ClientRegistry()
        self.client_pause = ClientPause(self.clock)
        self.started_at = self.clock.time()
        self.started_monotonic = self.clock.monotonic()
        self.run_id = os.urandom(20).hex()
        self.shutdown_requested = threading.Event()
        self.scripts = ScriptEngine(self, REDIS_VERSION)  # the Lua interpreter, the script cache
        self.persistence = Persistence(self)  # SAVE, BGSAVE, save points, loading (RDB)
        self.pubsub = PubSub(self.config)    # channels, patterns, PUBLISH delivery
        self.commandlog = CommandLog(self)   # commandstats, errorstats, SLOWLOG, MONITOR
        self.stats.derive("total_commands_processed", self.commandlog.total_calls)
        for counter in ("net_input_bytes", "net_output_bytes"):
            self.stats.derive(f"total_{counter}", partial(self.clients.total, counter), rebase=True)
        self.acl = Acl(self.config.get("requirepass"))  # users, passwords (AUTH, ACL)


class CommandContext:
    __slots__ = ("server", "client", "command", "holds_lock")

    def __init__(self, server: ServerState, client: ClientState, *, holds_lock: bool = False) -> None:
        self.server = server
        self.client = client
        self.command: CommandSpec | None = None  # set by the dispatcher
        # True while this invocation holds the keyspace write lock for commands it runs
        # itself (EXEC's queue, a script's redis.call): see registry.locked().
        self.holds_lock = holds_lock

    @property
    def db(self) -> Database:
        return self.server.keyspace.dbs[self.client.db]

    def now_ms(self) -> int:
        return self.server.clock.time_ms()
