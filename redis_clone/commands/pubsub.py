"""Pub/Sub commands: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH, PUBSUB ...

The bookkeeping and delivery live in `redis_clone/pubsub.py`; these handlers parse
arguments and shape replies. (UN)SUBSCRIBE answers once *per channel*, so they return
`Replies` (several frames in a row) of push frames: RESP3 clients see `>` pushes, RESP2
clients the same three-element arrays. A RESP2 client with subscriptions may only run
the commands in `registry.SUBSCRIBED_MODE_COMMANDS` (checked by the dispatcher).
"""

from __future__ import annotations

from common.resp import Push, Replies
from redis_clone import errors, glob
from redis_clone.commanddocs import help_reply
from redis_clone.errors import RedisError
from redis_clone.registry import FAST, LOADING, NOSCRIPT, PUBSUB, STALE, command, container

SUBSCRIBE_FLAGS = PUBSUB | NOSCRIPT | LOADING | STALE


def _start_receiving(ctx) -> None:
    """From now on other threads may write to this client's socket (see output.py)."""
    if ctx.client.output is not None:
        ctx.client.output.shared = True


@command("subscribe", arity=-2, flags=SUBSCRIBE_FLAGS, group="pubsub", since="2.0.0",
         summary="Listen for messages published to the given channels",
         complexity="O(N) where N is the number of channels to subscribe to.")
def subscribe(ctx, args):
    """SUBSCRIBE channel [channel ...]"""
    _start_receiving(ctx)
    pubsub = ctx.server.pubsub
    return Replies(Push([b"subscribe", channel, pubsub.subscribe(ctx.client, channel)])
                   for channel in args)


@command("psubscribe", arity=-2, flags=SUBSCRIBE_FLAGS, group="pubsub", since="2.0.0",
         summary="Listen for messages published to channels matching the given patterns",
         complexity="O(N) where N is the number of patterns the client is already subscribed to.")
def psubscribe(ctx, args):
    """PSUBSCRIBE pattern [pattern ...]"""
    _start_receiving(ctx)
    pubsub = ctx.server.pubsub
    return Replies(Push([b"psubscribe", pattern, pubsub.psubscribe(ctx.client, pattern)])
                   for pattern in args)


@command("unsubscribe", arity=-1, flags=SUBSCRIBE_FLAGS, group="pubsub", since="2.0.0",
         summary="Stop listening for messages posted to the given channels",
         complexity="O(N) where N is the number of clients already subscribed to a channel.")
def unsubscribe(ctx, args):
    """UNSUBSCRIBE [channel [channel ...]]"""
    client = ctx.client
    return _unsubscribe_replies(b"unsubscribe", args or list(client.channels),
                                lambda channel: ctx.server.pubsub.unsubscribe(client, channel), client)


@command("punsubscribe", arity=-1, flags=SUBSCRIBE_FLAGS, group="pubsub", since="2.0.0",
         summary="Stop listening for messages posted to channels matching the given patterns",
         complexity="O(N+M) where N is the number of patterns the client is already subscribed "
                    "and M is the number of total patterns subscribed in the system (by any client).")
def punsubscribe(ctx, args):
    """PUNSUBSCRIBE [pattern [pattern ...]]"""
    client = ctx.client
    return _unsubscribe_replies(b"punsubscribe", args or list(client.patterns),
                                lambda pattern: ctx.server.pubsub.punsubscribe(client, pattern), client)


def _unsubscribe_replies(kind: bytes, names: list[bytes], drop, client) -> Replies:
    """One confirmation per name; with nothing to drop, one with a null name."""
    if not names:
        return Replies([Push([kind, None, client.subscription_count])])
    return Replies(Push([kind, name, drop(name)]) for name in names)


@command("publish", arity=3, flags=PUBSUB | LOADING | STALE | FAST, group="pubsub", since="2.0.0",
         summary="Post a message to a channel",
         complexity="O(N+M) where N is the number of clients subscribed to the receiving channel "
                    "and M is the total number of subscribed patterns (by any client).",
         differences="A client publishing to a channel it subscribes to itself (RESP3) gets the "
                     "message at once, possibly before replies to commands pipelined before PUBLISH.")
def publish(ctx, args):
    """PUBLISH channel message"""
    return ctx.server.pubsub.publish(args[0], args[1])


# --- PUBSUB -----------------------------------------------------------------------------

container("pubsub", group="pubsub", since="2.8.0",
          summary="A container for Pub/Sub commands")

PUBSUB_FLAGS = PUBSUB | LOADING | STALE


@command("pubsub|channels", arity=-2, flags=PUBSUB_FLAGS, group="pubsub", since="2.8.0",
         summary="List active channels",
         complexity="O(N) where N is the number of active channels, and assuming constant time "
                    "pattern matching (relatively short channels and patterns)",
         differences="Too many arguments: the error names 'channels' in lower case, not as typed.")
def pubsub_channels(ctx, args):
    """PUBSUB CHANNELS [pattern]"""
    if len(args) > 1:
        raise RedisError(errors.subcommand_syntax(b"channels", "PUBSUB"))
    channels = ctx.server.pubsub.active_channels()
    if not args:
        return channels
    pattern = glob.Pattern(args[0])
    return [channel for channel in channels if pattern.matches(channel)]


@command("pubsub|numsub", arity=-2, flags=PUBSUB_FLAGS, group="pubsub", since="2.8.0",
         summary="Get the count of subscribers for channels",
         complexity="O(N) for the NUMSUB subcommand, where N is the number of requested channels")
def pubsub_numsub(ctx, args):
    """PUBSUB NUMSUB [channel [channel ...]]"""
    pubsub = ctx.server.pubsub
    return [item for channel in args for item in (channel, pubsub.subscriber_count(channel))]


@command("pubsub|numpat", arity=2, flags=PUBSUB_FLAGS, group="pubsub", since="2.8.0",
         summary="Get the count of unique patterns pattern subscriptions")
def pubsub_numpat(ctx, args):
    """PUBSUB NUMPAT"""
    return ctx.server.pubsub.pattern_count()


@command("pubsub|help", arity=2, flags=LOADING | STALE, group="pubsub", since="6.2.0",
         summary="Show helpful text about the different subcommands",
         differences="Lists only the subcommands implemented here (no SHARDCHANNELS or SHARDNUMSUB).")
def pubsub_help(ctx, args):
    """PUBSUB HELP"""
    return help_reply("PUBSUB", [
        "CHANNELS [<pattern>]",
        "    Return the currently active channels matching a <pattern> (default: '*').",
        "NUMPAT",
        "    Return number of subscriptions to patterns.",
        "NUMSUB [<channel> ...]",
        "    Return the number of subscribers for the specified channels, excluding",
        "    pattern subscriptions(default: no channels).",
    ])
