"""INFO for dashboards: every field real Redis prints exists in ours, and the statistics
we add (commandstats, errorstats, instantaneous ops, rejected connections) behave."""

from __future__ import annotations

import time

import pytest

from redis_clone.monitor import parse_info
from tests.conftest import RawConnection

DEADLINE = 10.0

# Fields of real Redis 7.0's INFO we do not print, and why. Keep this short.
NOT_PRINTED = {
    # The forked child's copy-on-write memory and progress are not reported back to us.
    "current_cow_peak", "current_cow_size", "current_cow_size_age", "current_fork_perc",
    "current_save_keys_processed", "current_save_keys_total", "rdb_last_cow_size",
    "aof_last_cow_size", "module_fork_in_progress", "module_fork_last_cow_size",
    "aof_rewrites_consecutive_failures",
    # jemalloc internals: Python's allocator has no such figures.
    "allocator_allocated", "allocator_active", "allocator_resident", "allocator_frag_ratio",
    "allocator_frag_bytes", "allocator_rss_ratio", "allocator_rss_bytes", "rss_overhead_ratio",
    "rss_overhead_bytes", "allocator_muzzy", "used_memory_vm_eval", "used_memory_lua",
    "used_memory_vm_functions", "used_memory_vm_total", "used_memory_vm_total_human",
    "used_memory_functions", "used_memory_scripts", "used_memory_scripts_human",
    "number_of_cached_scripts", "number_of_functions", "number_of_libraries",
    "used_memory_lua_human", "used_memory_scripts_eval", "used_memory_scripts_eval_human",
    "mem_clients_slaves", "mem_clients_normal", "mem_cluster_links", "mem_aof_buffer",
    "mem_replication_backlog", "mem_total_replication_buffers", "active_defrag_running",
}


def sections(text: bytes) -> dict[str, set[str]]:
    """INFO text -> section title -> field names."""
    found: dict[str, set[str]] = {}
    title = None
    for line in text.decode().splitlines():
        if line.startswith("# "):
            title = line[2:]
            found[title] = set()
        elif line and title:
            found[title].add(line.split(":", 1)[0])
    return found


@pytest.mark.parametrize("section", ["Server", "Clients", "Memory", "Persistence", "Stats",
                                     "Replication", "CPU", "Cluster"])
def test_every_field_of_real_redis_info_section_exists_in_ours(server, real_redis_port, section):
    ours = sections(RawConnection(server.port).command("INFO", "everything"))
    theirs = sections(RawConnection(real_redis_port).command("INFO", "everything"))
    missing = theirs[section] - ours[section] - NOT_PRINTED
    assert not missing, f"{section} lacks {sorted(missing)}"


def test_info_all_and_default_choose_sections_as_redis_does(raw):
    conn = raw()
    assert "Commandstats" not in sections(conn.command("INFO"))
    assert {"Commandstats", "Errorstats", "Keyspace"} <= set(sections(conn.command("INFO", "all")))


def test_commandstats_count_calls_failures_and_rejections(raw):
    conn = raw()
    conn.command("CONFIG", "RESETSTAT")
    conn.command("SET", "k", "v")
    conn.command("SET", "k", "v")
    conn.command("LPUSH", "k", "x")          # WRONGTYPE: a failed call
    conn.command("GET")                      # wrong arity: a rejected call
    info = parse_info(conn.command("INFO", "commandstats"))
    calls = dict(part.split("=") for part in info["cmdstat_set"].split(","))
    assert (calls["calls"], calls["rejected_calls"], calls["failed_calls"]) == ("2", "0", "0")
    assert float(calls["usec_per_call"]) == pytest.approx(int(calls["usec"]) / 2, abs=0.01)
    assert info["cmdstat_lpush"].endswith("rejected_calls=0,failed_calls=1")
    assert info["cmdstat_get"].startswith("calls=0,usec=0,usec_per_call=0.00,rejected_calls=1")


def test_errorstats_count_errors_by_code_and_resetstat_clears_everything(raw):
    conn = raw()
    conn.command("CONFIG", "RESETSTAT")
    conn.command("SET", "k", "v")
    conn.command("LPUSH", "k", "x")
    conn.command("NOSUCHCOMMAND")
    conn.command("NOSUCHCOMMAND")
    info = parse_info(conn.command("INFO", "errorstats"))
    assert info == {"errorstat_ERR": "count=2", "errorstat_WRONGTYPE": "count=1"}
    assert parse_info(conn.command("INFO", "stats"))["total_error_replies"] == "3"
    conn.command("CONFIG", "RESETSTAT")
    assert parse_info(conn.command("INFO", "errorstats")) == {}
    # What ran since: the RESETSTAT itself and the INFO errorstats above.
    assert list(parse_info(conn.command("INFO", "commandstats"))) == ["cmdstat_config|resetstat",
                                                                      "cmdstat_info"]


def test_instantaneous_ops_per_sec_follows_the_load(raw):
    conn, probe = raw(), raw()
    end = time.monotonic() + DEADLINE
    while int(parse_info(probe.command("INFO", "stats"))["instantaneous_ops_per_sec"]) == 0:
        assert time.monotonic() < end, "ops/sec never rose"
        conn.send(b"PING\r\n" * 200)
        for _ in range(200):
            conn.read()


def test_pubsub_and_replication_fields(raw):
    conn, subscriber = raw(), raw()
    subscriber.command("SUBSCRIBE", "a")
    subscriber.command("PSUBSCRIBE", "b*")
    stats = parse_info(conn.command("INFO", "stats"))
    assert (stats["pubsub_channels"], stats["pubsub_patterns"]) == ("1", "1")
    replication = parse_info(conn.command("INFO", "replication"))
    assert (replication["role"], replication["connected_slaves"]) == ("master", "0")
    assert len(replication["master_replid"]) == 40
    cpu = parse_info(conn.command("INFO", "cpu"))
    assert float(cpu["used_cpu_user"]) > 0
