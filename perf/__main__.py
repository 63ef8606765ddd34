"""`python -m perf [--quick] [--budget SECONDS] ...`: measure, then write the PDF report.

Starts our clone and real redis-server on free loopback ports (no persistence), plus the
bare architecture baseline (perf/bare_server.py) for the headline cells, runs every
section interleaved (ours, real, ours, real...), writes the raw numbers to
<out>/performance.json (+ performance.csv for the redis-benchmark grid) and the report
to <out>/performance.pdf, and prints the summary page. `--quick` uses tiny sizes (the
smoke test); the default sizes fit in about 15 minutes on 2 cores, and `--budget` skips
the optional sections (load balancer, rate limiter) once the time is used up.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from perf import lb_bench, memory, redis_bench, report, systems  # noqa: E402
from perf.servers import INSTALL_HINT, NAMES, missing_tools, running_pair, versions  # noqa: E402

QUICK = {"tests": "set,get,incr", "clients": "1,10", "pipelines": "1,16", "requests": 200,
         "sizes": "3,1024", "memory_keys": "2000,5000", "duration": 0.3, "sections": "core"}
FULL = {"tests": ",".join(redis_bench.DEFAULT_TESTS), "clients": "1,10,50,200", "pipelines": "1,16",
        "requests": 10000, "sizes": "3,1024,10240", "memory_keys": "100000,1000000", "duration": 2.0,
        "sections": "all"}
NOTES = [
    "Client (redis-benchmark), both servers and the OS share the same cores, so a server that needs more "
    "CPU per request also takes CPU away from the load generator; ratios are fairer than absolute numbers.",
    "Our server runs one thread per connection under the GIL: at most one core executes Python at a time, "
    "so throughput does not grow with clients the way an event loop's does not either, but every request "
    "also pays for thread switches and lock hand-offs that Redis's single event loop never does.",
    "With -P 16 Redis parses and replies 16 commands per syscall in C; we do the same number of syscalls "
    "but still interpret every command in Python, which is why pipelined ratios are far lower.",
    "Memory is RSS: Python objects (a bytes key, a bytes value, the dict slot, our per-key metadata) "
    "against Redis's compact sds strings and dictEntry.",
    "Profile (reports/profile.txt, before the optimisation pass): wall time is dominated by recv() and "
    "sendall(), i.e. waiting for the GIL after every system call (two hand-offs per request with 50 "
    "threads); of the CPU time, the largest items were the RESP request parser's general state machine, "
    "enum.Flag tests (`spec.flags & WRITE` builds a Flag object each time, ~6 per command), the "
    "@contextmanager lock wrapper, the RWLock's Condition.wait_for with a lambda, and three Stats "
    "increments under a Lock per request.",
    "First optimisation pass: a fast path in RequestParser for a small complete multibulk command (falls "
    "back to the exact general parser otherwise); CommandSpec precomputes its flag questions (writes, locks, "
    "denyoom, allow_busy, no_multi) once; RWLock takes an uncontended lock without Condition.wait_for, and "
    "later got separate reader and writer queues (EVALSHA at 50 clients 1,389 -> 5,208 req/s).",
    "Second pass (reports/optimisation_server.json): feed() splits whole commands off a fresh recv() with one "
    "C-level split (a 16-command pipeline parses in 19.7 instead of 34.7 us), the buffered fast path reads "
    "length lines with two precompiled regexes; the dispatcher calls acquire()/release() instead of a "
    "@contextmanager, finds commands through a bounded spelling cache, skips the maxmemory hooks without a "
    "maxmemory and the busy-script and MISCONF checks unless a script runs or a save failed, and no longer "
    "bumps three locked counters per request (total_commands_processed and total_net_*_bytes are summed "
    "when read); the RWLock takes its mutex directly and skips notify_all when nobody waits; memory costs "
    "of short keys and values are tabulated. Python bytecodes per SET in the server thread: 2074 -> 1474 "
    "alone, 1138 in a 16-command pipeline. redis-benchmark -c 50, median of three interleaved rounds: +18% "
    "to +29% without pipelining, +74% to +132% with -P 16.",
    "Memory: the keyspace's DenseDict is now a dict plus a list of keys with stale entries (rebuilt when over "
    "half stale, order kept so SCAN's guarantee holds) instead of a key->slot dict with two parallel lists: "
    "1M small keys went from 209.7 to about 146 B/key. Per-key LRU/LFU stamps need a key's position, which "
    "costs a Python int per key, so they are kept only under an LRU or LFU maxmemory-policy (the allkeys-lru "
    "row, about 2.1x); elsewhere OBJECT IDLETIME answers with an error saying so (a documented difference).",
    "Where we stand: the targets (0.6 without pipelining, 0.25 with -P 16) assumed a bare thread-per-"
    "connection server reaches about 0.7 and 0.3 of Redis. On this 2-core machine it reaches about 0.20 and "
    "0.11 (the architecture baseline rows, same run), so the targets are beyond the architecture here. Ours "
    "reaches about 0.7 of bare without pipelining and 0.45 with -P 16: the rest is what our features cost per "
    "command in Python (ACL and MISCONF admission, the RW lock, memory accounting, eviction and blocking hooks, "
    "commandstats). Memory is within its target at 1.50x.",
    "Load balancer and limiter (reports/profile_balancer*.txt, profile_limiter*.txt, optimisation_systems.json): "
    "header lookups lowered every name on each of ~16 calls per request; Headers now keeps a lower-cased index, "
    "heads are split and serialised whole, and no client address is parsed when no proxy is trusted: 5354 -> "
    "4224 bytecodes per proxied request. The limiter's time via Redis is mostly the RESP reply parser.",
]


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version()}


def _list(text: str, kind=int) -> list:
    return [kind(item) for item in text.split(",") if item]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m perf", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test in seconds")
    parser.add_argument("--budget", type=float, default=840.0,
                        help="seconds; optional sections are skipped once past it (default 840)")
    parser.add_argument("--out", default=str(ROOT / "reports"), help="directory for the PDF and raw data")
    parser.add_argument("--tests", help="redis-benchmark tests, comma-separated")
    parser.add_argument("--clients", help="client counts, comma-separated")
    parser.add_argument("--pipelines", help="pipeline depths, comma-separated")
    parser.add_argument("--requests", type=int, help="requests per run without pipelining (x P with it)")
    parser.add_argument("--sizes", help="SET/GET value sizes in bytes, comma-separated")
    parser.add_argument("--memory-keys", help="key counts for the memory section, comma-separated")
    parser.add_argument("--duration", type=float, help="seconds per load balancer / rate limiter row")
    parser.add_argument("--sections", choices=("core", "all"),
                        help="core: the Redis sections only; all: also load balancer and rate limiter")
    parser.add_argument("--before", default=str(ROOT / "reports" / "before.json"),
                        help="raw data of an earlier run to compare with (optimisation before/after)")
    parser.add_argument("--profile", default=str(ROOT / "reports" / "profile.txt"),
                        help="a profile summary to include in the report")
    parser.add_argument("--from-json", metavar="PATH",
                        help="measure nothing: redraw the PDF from an earlier run's performance.json")
    args = parser.parse_args(argv)
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.from_json:
        results = json.loads(Path(args.from_json).read_text())
        report.write_pdf(results, str(out / "performance.pdf"))
        print("\n".join(report.summary_lines(results)))
        return 0
    missing = missing_tools()
    if missing:
        print(f"missing: {', '.join(missing)}. Install with: {INSTALL_HINT}", file=sys.stderr)
        return 2
    started, clock = datetime.datetime.now(datetime.timezone.utc), time.monotonic()
    results: dict = {"skipped": [], "notes": list(NOTES)}

    def log(line: str) -> None:
        print(f"[{time.monotonic() - clock:6.0f}s] {line}", flush=True)

    def within_budget(section: str) -> bool:
        if time.monotonic() - clock < args.budget:
            return True
        results["skipped"].append(f"{section} (time budget of {args.budget:g} s used up)")
        log(f"skipping {section}: over budget")
        return False

    clients, pipelines = _list(args.clients), _list(args.pipelines)
    headline_clients = min(clients, key=lambda c: abs(c - report.HEADLINE_CLIENTS))
    with running_pair(baseline=True) as servers:
        results["meta"] = {**machine(), "versions": versions(servers)}
        log(f"redis-benchmark grid (ours, real, interleaved; bare too at {headline_clients} clients)")
        results["matrix"] = redis_bench.run_matrix(servers, _list(args.tests, str), clients, pipelines,
                                                   args.requests, log, baseline_clients=headline_clients)
        log("value sizes")
        results["value_sizes"] = redis_bench.run_value_sizes(servers, _list(args.sizes), headline_clients,
                                                             pipelines, args.requests, log)
        results["latency"] = redis_bench.run_latency(servers, ["set", "get"], headline_clients,
                                                     args.requests * 2, log)
        results["evalsha"] = redis_bench.run_evalsha(servers, headline_clients, pipelines, args.requests, log)
        if args.sections == "all" and within_budget("rate limiter"):
            log("rate limiter")
            pair = {name: servers[name] for name in NAMES}
            results["ratelimiter"] = systems.run_ratelimiter(pair, [1, 8], args.duration / 2, log)
    results["ratelimit_burst"] = systems.run_ratelimit_burst(log)   # a simulation: instant, always
    log("memory and BGSAVE (fresh servers)")
    results["memory"] = memory.run(_list(args.memory_keys), log)
    if args.sections == "all" and within_budget("load balancer"):
        from load_balancer.strategies import STRATEGIES
        if shutil.which("haproxy") is None:
            results["skipped"].append("HAProxy rows (haproxy is not installed: apt-get install haproxy)")
            log(f"note: {results['skipped'][-1]}")
        if shutil.which("wrk") is None:  # each row records which load generator it used
            log("note: wrk is not installed (apt-get install wrk): Python threads generate the balancer's load")
        log("load balancer")
        algorithms = list(lb_bench.PATTERN_ALGORITHMS) if args.quick else list(STRATEGIES)
        results["balancer"] = systems.run_balancer(args.duration, 16, algorithms, log)
        log("load balancer traffic patterns")
        results["balancer_patterns"] = systems.run_balancer_patterns(args.duration, 16, log)
    elif args.sections != "all":
        results["skipped"].append("load balancer and rate limiter (--sections core)")
    attach(results, args)
    results["meta"].update(started=started.isoformat(timespec="seconds"), mode="quick" if args.quick else "full",
                           elapsed_s=time.monotonic() - clock, options=vars(args))
    _write(results, out)
    print("\n".join(report.summary_lines(results)))
    print(f"\nwrote {out / 'performance.pdf'}, {out / 'performance.json'}, {out / 'performance.csv'}")
    return 0


# Earlier measurements and profiles the report shows beside this run's numbers (files in
# reports/, written by perf.profile_server, perf.profile_systems and the optimisation passes).
ATTACHMENTS = {"optimisation_server": "optimisation_server.json",
               "optimisation_systems": "optimisation_systems.json",
               "profile_balancer": "profile_balancer_before.txt",
               "profile_limiter": "profile_limiter_before.txt"}


def attach(results: dict, args: argparse.Namespace) -> None:
    """Add the earlier runs and profiles that exist (not in --quick runs)."""
    if args.quick:
        return
    paths = {"before": Path(args.before), "profile": Path(args.profile),
             **{name: ROOT / "reports" / file for name, file in ATTACHMENTS.items()}}
    for name, path in paths.items():
        if path.is_file():
            text = path.read_text()
            results[name] = json.loads(text) if path.suffix == ".json" else text


def _write(results: dict, out: Path) -> None:
    (out / "performance.json").write_text(json.dumps(results, indent=1))
    rows = results["matrix"] + results["value_sizes"] + results["evalsha"]
    with open(out / "performance.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    report.write_pdf(results, str(out / "performance.pdf"))


if __name__ == "__main__":
    sys.exit(main())
