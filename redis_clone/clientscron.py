"""The server cron's work on clients, as Redis's clientsCron: idle timeouts, output
buffer soft limits, and the samples behind INFO's instantaneous_* gauges.

The cron thread (`server.py`) calls `clients_cron()` every period. It only looks at
clients and never at keys, so it takes no keyspace lock; closing a client means
shutting its socket down (`ClientOutput.kill`), after which the client's own thread
sees EOF and cleans up. Checking timeouts here, rather than with a timer per
connection, keeps the cost at one pass over the clients per period.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from redis_clone.blocking import BLOCKED_FLAG
from redis_clone.output import log_output_limit_kill

if TYPE_CHECKING:
    from redis_clone.state import ServerState

log = logging.getLogger("redis_clone")


def clients_cron(state: "ServerState") -> None:
    state.metrics.sample(state.stats, state.clock.monotonic())
    timeout = state.config.get_int("timeout")
    _, soft_limit, soft_seconds = state.pubsub.output_limits()
    now = state.clock.time()
    monitors = state.commandlog.monitors
    for client in state.clients.snapshot():
        output = client.output
        if output is None or output.killed:
            continue
        if output.shared:
            pending = output.drain()
            if soft_limit and pending > soft_limit:
                # Over the soft limit for soft_seconds in a row: a subscriber that cannot keep up.
                if output.soft_since is None:
                    output.soft_since = now
                elif now - output.soft_since >= soft_seconds:
                    log_output_limit_kill(client.id, client.addr)
                    state.clients.kill(client)
            else:
                output.soft_since = None
        # Subscribers, monitors and blocked clients wait on purpose: no idle timeout.
        if (timeout and now - client.last_interaction > timeout and not client.channels
                and not client.patterns and client.id not in monitors
                and BLOCKED_FLAG not in client.flags):
            log.info("Closing idle client id=%d addr=%s", client.id, client.addr)
            state.clients.kill(client)
