"""Publish/subscribe: who listens to which channel or pattern, and delivering messages.

Pub/Sub does not touch the keyspace. `PubSub` keeps two maps -- channel -> subscribers
and pattern -> subscribers (glob patterns, `redis_clone/glob.py`) -- under one small lock
of its own, and every client remembers its own channels and patterns (CLIENT LIST's
sub= and psub=, and what UNSUBSCRIBE without arguments drops).

Delivery: PUBLISH runs on the publisher's thread, but the message must reach other
clients' sockets. Two designs were possible: a bounded outbox per subscriber drained by
the subscriber's own thread (which would then have to wait on its socket *and* a queue,
like a blocked BLPOP), or a non-blocking send from the publisher with a pending buffer
(`redis_clone/output.py`). We chose the second: it is what Redis itself does (writes
into the client's reply buffer, then the event loop flushes it), the subscriber's thread
stays a plain blocking `recv()` loop, and the publisher never waits on a slow reader.
A subscriber whose pending output passes `client-output-buffer-limit pubsub` is
disconnected -- the hard limit at once, the soft limit by the server cron.

Messages are encoded once per protocol (RESP2 array or RESP3 push frame), not once per
subscriber.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from common.resp import Push, encode
from redis_clone.glob import Pattern
from redis_clone.output import Limits, OutputLimits

if TYPE_CHECKING:
    from redis_clone.clients import ClientState
    from redis_clone.config import Config


class PubSub:
    def __init__(self, config: "Config") -> None:
        self._lock = threading.Lock()
        self.channels: dict[bytes, dict[int, "ClientState"]] = {}
        self.patterns: dict[bytes, tuple[Pattern, dict[int, "ClientState"]]] = {}
        self._limits = OutputLimits(config)

    # --- subscriptions (each returns the client's subscription count afterwards) -----

    def subscribe(self, client: "ClientState", channel: bytes) -> int:
        with self._lock:
            if channel not in client.channels:
                client.channels.add(channel)
                self.channels.setdefault(channel, {})[client.id] = client
            return client.subscription_count

    def unsubscribe(self, client: "ClientState", channel: bytes) -> int:
        with self._lock:
            if channel in client.channels:
                client.channels.discard(channel)
                subscribers = self.channels[channel]
                del subscribers[client.id]
                if not subscribers:
                    del self.channels[channel]
            return client.subscription_count

    def psubscribe(self, client: "ClientState", pattern: bytes) -> int:
        with self._lock:
            if pattern not in client.patterns:
                client.patterns.add(pattern)
                entry = self.patterns.get(pattern)
                if entry is None:
                    entry = self.patterns[pattern] = (Pattern(pattern), {})
                entry[1][client.id] = client
            return client.subscription_count

    def punsubscribe(self, client: "ClientState", pattern: bytes) -> int:
        with self._lock:
            if pattern in client.patterns:
                client.patterns.discard(pattern)
                subscribers = self.patterns[pattern][1]
                del subscribers[client.id]
                if not subscribers:
                    del self.patterns[pattern]
            return client.subscription_count

    def forget(self, client: "ClientState") -> None:
        """A client disconnects (or RESETs): drop all its subscriptions."""
        for channel in list(client.channels):
            self.unsubscribe(client, channel)
        for pattern in list(client.patterns):
            self.punsubscribe(client, pattern)

    # --- publishing ----------------------------------------------------------------

    def publish(self, channel: bytes, message: bytes) -> int:
        """Deliver to channel subscribers, then pattern subscribers; return how many
        deliveries were made (a client matching twice counts twice, as in Redis)."""
        with self._lock:
            direct = list(self.channels.get(channel, {}).values())
            matched = [(pattern, client) for pattern, (compiled, subscribers) in self.patterns.items()
                       if compiled.matches(channel) for client in subscribers.values()]
        if not direct and not matched:
            return 0
        hard_limit = self.output_limits()[0]
        frames: dict[tuple, bytes] = {}  # (kind, pattern, protocol) -> encoded once
        for client in direct:
            key = (None, client.protocol)
            if key not in frames:
                frames[key] = encode(Push([b"message", channel, message]), client.protocol)
            client.output.push(frames[key], hard_limit)
        for pattern, client in matched:
            key = (pattern, client.protocol)
            if key not in frames:
                frames[key] = encode(Push([b"pmessage", pattern, channel, message]), client.protocol)
            client.output.push(frames[key], hard_limit)
        return len(direct) + len(matched)

    def output_limits(self) -> Limits:
        """client-output-buffer-limit's pubsub class: (hard bytes, soft bytes, soft seconds)."""
        return self._limits.of("pubsub")

    # --- PUBSUB introspection --------------------------------------------------------

    def active_channels(self) -> list[bytes]:
        with self._lock:
            return list(self.channels)

    def subscriber_count(self, channel: bytes) -> int:
        with self._lock:
            return len(self.channels.get(channel, ()))

    def pattern_count(self) -> int:
        return len(self.patterns)
