"""MEMORY and OBJECT: looking at what a key costs, how it is stored, how hot it is.

MEMORY USAGE answers from the cost model in memory.py (strings exactly as Redis does,
containers by sampling). OBJECT ENCODING names the encoding Redis would have chosen for
the value, from the `*-max-listpack-*` thresholds; OBJECT IDLETIME and FREQ read the
key's access stamp (eviction.py), and, like Redis, each refuses under the policy family
that does not keep its figure. None of them counts as an access to the key (TOUCH,
in keys.py, is the command that does only that).
"""

from __future__ import annotations

from collections import deque

import psutil

from common.resp import OK
from redis_clone import errors, memory
from redis_clone.arguments import keyword, parse_int
from redis_clone.commanddocs import help_reply
from redis_clone.errors import RedisError
from redis_clone.eviction import LFU_POLICIES
from redis_clone.persistence.rdb import EncodingLimits, string_to_int64
from redis_clone.registry import LOADING, READONLY, STALE, command, container
from redis_clone.zset import ZSet

SHARED_INTEGERS = 10000          # OBJ_SHARED_INTEGERS: 0..9999 are shared objects
SHARED_REFCOUNT = 2147483647     # OBJ_SHARED_REFCOUNT (INT_MAX)
DOCTOR_MIN_USED = 5 * 1024 * 1024  # below this MEMORY DOCTOR has nothing to say
DOCTOR_EMPTY = (
    "Hi Sam, this instance is empty or is using very little memory, my issues detector "
    "can't be used in these conditions. Please, leave for your mission on Earth and fill "
    "it with some data. The new Sam and I will be back to our programming as soon as I "
    "finished rebooting.")
MALLOC_STATS_UNSUPPORTED = "Stats not supported for the current allocator"
DOCTOR_FINE = ("Hi Sam, I can't find any memory issue in your instance. I can only "
               "account for what occurs on this base.")

KEY_INTROSPECTION = dict(flags=READONLY, keys=(2, 2, 1), group="generic",
                         tips=("nondeterministic_output",), key_flags=("RO",))


def _lookup_quietly(ctx, key: bytes):
    """The live value without counting a hit or refreshing its access stamp
    (LOOKUP_NOTOUCH): looking at a key's idle time must not reset it."""
    db = ctx.db
    return db.data.get(key) if db.exists(key) else None


# --- OBJECT -------------------------------------------------------------------------

container("object", group="generic", since="2.2.3",
          summary="A container for object introspection commands")


@command("object|encoding", arity=3, since="2.2.3", **KEY_INTROSPECTION,
         summary="Inspect the internal encoding of a Redis object",
         differences="Decided from the value's current contents: Redis never converts a "
                     "hash or set back to its compact encoding, and keeps a string that "
                     "APPEND or SETRANGE touched 'raw'.")
def object_encoding(ctx, args):
    """OBJECT ENCODING key"""
    value = _lookup_quietly(ctx, args[0])
    if value is None:
        return None
    return encoding_of(value, EncodingLimits.from_config(ctx.server.config)).encode()


def encoding_of(value, limits: EncodingLimits) -> str:
    """The encoding Redis 7.0 would hold `value` in."""
    if type(value) is bytes:
        if len(value) <= 20 and string_to_int64(value) is not None:
            return "int"
        return "embstr" if len(value) <= memory.EMBSTR_MAX else "raw"
    if type(value) is deque:
        return "quicklist"  # 7.0 has no plain-listpack lists (7.2 added them)
    if type(value) is dict:
        small = len(value) <= limits.hash_max_entries and all(
            len(f) <= limits.hash_max_value and len(v) <= limits.hash_max_value
            for f, v in value.items())
        return "listpack" if small else "hashtable"
    if type(value) is set:
        small = len(value) <= limits.set_max_intset_entries and all(
            string_to_int64(member) is not None for member in value)
        return "intset" if small else "hashtable"
    if type(value) is ZSet:
        return "listpack" if value.compact else "skiplist"
    raise TypeError(f"no encoding for {type(value).__name__}")


@command("object|help", arity=2, flags=LOADING | STALE, group="generic", since="6.2.0",
         summary="Show helpful text about the different subcommands")
def object_help(ctx, args):
    """OBJECT HELP"""
    return help_reply("OBJECT", [
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
    ])


@command("object|freq", arity=3, since="4.0.0", **KEY_INTROSPECTION,
         summary="Get the logarithmic access frequency counter of a Redis object")
def object_freq(ctx, args):
    """OBJECT FREQ key"""
    if _lookup_quietly(ctx, args[0]) is None:
        return None
    if ctx.server.config.get("maxmemory-policy") not in LFU_POLICIES:
        raise RedisError(errors.LFU_NOT_SELECTED)
    access = ctx.server.keyspace.access
    return access.decayed_counter(ctx.db.data.stamp(args[0]))


@command("object|idletime", arity=3, since="2.2.3", **KEY_INTROSPECTION,
         summary="Get the time since a Redis object was last accessed",
         differences="Idle time is tracked only under an LRU maxmemory-policy (allkeys-lru, "
                     "volatile-lru); under the others, noeviction included, the reply is an "
                     "error saying so. Redis tracks it always; per-key stamps cost a Python int "
                     "per key here (see densedict.py).")
def object_idletime(ctx, args):
    """OBJECT IDLETIME key"""
    if _lookup_quietly(ctx, args[0]) is None:
        return None
    if ctx.server.config.get("maxmemory-policy") in LFU_POLICIES:
        raise RedisError(errors.LFU_SELECTED)
    if not ctx.server.keyspace.stamped:
        raise RedisError(errors.LRU_NOT_SELECTED)
    access = ctx.server.keyspace.access
    return access.idle_ms(ctx.db.data.stamp(args[0])) // 1000


@command("object|refcount", arity=3, since="2.2.3", **KEY_INTROSPECTION,
         summary="Get the number of references to the value of the key")
def object_refcount(ctx, args):
    """OBJECT REFCOUNT key"""
    value = _lookup_quietly(ctx, args[0])
    if value is None:
        return None
    return SHARED_REFCOUNT if _is_shared_integer(ctx, value) else 1


def _is_shared_integer(ctx, value) -> bool:
    """Redis stores 0..9999 as pointers to shared objects, except when maxmemory is
    set with an LRU/LFU policy: a shared object cannot carry one key's access stamp."""
    if type(value) is not bytes or len(value) > 4:
        return False
    number = string_to_int64(value)
    if number is None or not 0 <= number < SHARED_INTEGERS:
        return False
    config = ctx.server.config
    policy = config.get("maxmemory-policy")
    return not config.get_int("maxmemory") or not ("lru" in policy or "lfu" in policy)


# --- MEMORY -------------------------------------------------------------------------

container("memory", group="server", since="4.0.0",
          summary="A container for memory diagnostics commands")

SERVER_INTROSPECTION = dict(group="server", since="4.0.0", tips=(
    "nondeterministic_output", "request_policy:all_shards", "response_policy:special"))


@command("memory|doctor", arity=2, complexity="O(1)", summary="Outputs memory problems report",
         **SERVER_INTROSPECTION)
def memory_doctor(ctx, args):
    """MEMORY DOCTOR"""
    if ctx.server.keyspace.used_memory < DOCTOR_MIN_USED:
        return DOCTOR_EMPTY.encode()
    return DOCTOR_FINE.encode()


@command("memory|malloc-stats", arity=2, complexity="Depends on how much memory is allocated, "
         "could be slow", summary="Show allocator internal stats", **SERVER_INTROSPECTION)
def memory_malloc_stats(ctx, args):
    """MEMORY MALLOC-STATS"""
    return MALLOC_STATS_UNSUPPORTED.encode()  # what Redis built without jemalloc says


@command("memory|stats", arity=2, complexity="O(1)", summary="Show memory usage details",
         **SERVER_INTROSPECTION,
         differences="Allocator figures are the process's RSS (psutil); no Lua, client "
                     "or replication buffers are counted.")
def memory_stats(ctx, args):
    """MEMORY STATS"""
    keyspace = ctx.server.keyspace
    used = keyspace.used_memory
    peak = ctx.server.evictor.peak_memory()
    rss = psutil.Process().memory_info().rss
    stats: dict[bytes, object] = {
        b"peak.allocated": peak, b"total.allocated": used, b"startup.allocated": 0,
        b"replication.backlog": 0, b"clients.slaves": 0, b"clients.normal": 0,
        b"cluster.links": 0, b"aof.buffer": 0, b"lua.caches": 0, b"functions.caches": 0,
    }
    keys = overhead = 0
    for db in keyspace.dbs:
        if len(db):
            main, expires = len(db) * memory.DICT_ENTRY, len(db.expires) * memory.DICT_ENTRY
            stats[b"db.%d" % db.index] = {b"overhead.hashtable.main": main,
                                          b"overhead.hashtable.expires": expires,
                                          b"overhead.hashtable.slot-to-keys": 0}
            keys += len(db)
            overhead += main + expires
    dataset = used - overhead
    stats.update({
        b"overhead.total": overhead, b"keys.count": keys,
        b"keys.bytes-per-key": (used // keys) if keys else 0,
        b"dataset.bytes": dataset,
        b"dataset.percentage": float(dataset * 100 / used) if used else 0.0,
        b"peak.percentage": float(used * 100 / peak) if peak else 0.0,
        b"allocator.allocated": used, b"allocator.active": used, b"allocator.resident": rss,
        b"fragmentation": float(rss / used) if used else 0.0,
        b"fragmentation.bytes": rss - used,
    })
    return stats


@command("memory|help", arity=2, flags=LOADING | STALE, group="server", since="4.0.0",
         summary="Show helpful text about the different subcommands")
def memory_help(ctx, args):
    """MEMORY HELP"""
    return help_reply("MEMORY", [
        "DOCTOR",
        "    Return memory problems reports.",
        "MALLOC-STATS",
        "    Return internal statistics report from the memory allocator.",
        "PURGE",
        "    Attempt to purge dirty pages for reclamation by the allocator.",
        "STATS",
        "    Return information about the memory usage of the server.",
        "USAGE <key> [SAMPLES <count>]",
        "    Return memory in bytes used by <key> and its value. Nested values are",
        "    sampled up to <count> times (default: 5, 0 means sample all).",
    ])


@command("memory|purge", arity=2, complexity="Depends on how much memory is allocated, could "
         "be slow", summary="Ask the allocator to release memory", group="server",
         since="4.0.0", tips=("request_policy:all_shards", "response_policy:all_succeeded"))
def memory_purge(ctx, args):
    """MEMORY PURGE"""
    return OK  # nothing to purge: Python's allocator returns arenas by itself


@command("memory|usage", arity=-3, flags=READONLY, keys=(2, 2, 1), group="server",
         since="4.0.0", summary="Estimate the memory usage of a key",
         complexity="O(N) where N is the number of samples.", key_flags=("RO",),
         differences="Strings match Redis byte for byte; lists, hashes, sets and sorted "
                     "sets are estimated from a model of Redis's layout (see memory.py).")
def memory_usage(ctx, args):
    """MEMORY USAGE key [SAMPLES count]"""
    samples = memory.DEFAULT_SAMPLES
    rest = args[1:]
    while rest:
        if keyword(rest[0]) != "SAMPLES" or len(rest) < 2:
            raise RedisError(errors.SYNTAX)
        samples = parse_int(rest[1])
        if samples < 0:
            raise RedisError(errors.SYNTAX)
        rest = rest[2:]
    value = _lookup_quietly(ctx, args[0])
    if value is None:
        return None
    return memory.entry_cost(args[0], value, samples)
