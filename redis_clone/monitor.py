"""`python -m redis_clone.monitor`: a live terminal view of a Redis server, and charts over time.

    python -m redis_clone.monitor --port 6379                       # refresh every second
    python -m redis_clone.monitor --once                            # one snapshot, then exit
    python -m redis_clone.monitor --record 30 --plot server.png     # sample 30 s, write charts

Where it sits: outside the server, like redis-cli. Each refresh sends two commands,
`INFO` (stats, clients, memory) and `CLIENT LIST`, through the project's RESP client
(`common/resp_client.py`), so it works against real Redis as well as our clone. It shows
ops/s, connected and blocked clients, memory against maxmemory, the keyspace hit ratio
(hits / (hits + misses)), evictions and expirations per second, and a table of the
connections (address, name, age, idle, last command). `--plot` draws the same figures
over time with matplotlib's Agg backend, so it needs no display.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field

from tabulate import tabulate

from common.resp_client import RedisClient

CLIENT_COLUMNS = ("addr", "name", "age", "idle", "cmd")


def parse_info(text: bytes) -> dict[str, str]:
    """INFO's "field:value" lines -> a dict (section titles and blank lines skipped)."""
    fields = {}
    for line in text.decode("utf-8", "replace").splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition(":")
            fields[name] = value
    return fields


def parse_client_list(text: bytes) -> list[dict[str, str]]:
    """CLIENT LIST's lines of "key=value" words -> one dict per connection."""
    return [dict(word.partition("=")[::2] for word in line.split(" "))
            for line in text.decode("utf-8", "replace").splitlines() if line]


@dataclass
class Snapshot:
    """What one refresh shows; counters are cumulative, rates come from two snapshots."""

    at: float                      # monotonic seconds
    ops_per_sec: int
    connected_clients: int
    blocked_clients: int
    used_memory: int
    maxmemory: int
    keyspace_hits: int
    keyspace_misses: int
    evicted_keys: int
    expired_keys: int
    clients: list[dict[str, str]] = field(default_factory=list)

    @property
    def hit_ratio(self) -> float | None:
        lookups = self.keyspace_hits + self.keyspace_misses
        return self.keyspace_hits / lookups if lookups else None


def take_snapshot(client: RedisClient) -> Snapshot:
    info_text, client_list = client.pipeline([("INFO",), ("CLIENT", "LIST")])
    info = parse_info(info_text)

    def number(name: str) -> int:
        return int(info.get(name, 0))

    return Snapshot(at=time.monotonic(), ops_per_sec=number("instantaneous_ops_per_sec"),
                    connected_clients=number("connected_clients"),
                    blocked_clients=number("blocked_clients"), used_memory=number("used_memory"),
                    maxmemory=number("maxmemory"), keyspace_hits=number("keyspace_hits"),
                    keyspace_misses=number("keyspace_misses"), evicted_keys=number("evicted_keys"),
                    expired_keys=number("expired_keys"), clients=parse_client_list(client_list))


def per_second(now: Snapshot, before: Snapshot | None, name: str) -> float:
    """How fast a cumulative counter grew between two snapshots (0 for the first)."""
    if before is None or now.at <= before.at:
        return 0.0
    return max(0, getattr(now, name) - getattr(before, name)) / (now.at - before.at)


def human(n: float) -> str:
    for unit, scale in (("G", 1024**3), ("M", 1024**2), ("K", 1024)):
        if n >= scale:
            return "%.2f%s" % (n / scale, unit)
    return "%dB" % n


def render(now: Snapshot, before: Snapshot | None, target: str) -> str:
    ratio = now.hit_ratio
    limit = human(now.maxmemory) if now.maxmemory else "no limit"
    header = [
        f"Redis at {target}",
        f"ops/s: {now.ops_per_sec}    clients: {now.connected_clients} connected, "
        f"{now.blocked_clients} blocked",
        f"memory: {human(now.used_memory)} of {limit}    hit ratio: "
        + ("n/a" if ratio is None else "%.1f%%" % (100 * ratio)),
        "evictions/s: %.1f    expirations/s: %.1f" % (per_second(now, before, "evicted_keys"),
                                                       per_second(now, before, "expired_keys")),
        "",
    ]
    rows = [[c.get(column, "") for column in CLIENT_COLUMNS] for c in now.clients]
    table = tabulate(rows, headers=["address", "name", "age (s)", "idle (s)", "last command"])
    return "\n".join(header) + table + "\n"


def record(client: RedisClient, seconds: float, interval: float) -> list[Snapshot]:
    """Sample every `interval` seconds for `seconds` seconds."""
    snapshots = [take_snapshot(client)]
    while snapshots[-1].at - snapshots[0].at < seconds:
        time.sleep(interval)
        snapshots.append(take_snapshot(client))
    return snapshots


def plot(snapshots: list[Snapshot], path: str) -> None:
    """Four charts over time: throughput, clients, memory, hit ratio and churn."""
    import matplotlib
    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    start = snapshots[0].at
    t = [s.at - start for s in snapshots]
    pairs = list(zip(snapshots, [None, *snapshots[:-1]]))
    fig, axes = plt.subplots(4, 1, figsize=(9, 11), sharex=True)
    axes[0].plot(t, [s.ops_per_sec for s in snapshots], label="ops/s")
    axes[0].set_ylabel("commands per second")
    axes[1].plot(t, [s.connected_clients for s in snapshots], label="connected")
    axes[1].plot(t, [s.blocked_clients for s in snapshots], label="blocked")
    axes[1].set_ylabel("clients")
    axes[2].plot(t, [s.used_memory / 1024**2 for s in snapshots], label="used_memory")
    if any(s.maxmemory for s in snapshots):
        axes[2].plot(t, [s.maxmemory / 1024**2 for s in snapshots], "--", label="maxmemory")
    axes[2].set_ylabel("MiB")
    axes[3].plot(t, [100 * (s.hit_ratio or 0) for s in snapshots], label="hit ratio (%)")
    axes[3].plot(t, [per_second(s, b, "evicted_keys") for s, b in pairs], label="evictions/s")
    axes[3].plot(t, [per_second(s, b, "expired_keys") for s, b in pairs], label="expirations/s")
    axes[3].set_xlabel("seconds")
    for ax in axes:
        ax.legend(loc="upper left")
        ax.grid(alpha=0.3)
    fig.suptitle("Redis server over time")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def live(client: RedisClient, interval: float, target: str) -> None:
    before = None
    while True:
        now = take_snapshot(client)
        sys.stdout.write("\x1b[2J\x1b[H" + render(now, before, target))  # clear, then draw
        sys.stdout.flush()
        before = now
        time.sleep(interval)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m redis_clone.monitor", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=6379)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes")
    parser.add_argument("--once", action="store_true", help="print one snapshot and exit")
    parser.add_argument("--record", type=float, metavar="SECONDS", help="sample for SECONDS, then plot")
    parser.add_argument("--plot", metavar="FILE", help="chart file (.png or .pdf) for --record")
    args = parser.parse_args(argv)
    if bool(args.record) != bool(args.plot):
        parser.error("--record and --plot go together")
    client = RedisClient(args.host, args.port, timeout=5.0, connect_timeout=5.0)
    target = f"{args.host}:{args.port}"
    try:
        if args.record:
            plot(record(client, args.record, args.interval), args.plot)
            print(f"wrote {args.plot}")
        elif args.once:
            sys.stdout.write(render(take_snapshot(client), None, target))
        else:
            live(client, args.interval, target)
    except KeyboardInterrupt:
        pass
    except ConnectionError as err:
        print(f"cannot reach {target}: {err}", file=sys.stderr)
        return 1
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
