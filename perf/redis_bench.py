"""Drive redis-benchmark against our clone and real Redis, interleaved, and parse its output.

Every measurement is one redis-benchmark process against one server. `run_matrix`
walks the grid (test x clients x pipeline) and, for each cell, measures ours and then
real Redis right after it, so that whatever else the machine is doing at that moment
hits both sides of the ratio alike. In the headline cells (the target tests at the
headline client count) the architecture baseline, perf/bare_server.py, runs third.

Two output formats are parsed:

* `--csv`: one row per test with rps and avg/min/p50/p95/p99/max latency (ms);
* the plain report's "Latency by percentile distribution" block, which has the full
  HdrHistogram percentile ladder (50, 75, 87.5, ..., 99.9, ..., 100 %): the latency
  CDF charts and p99.9 come from it.
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
from dataclasses import asdict, dataclass
from typing import Callable

from perf.servers import BASELINE, NAMES, Server

# redis-benchmark's default test list (the names -t takes), in its own order.
DEFAULT_TESTS = ("ping_inline", "ping_mbulk", "set", "get", "incr", "lpush", "rpush", "lpop", "rpop",
                 "sadd", "hset", "spop", "zadd", "zpopmin", "lrange_100", "lrange_300", "lrange_500",
                 "lrange_600", "mset")
TARGET_TESTS = ("SET", "GET", "INCR", "LPUSH", "LPOP", "SADD", "HSET")  # the targets
SETUP_ROW = "LPUSH (needed to benchmark LRANGE)"   # printed by the lrange tests: not a test
SLOW_TESTS = {"lrange_300": 3, "lrange_500": 5, "lrange_600": 6, "mset": 2}  # fewer requests
EVALSHA_SCRIPT = "return redis.call('INCR', KEYS[1])"
_PERCENTILE_LINE = re.compile(r"^\s*([\d.]+)% <= ([\d.]+) milliseconds", re.M)


@dataclass
class Row:
    """One redis-benchmark result line, with what produced it."""
    server: str
    test: str
    clients: int
    pipeline: int
    datasize: int
    requests: int
    rps: float
    avg_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    def key(self) -> tuple:
        return (self.test, self.clients, self.pipeline, self.datasize)


def benchmark_command(port: int, clients: int, pipeline: int, requests: int, datasize: int = 3,
                      *, csv_output: bool = True) -> list[str]:
    command = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", str(clients),
               "-n", str(requests), "-P", str(pipeline), "-d", str(datasize)]
    return command + (["--csv"] if csv_output else [])


def _run(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip() or done.stdout[-300:]}")
    return done.stdout


def parse_csv(text: str) -> list[dict[str, float | str]]:
    """redis-benchmark --csv output -> [{"test": "SET", "rps": ..., "p99_latency_ms": ...}]."""
    rows = []
    for record in csv.DictReader(io.StringIO(text)):
        if record["test"] == SETUP_ROW:
            continue
        rows.append({name: value if name == "test" else float(value) for name, value in record.items()})
    return rows


def parse_percentiles(text: str) -> list[tuple[float, float]]:
    """The plain report's percentile ladder -> [(percentile, ms)], ascending."""
    block = text.split("Latency by percentile distribution:", 1)[-1].split("Cumulative distribution", 1)[0]
    return [(float(p), float(ms)) for p, ms in _PERCENTILE_LINE.findall(block)]


def percentile(ladder: list[tuple[float, float]], wanted: float) -> float:
    """The latency at `wanted` %, as HdrHistogram reports it: the first step at or above it."""
    return next((ms for p, ms in ladder if p >= wanted), ladder[-1][1])


def measure(server: Server, test: str, clients: int, pipeline: int, requests: int,
            datasize: int = 3, *, extra: list[str] | None = None) -> list[Row]:
    """Run one redis-benchmark test (or, with `extra`, a custom command) against `server`."""
    requests = max(requests, clients * 20)  # every client gets a fair share of the run
    command = benchmark_command(server.port, clients, pipeline, requests, datasize)
    command += extra if extra else ["-t", test]
    rows = []
    for record in parse_csv(_run(command)):
        rows.append(Row(server.name, test.upper() if not extra else "EVALSHA", clients, pipeline, datasize,
                        requests, record["rps"], record["avg_latency_ms"], record["p50_latency_ms"],
                        record["p95_latency_ms"], record["p99_latency_ms"], record["max_latency_ms"]))
    return rows


def latency_ladder(server: Server, test: str, clients: int, requests: int, datasize: int = 3) -> dict:
    """The full percentile ladder of one test, for the CDF charts and p99.9."""
    command = benchmark_command(server.port, clients, 1, requests, datasize, csv_output=False)
    ladder = parse_percentiles(_run(command + ["-t", test]))
    return {"server": server.name, "test": test.upper(), "clients": clients, "datasize": datasize,
            "requests": requests, "ladder": ladder,
            **{f"p{name}_ms": percentile(ladder, p) for name, p in (("50", 50), ("99", 99), ("99.9", 99.9))}}


def interleaved(servers: dict[str, Server], run: Callable[[Server], list],
                names: tuple[str, ...] = NAMES) -> list:
    """run(ours), run(real) (, run(bare)): one cell of the grid, back to back."""
    results = []
    for name in names:
        results.extend(run(servers[name]))
    return results


def run_matrix(servers: dict[str, Server], tests: list[str], clients: list[int], pipelines: list[int],
               requests: int, log: Callable[[str], None], baseline_clients: int | None = None) -> list[dict]:
    """Every test at every client count, with and without pipelining; the baseline server
    (when running) joins the target tests at `baseline_clients`."""
    rows = []
    for pipeline in pipelines:
        for count in clients:
            for test in tests:
                n = requests * pipeline // SLOW_TESTS.get(test, 1)
                with_baseline = BASELINE in servers and count == baseline_clients and test.upper() in TARGET_TESTS
                names = NAMES + (BASELINE,) if with_baseline else NAMES
                cell = interleaved(servers, lambda s: measure(s, test, count, pipeline, n), names)
                rows.extend(asdict(row) for row in cell)
                log(_progress(cell))
    return rows


def run_value_sizes(servers: dict[str, Server], sizes: list[int], clients: int, pipelines: list[int],
                    requests: int, log: Callable[[str], None]) -> list[dict]:
    """SET and GET with larger values (-d)."""
    rows = []
    for pipeline in pipelines:
        for size in sizes:
            for test in ("set", "get"):
                cell = interleaved(servers, lambda s: measure(s, test, clients, pipeline,
                                                              requests * pipeline, size))
                rows.extend(asdict(row) for row in cell)
                log(_progress(cell))
    return rows


def run_latency(servers: dict[str, Server], tests: list[str], clients: int, requests: int,
                log: Callable[[str], None]) -> list[dict]:
    results = []
    for test in tests:
        cell = interleaved(servers, lambda s: [latency_ladder(s, test, clients, requests)])
        results.extend(cell)
        log("  latency " + "  ".join(f"{r['server']} {r['test']} p50 {r['p50_ms']:.3f} "
                                     f"p99.9 {r['p99.9_ms']:.3f} ms" for r in cell))
    return results


def run_evalsha(servers: dict[str, Server], clients: int, pipelines: list[int], requests: int,
                log: Callable[[str], None]) -> list[dict]:
    """EVALSHA of a one-line INCR script: the scripting path's cost per call."""
    rows = []
    for pipeline in pipelines:
        def one(server: Server) -> list[Row]:
            sha = server.client.execute("SCRIPT", "LOAD", EVALSHA_SCRIPT).decode()
            return measure(server, "evalsha", clients, pipeline, requests * pipeline,
                           extra=["evalsha", sha, "1", "counter:__rand_int__"])
        cell = interleaved(servers, one)
        rows.extend(asdict(row) for row in cell)
        log(_progress(cell))
    return rows


def _progress(cell: list[Row]) -> str:
    first = cell[0]
    sides = "  ".join(f"{row.server} {row.rps:>10,.0f}/s" for row in cell)
    ratio = cell[0].rps / cell[1].rps if len(cell) >= 2 and cell[1].rps else float("nan")
    return (f"  {first.test:<12} c={first.clients:<3} P={first.pipeline:<2} d={first.datasize:<5} "
            f"{sides}  ratio {ratio:.2f}")
