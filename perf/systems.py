"""The load balancer and rate limiter sections of the report, by calling their benchmarks.

perf/lb_bench.py and perf/ratelimit_bench.py stay runnable on their own; this module
only calls their functions and returns plain rows for the report's raw data.
"""

from __future__ import annotations

import shutil
from typing import Callable

from perf import lb_bench, ratelimit_bench
from perf.servers import Server
from rate_limiter.algorithms import ALGORITHMS, create
from rate_limiter.stores import RateLimiter, open_store


def run_balancer(duration: float, connections: int, algorithms: list[str],
                 log: Callable[[str], None]) -> list[dict]:
    """req/s and p50/p99: direct, through our balancer (HTTP and TCP), through HAProxy."""
    load = lb_bench.wrk_load if shutil.which("wrk") else lb_bench.python_load
    backends, ports = lb_bench.start_backends(2)
    rows = []
    try:
        for label, start in lb_bench.targets(ports, algorithms):
            with start() as target_ports:   # one balancer process for both modes
                for mode in ("keep-alive", "new-connection"):
                    load(target_ports, connections, min(0.5, duration), mode == "keep-alive")  # warm-up
                    result = load(target_ports, connections, duration, mode == "keep-alive")
                    rows.append(result.as_dict(mode=mode, target=label,
                                               load="wrk" if load is lb_bench.wrk_load else "python threads"))
                    log(f"  lb {mode:<15} {label:<30} {rows[-1]['rps']:>9,.0f} req/s  "
                        f"p99 {rows[-1]['p99_ms']:.2f} ms")
    finally:
        lb_bench.stop_backends(backends)
    return rows


def run_balancer_patterns(duration: float, connections: int, log: Callable[[str], None]) -> list[dict]:
    """Bursts, a ramp of client count and one slow backend: direct / ours / HAProxy."""
    def progress(row: dict) -> None:
        log(f"  lb {row['pattern']:<13} {row['target']:<24} c={row['clients']:<3} {row['rps']:>9,.0f} req/s  "
            f"p99 {row['p99_ms']:.2f} ms")
    return lb_bench.run_patterns(list(lb_bench.PATTERNS), duration, connections, progress)


def run_ratelimiter(servers: dict[str, Server], threads: list[int], duration: float,
                    log: Callable[[str], None]) -> list[dict]:
    """Decisions per second per algorithm: in-process, via our clone, via real Redis."""
    stores = {"in-process": open_store("memory://")}
    stores.update({f"via {name}": open_store(f"redis://127.0.0.1:{server.port}/0", timeout=2.0)
                   for name, server in servers.items()})
    rows = []
    for name in ALGORITHMS:
        for count in threads:
            for store_name, store in stores.items():   # interleaved across stores
                limiter = RateLimiter(create(name, ratelimit_bench.LIMIT), store)
                rate, p50, p99 = ratelimit_bench.measure(limiter, count, 1000, duration)
                rows.append({"algorithm": name, "store": store_name, "threads": count,
                             "decisions_per_s": rate, "p50_ms": p50, "p99_ms": p99})
            log(f"  ratelimit {name:<15} {count} threads: " + "  ".join(
                f"{r['store']} {r['decisions_per_s']:,.0f}/s" for r in rows[-len(stores):]))
    return rows


def run_ratelimit_burst(log: Callable[[str], None]) -> dict:
    """How each algorithm shapes a burst: a pure simulation on a FakeClock (no I/O)."""
    simulation = ratelimit_bench.burst_simulation()
    log("  ratelimit burst simulation, admitted of %d offered: " % sum(simulation["offered"]) + "  ".join(
        f"{name} {sum(admitted)}" for name, admitted in simulation["admitted"].items()))
    return simulation
