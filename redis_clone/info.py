"""INFO: the server's state as text, in the sections and format Redis uses.

Each section is "# Title\r\n" followed by "field:value\r\n" lines; sections are separated
by an empty line ("\r\n"). Tools parse this by field name (redis-cli --stat, exporters,
client libraries reading redis_version or role), so the field names and their order are
Redis 7.0's, so dashboards find every field they look for. Counters of machinery we do
not have (replication, defragmentation, I/O threads) read 0; a few gauges we cannot
measure at all (copy-on-write sizes of the forked child) are left out.

Which sections: none asked -> "default"; "all" adds the per-command statistics sections;
"everything" is "all" plus module sections (there are none); unknown names are ignored,
so `INFO nosuch` is an empty string.
"""

from __future__ import annotations

import os
import platform
import resource
import struct
import sys
from typing import Callable, Iterable

import psutil

from redis_clone import memory
from redis_clone.state import REDIS_VERSION, ServerState

Fields = list[tuple[str, object]]


def _server(state: ServerState) -> Fields:
    now = state.clock.time()
    uptime = int(now - state.started_at)
    uname = platform.uname()
    return [
        ("redis_version", REDIS_VERSION),
        ("redis_git_sha1", "00000000"),
        ("redis_git_dirty", 0),
        ("redis_build_id", 0),
        ("redis_mode", "standalone"),
        ("os", f"{uname.system} {uname.release} {uname.machine}"),
        ("arch_bits", struct.calcsize("P") * 8),
        ("monotonic_clock", "POSIX clock_gettime"),
        # We serve each connection in a thread rather than multiplexing with epoll.
        ("multiplexing_api", "threads"),
        ("atomicvar_api", "python-gil"),
        ("gcc_version", "0.0.0"),
        ("process_id", os.getpid()),
        ("process_supervised", "no"),
        ("run_id", state.run_id),
        ("tcp_port", state.config.get("port")),
        ("server_time_usec", int(now * 1_000_000)),
        ("uptime_in_seconds", uptime),
        ("uptime_in_days", uptime // 86400),
        ("hz", state.config.get("hz")),
        ("configured_hz", state.config.get("hz")),
        ("lru_clock", int(now) & (2**24 - 1)),  # seconds, 24 bits, as LRU_CLOCK()
        ("executable", sys.executable),  # the interpreter running `python -m redis_clone`
        ("config_file", state.config.path or ""),
        ("io_threads_active", 0),
    ]


def _clients(state: ServerState) -> Fields:
    return [
        ("connected_clients", len(state.clients)),
        ("cluster_connections", 0),
        ("maxclients", state.config.get("maxclients")),
        # No query buffers (the parser keeps only a partial frame); the output side is
        # what pub/sub and MONITOR messages wait in (output.py).
        ("client_recent_max_input_buffer", 0),
        ("client_recent_max_output_buffer",
         max((len(c.output.pending) for c in state.clients.snapshot() if c.output), default=0)),
        ("blocked_clients", len(state.keyspace.blocking)),
        ("tracking_clients", 0),
        ("clients_in_timeout_table", state.keyspace.blocking.timed),
    ]


def _memory(state: ServerState) -> Fields:
    # used_memory is the dataset's modelled size, kept as a running total (memory.py):
    # what maxmemory is compared with. RSS is the real process, interpreter included,
    # so the fragmentation ratio (rss / used) runs much higher than in Redis.
    keyspace = state.keyspace
    used = keyspace.used_memory
    peak = state.evictor.peak_memory()
    rss = psutil.Process().memory_info().rss
    overhead = sum(len(db) + len(db.expires) for db in keyspace.dbs) * memory.DICT_ENTRY
    dataset = used - overhead
    total = psutil.virtual_memory().total
    maxmemory = int(state.config.get("maxmemory"))
    return [
        ("used_memory", used),
        ("used_memory_human", bytes_to_human(used)),
        ("used_memory_rss", rss),
        ("used_memory_rss_human", bytes_to_human(rss)),
        ("used_memory_peak", peak),
        ("used_memory_peak_human", bytes_to_human(peak)),
        ("used_memory_peak_perc", "%.2f%%" % (100 * used / peak if peak else 100)),
        ("used_memory_overhead", overhead),
        ("used_memory_startup", 0),
        ("used_memory_dataset", dataset),
        ("used_memory_dataset_perc", "%.2f%%" % (100 * dataset / used if used else 0)),
        ("total_system_memory", total),
        ("total_system_memory_human", bytes_to_human(total)),
        ("maxmemory", maxmemory),
        ("maxmemory_human", bytes_to_human(maxmemory)),
        ("maxmemory_policy", state.config.get("maxmemory-policy")),
        ("mem_fragmentation_ratio", "%.2f" % (rss / used if used else 0)),
        ("mem_fragmentation_bytes", rss - used),
        ("mem_not_counted_for_evict", 0),
        ("mem_allocator", "libc"),
        ("active_defrag_running", 0),
        ("lazyfree_pending_objects", 0),
        ("lazyfreed_objects", 0),
    ]


def _persistence(state: ServerState) -> Fields:
    # Copy-on-write sizes are left out: we do not measure the forked child's memory.
    persistence = state.persistence
    return [
        ("loading", int(persistence.loading)),
        ("async_loading", 0),
        ("rdb_changes_since_last_save", persistence.changes_since_last_save),
        ("rdb_bgsave_in_progress", int(persistence.bgsave_in_progress)),
        ("rdb_last_save_time", persistence.last_save),
        ("rdb_last_bgsave_status", "ok" if persistence.last_bgsave_ok else "err"),
        ("rdb_last_bgsave_time_sec", persistence.last_bgsave_seconds),
        ("rdb_current_bgsave_time_sec", persistence.current_bgsave_seconds()),
        ("rdb_saves", state.stats["rdb_saves"]),
        ("rdb_last_load_keys_expired", persistence.last_load_keys_expired),
        ("rdb_last_load_keys_loaded", persistence.last_load_keys_loaded),
        ("aof_enabled", int(state.config.get_bool("appendonly"))),
        ("aof_rewrite_in_progress", 0),
        ("aof_rewrite_scheduled", 0),
        ("aof_last_rewrite_time_sec", -1),
        ("aof_current_rewrite_time_sec", -1),
        ("aof_last_bgrewrite_status", "ok"),
        ("aof_rewrites", 0),
        ("aof_last_write_status", "ok"),
    ]


# The Stats section's fields, in Redis's order. A name in STATS_GAUGES is computed;
# any other is a counter read from `state.stats` under the same name, so a feature
# reports its counter by incrementing it. Counters of machinery we do not have
# (replication, defragmentation, client tracking, I/O threads) stay 0.
STATS_FIELDS = (
    "total_connections_received", "total_commands_processed", "instantaneous_ops_per_sec",
    "total_net_input_bytes", "total_net_output_bytes", "total_net_repl_input_bytes",
    "total_net_repl_output_bytes", "instantaneous_input_kbps", "instantaneous_output_kbps",
    "instantaneous_input_repl_kbps", "instantaneous_output_repl_kbps", "rejected_connections",
    "sync_full", "sync_partial_ok", "sync_partial_err", "expired_keys", "expired_stale_perc",
    "expired_time_cap_reached_count", "expire_cycle_cpu_milliseconds", "evicted_keys",
    "evicted_clients", "total_eviction_exceeded_time", "current_eviction_exceeded_time",
    "keyspace_hits", "keyspace_misses", "pubsub_channels", "pubsub_patterns",
    "pubsubshard_channels", "latest_fork_usec", "total_forks", "migrate_cached_sockets",
    "slave_expires_tracked_keys", "active_defrag_hits", "active_defrag_misses",
    "active_defrag_key_hits", "active_defrag_key_misses", "total_active_defrag_time",
    "current_active_defrag_time", "tracking_total_keys", "tracking_total_items",
    "tracking_total_prefixes", "unexpected_error_replies", "total_error_replies",
    "dump_payload_sanitizations", "total_reads_processed", "total_writes_processed",
    "io_threaded_reads_processed", "io_threaded_writes_processed", "reply_buffer_shrinks",
    "reply_buffer_expands",
)

STATS_GAUGES: dict[str, Callable[[ServerState], object]] = {
    "instantaneous_ops_per_sec": lambda state: round(state.metrics.get("ops_per_sec")),
    "instantaneous_input_kbps": lambda state: "%.2f" % (state.metrics.get("input_kbps") / 1024),
    "instantaneous_output_kbps": lambda state: "%.2f" % (state.metrics.get("output_kbps") / 1024),
    "instantaneous_input_repl_kbps": lambda state: "0.00",
    "instantaneous_output_repl_kbps": lambda state: "0.00",
    "expired_stale_perc": lambda state: "0.00",
    "pubsub_channels": lambda state: len(state.pubsub.channels),
    "pubsub_patterns": lambda state: state.pubsub.pattern_count(),
    "latest_fork_usec": lambda state: state.persistence.latest_fork_usec,
}


def _stats(state: ServerState) -> Fields:
    return [(name, STATS_GAUGES[name](state) if name in STATS_GAUGES else state.stats[name])
            for name in STATS_FIELDS]


def _replication(state: ServerState) -> Fields:
    return [
        ("role", "master"),
        ("connected_slaves", 0),
        ("master_failover_state", "no-failover"),
        ("master_replid", state.run_id),  # a random id per start, like the run id
        ("master_replid2", "0" * 40),
        ("master_repl_offset", 0),
        ("second_repl_offset", -1),
        ("repl_backlog_active", 0),
        ("repl_backlog_size", state.config.get("repl-backlog-size")),
        ("repl_backlog_first_byte_offset", 0),
        ("repl_backlog_histlen", 0),
    ]


def _cpu(state: ServerState) -> Fields:
    times = psutil.Process().cpu_times()
    thread = resource.getrusage(resource.RUSAGE_THREAD)
    return [
        ("used_cpu_sys", "%.6f" % times.system),
        ("used_cpu_user", "%.6f" % times.user),
        ("used_cpu_sys_children", "%.6f" % times.children_system),
        ("used_cpu_user_children", "%.6f" % times.children_user),
        # Commands run on each client's thread; this is the thread answering INFO.
        ("used_cpu_sys_main_thread", "%.6f" % thread.ru_stime),
        ("used_cpu_user_main_thread", "%.6f" % thread.ru_utime),
    ]


def _nothing(state: ServerState) -> Fields:
    """Sections we have no data for (no modules; no latency histograms): the title
    alone, as Redis prints an empty section."""
    return []


def _commandstats(state: ServerState) -> Fields:
    """Commands run or refused since startup or CONFIG RESETSTAT (commandlog.py)."""
    return [(f"cmdstat_{name}", "calls=%d,usec=%d,usec_per_call=%.2f,rejected_calls=%d,failed_calls=%d" % (
                stats.calls, stats.usec, stats.usec / stats.calls if stats.calls else 0,
                stats.rejected_calls, stats.failed_calls))
            for name, stats in sorted(state.commandlog.commands.copy().items())]


def _errorstats(state: ServerState) -> Fields:
    return [(f"errorstat_{code}", f"count={count}")
            for code, count in sorted(state.commandlog.errors.copy().items())]


def _cluster(state: ServerState) -> Fields:
    return [("cluster_enabled", 0)]


def _keyspace(state: ServerState) -> Fields:
    # Key counts include keys that have expired but were not reclaimed yet, as in Redis.
    return [(f"db{db.index}", f"keys={len(db)},expires={len(db.expires)},avg_ttl=0")
            for db in state.keyspace.dbs if len(db)]


# name -> (title, fields), in the order Redis prints them.
SECTIONS: dict[str, tuple[str, Callable[[ServerState], Fields]]] = {
    "server": ("Server", _server),
    "clients": ("Clients", _clients),
    "memory": ("Memory", _memory),
    "persistence": ("Persistence", _persistence),
    "stats": ("Stats", _stats),
    "replication": ("Replication", _replication),
    "cpu": ("CPU", _cpu),
    "modules": ("Modules", _nothing),
    "commandstats": ("Commandstats", _commandstats),
    "errorstats": ("Errorstats", _errorstats),
    "latencystats": ("Latencystats", _nothing),
    "cluster": ("Cluster", _cluster),
    "keyspace": ("Keyspace", _keyspace),
}
DEFAULT_SECTIONS = frozenset(SECTIONS) - {"commandstats", "latencystats"}


def chosen_sections(names: Iterable[str]) -> set[str]:
    """INFO's arguments -> section names; "default", "all" and "everything" expand."""
    names = [name.lower() for name in names] or ["default"]
    chosen = set()
    for name in names:
        if name == "default":
            chosen |= DEFAULT_SECTIONS
        elif name in ("all", "everything"):
            chosen |= set(SECTIONS)
        elif name in SECTIONS:
            chosen.add(name)
    return chosen


def info_text(state: ServerState, names: Iterable[str] = ()) -> bytes:
    chosen = chosen_sections(names)
    sections = []
    for name, (title, fields) in SECTIONS.items():
        if name in chosen:
            lines = "".join(f"{field}:{value}\r\n" for field, value in fields(state))
            sections.append(f"# {title}\r\n{lines}")
    return "\r\n".join(sections).encode()


def bytes_to_human(n: int) -> str:
    """Redis's bytesToHuman(): 1.18M, 32.00K, 200B."""
    for unit, scale in (("P", 1024**5), ("T", 1024**4), ("G", 1024**3), ("M", 1024**2), ("K", 1024)):
        if n >= scale:
            return "%.2f%s" % (n / scale, unit)
    return f"{n}B"
