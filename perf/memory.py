"""Memory per key and BGSAVE cost, ours vs real Redis, on freshly started servers.

Keys (`key:00000001`... with a 3-byte value, the "small keys" case) are loaded with
pipelined SETs in batches, and each server's resident set size (RSS, from psutil) is
read before loading and after each checkpoint (e.g. 100k, then 1M keys): bytes per key
is (RSS now - RSS empty) / keys. RSS is what the operating system actually gives the
process: allocator overhead and fragmentation count, as they would on a real machine.

At the largest size BGSAVE is timed, and a PING loop measures the worst stall other
clients see while the snapshot is being written.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Callable

from common.resp import encode_command
from perf.servers import NAMES, Server, running_pair

BATCH = 1000
VALUE = b"xxx"
LRU_FLAGS = ("--maxmemory-policy", "allkeys-lru")
LRU_NAME = "ours (allkeys-lru)"


def load_keys(server: Server, start: int, stop: int) -> None:
    """SET key:<n> for n in [start, stop), BATCH commands per write; waits for every +OK."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=600) as sock:
        for first in range(start, stop, BATCH):
            last = min(first + BATCH, stop)
            sock.sendall(b"".join(encode_command(b"SET", b"key:%08d" % n, VALUE) for n in range(first, last)))
            expected, received = 5 * (last - first), 0   # each reply is b"+OK\r\n"
            while received < expected:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError(f"{server.name} closed the connection while loading")
                received += len(chunk)


def bgsave_stall(server: Server) -> dict:
    """Seconds BGSAVE takes (until INFO says it is done) and the slowest PING meanwhile."""
    client = server.client
    worst = [0.0]
    done = threading.Event()

    def ping_loop() -> None:
        with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
            while not done.is_set():
                started = time.perf_counter()
                sock.sendall(b"PING\r\n")
                sock.recv(64)
                worst[0] = max(worst[0], time.perf_counter() - started)

    pinger = threading.Thread(target=ping_loop, daemon=True)
    pinger.start()
    started = time.perf_counter()
    client.execute("BGSAVE")  # replies once the save has started: in progress from here on
    while server.info("persistence").get("rdb_bgsave_in_progress") != "0":
        if time.perf_counter() - started > 300:
            raise RuntimeError(f"{server.name}: BGSAVE still running after 300 s")
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    done.set()
    pinger.join()
    status = server.info("persistence").get("rdb_last_bgsave_status", "?")
    return {"server": server.name, "seconds": elapsed, "max_ping_stall_ms": worst[0] * 1000, "status": status}


def run(checkpoints: list[int], log: Callable[[str], None]) -> dict:
    """RSS per key at each checkpoint (ascending key counts), then BGSAVE at the last."""
    rows, saves = [], []
    with running_pair() as servers:
        time.sleep(0.5)  # let both settle after start-up (imports, allocator warm-up)
        empty = {name: servers[name].rss() for name in NAMES}
        loaded = 0
        for count in checkpoints:
            for name in NAMES:   # interleaved: ours, then real, for each checkpoint
                load_keys(servers[name], loaded, count)
                rss = servers[name].rss()
                rows.append({"server": name, "keys": count, "rss_empty": empty[name], "rss": rss,
                             "bytes_per_key": (rss - empty[name]) / count,
                             "dbsize": int(servers[name].client.execute("DBSIZE"))})
            loaded = count
            ours, real = rows[-2], rows[-1]
            log(f"  memory {count:>9,} keys: ours {ours['bytes_per_key']:6.1f} B/key, "
                f"redis {real['bytes_per_key']:6.1f} B/key, ratio {ours['bytes_per_key'] / real['bytes_per_key']:.2f}")
        for name in NAMES:
            saves.append({"keys": loaded, **bgsave_stall(servers[name])})
            log(f"  bgsave {name}: {saves[-1]['seconds']:.2f} s, worst PING {saves[-1]['max_ping_stall_ms']:.1f} ms")
    # Under an LRU policy our keyspace also keeps a per-key access stamp, which needs a
    # key -> slot map (redis_clone/densedict.py): the same load again shows its cost.
    with running_pair(names=("ours",), ours_flags=LRU_FLAGS) as servers:
        time.sleep(0.5)
        server = servers["ours"]
        empty = server.rss()
        load_keys(server, 0, loaded)
        rows.append({"server": LRU_NAME, "keys": loaded, "rss_empty": empty, "rss": server.rss(),
                     "bytes_per_key": (server.rss() - empty) / loaded,
                     "dbsize": int(server.client.execute("DBSIZE"))})
        log(f"  memory {loaded:>9,} keys: {LRU_NAME} {rows[-1]['bytes_per_key']:6.1f} B/key")
    return {"memory": rows, "bgsave": saves}
