"""Rate-limit decisions per second and their p50/p99 latency, in-process and via Redis.

    .venv/bin/python perf/ratelimit_bench.py [--duration 2] [--threads 1,8] [--keys 1000]
                                             [--redis redis://127.0.0.1:6379/0] [--burst]

Each algorithm runs in a closed loop: `--threads` threads each ask `allow()` for a key
drawn from `--keys` keys as soon as the last answer is in, for `--duration` seconds.
The memory store is the in-process number; the Redis store adds one EVALSHA round
trip per decision. Without `--redis`, a throwaway redis-server is started on a free
port when one is installed; point `--redis` at our clone (`python -m redis_clone`)
to measure it instead. Client and server share the machine's cores.

`--burst` prints the burst simulation instead (`burst_simulation`): one key, a load
that is steady and then bursts, every algorithm deciding every request against a
FakeClock and the in-process store. No sleeping and no threads, so it takes well under
a second and gives the same numbers on every machine: it shows how each algorithm
shapes a burst, not how fast it decides.
"""

from __future__ import annotations

import argparse
import random
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tabulate import tabulate  # noqa: E402

from common.clock import FakeClock  # noqa: E402
from rate_limiter.algorithms import ALGORITHMS, Limit, create  # noqa: E402
from rate_limiter.stores import MemoryStore, RateLimiter, Store, open_store  # noqa: E402

LIMIT = Limit(1000, 1.0)  # generous, so most decisions take the "allowed" path and write
BURST_LIMIT = Limit(50, 1.0)  # 50 a second; the buckets hold 50 (burst = rate)
TICK = 0.1  # seconds per step of the burst simulation


def measure(limiter: RateLimiter, threads: int, keys: int, duration: float) -> tuple[float, float, float]:
    """(decisions per second, p50 ms, p99 ms)."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    start = threading.Barrier(threads + 1)
    stop_at = [0.0]

    def work(slot: int) -> None:
        rng = random.Random(slot)
        mine = latencies[slot]
        start.wait()
        while (now := time.perf_counter()) < stop_at[0]:
            limiter.allow(f"client-{rng.randrange(keys)}")
            mine.append(time.perf_counter() - now)

    workers = [threading.Thread(target=work, args=(slot,)) for slot in range(threads)]
    for worker in workers:
        worker.start()
    stop_at[0] = time.perf_counter() + duration
    start.wait()
    for worker in workers:
        worker.join()
    merged = sorted(latency for mine in latencies for latency in mine)
    percentile = statistics.quantiles(merged, n=100)
    return len(merged) / duration, percentile[49] * 1000, percentile[98] * 1000


def offered_load(seconds: float = 10.0, steady: int = 3, burst: int = 20) -> list[int]:
    """Requests offered per tick: `steady` (30/s, under the limit) with two one-second
    bursts of `burst` per tick (200/s) starting at 2 s and at 5.5 s."""
    return [burst if 20 <= tick < 30 or 55 <= tick < 65 else steady for tick in range(round(seconds / TICK))]


def burst_simulation(limit: Limit = BURST_LIMIT, offered: list[int] | None = None) -> dict:
    """Every algorithm decides the same offered load for one key; admitted per tick.

    Within a tick the requests are spread evenly; the FakeClock is set to each
    request's exact time, so the run is reproducible to the request.
    """
    offered = offered_load() if offered is None else offered
    admitted = {}
    for name in ALGORITHMS:
        clock = FakeClock()
        limiter = RateLimiter(create(name, limit), MemoryStore(clock))
        per_tick = []
        for tick, count in enumerate(offered):
            passed = 0
            for i in range(count):
                clock.advance(max(0.0, (tick + i / count) * TICK - clock.monotonic()))
                passed += limiter.allow("one-key").allowed
            per_tick.append(passed)
        admitted[name] = per_tick
    return {"tick_s": TICK, "limit": str(limit), "limit_per_tick": limit.per_second * TICK,
            "offered": offered, "admitted": admitted}


@contextmanager
def throwaway_redis():
    """A redis-server on a free port for the length of the run, or None if not installed."""
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([binary, "--port", str(port), "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


def run(stores: dict[str, Store], threads: list[int], keys: int, duration: float) -> list[list]:
    rows = []
    for store_name, store in stores.items():
        for name in ALGORITHMS:
            limiter = RateLimiter(create(name, LIMIT), store)
            for count in threads:
                rate, p50, p99 = measure(limiter, count, keys, duration)
                rows.append([store_name, name, count, f"{rate:,.0f}", f"{p50:.3f}", f"{p99:.3f}"])
                print(f"  {store_name:6} {name:15} {count:2} threads: {rate:9,.0f}/s", file=sys.stderr)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--threads", default="1,8", help="comma-separated thread counts")
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--redis", help="a Redis URL; default: start a throwaway redis-server")
    parser.add_argument("--burst", action="store_true", help="print the burst simulation and stop")
    args = parser.parse_args()
    if args.burst:
        simulation = burst_simulation()
        print(f"limit {simulation['limit']}; requests per {TICK:g} s tick, offered and admitted")
        print(tabulate([[f"{tick * TICK:.1f}", offered, *(simulation["admitted"][name][tick] for name in ALGORITHMS)]
                        for tick, offered in enumerate(simulation["offered"])],
                       headers=["t (s)", "offered", *ALGORITHMS], tablefmt="github"))
        return 0
    threads = [int(n) for n in args.threads.split(",")]
    with throwaway_redis() if args.redis is None else nullcontext(args.redis) as url:
        stores = {"memory": open_store("memory://")}
        if url is not None:
            stores["redis"] = open_store(url, timeout=1.0)
        else:
            print("redis-server not found: measuring the memory store only", file=sys.stderr)
        rows = run(stores, threads, args.keys, args.duration)
    print(tabulate(rows, headers=["store", "algorithm", "threads", "decisions/s", "p50 ms", "p99 ms"],
                   tablefmt="github", colalign=("left", "left", "right", "right", "right", "right")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
