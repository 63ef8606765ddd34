"""Turn the raw numbers of one `python -m perf` run into reports/performance.pdf.

Pages, in order: summary (headline ratios, machine), throughput bars per test, the
architecture baseline (ours / bare / real), the ratio table for the whole grid, scaling
with client count, value sizes, latency percentiles and CDFs, memory and BGSAVE,
EVALSHA, the load balancer (steady load, then bursts, a ramp of clients and one slow
backend) and rate limiter sections when they ran, the rate limiter burst simulation,
the optimisation before/after and profile, and findings.
Everything is computed from the results dict (the same one written as JSON), so the
PDF always matches its raw data. `summary_lines` is also what the terminal shows.
"""

from __future__ import annotations

import statistics
import textwrap
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")  # no display: render straight to the PDF
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402
from tabulate import tabulate  # noqa: E402

from perf.memory import LRU_NAME  # noqa: E402
from perf.redis_bench import TARGET_TESTS  # noqa: E402
from perf.servers import BASELINE  # noqa: E402

COLORS = {"ours": "#d1495b", "redis": "#00798c", "before": "#bbbbbb", BASELINE: "#edae49",
          LRU_NAME: "#f4a5ae", "ours/real": "#d1495b", "bare/real": "#edae49", "ours/bare": "#8d6a9f"}
TARGETS = {1: 0.6, 16: 0.25}   # the throughput targets (ratio at 50 clients) by -P
MEMORY_TARGET = 1.6
HEADLINE_CLIENTS = 50


def _rps(rows: list[dict]) -> dict[tuple, dict[str, float]]:
    """(test, clients, pipeline, datasize) -> {"ours": rps, "redis": rps}."""
    table: dict[tuple, dict[str, float]] = defaultdict(dict)
    for row in rows:
        table[(row["test"], row["clients"], row["pipeline"], row["datasize"])][row["server"]] = row["rps"]
    return table


def _ratio(sides: dict[str, float]) -> float:
    return sides["ours"] / sides["redis"] if sides.get("redis") and "ours" in sides else float("nan")


def headline_clients(results: dict) -> int:
    """50 clients, or the measured count nearest to it (a --quick run has no 50)."""
    counts = {row["clients"] for row in results.get("matrix", [])}
    return min(counts, key=lambda c: abs(c - HEADLINE_CLIENTS)) if counts else HEADLINE_CLIENTS


def headline(results: dict) -> dict[int, dict[str, float]]:
    """{pipeline: {test: ours/real}} for the target tests at `headline_clients`."""
    table = _rps(results.get("matrix", []))
    clients = [headline_clients(results)]
    out: dict[int, dict[str, float]] = {}
    for (test, count, pipeline, size), sides in table.items():
        if clients and count == clients[0] and test in TARGET_TESTS and size == 3:
            out.setdefault(pipeline, {})[test] = _ratio(sides)
    return out


def baseline_ratios(results: dict) -> dict[int, dict[str, dict[str, float]]]:
    """{pipeline: {"ours/real" | "bare/real" | "ours/bare": {test: ratio}}} where the
    architecture baseline ran (the target tests at `headline_clients`)."""
    out: dict[int, dict[str, dict[str, float]]] = {}
    for (test, count, pipeline, size), sides in _rps(results.get("matrix", [])).items():
        if BASELINE in sides and size == 3:
            for name, (top, bottom) in (("ours/real", ("ours", "redis")), ("bare/real", (BASELINE, "redis")),
                                        ("ours/bare", ("ours", BASELINE))):
                value = sides[top] / sides[bottom] if sides.get(top) and sides.get(bottom) else float("nan")
                out.setdefault(pipeline, {}).setdefault(name, {})[test] = value
    return out


def memory_ratio(results: dict) -> tuple[int, float, float | None] | None:
    """(largest key count, ours / real per key, the same under allkeys-lru or None)."""
    rows = results.get("memory", {}).get("memory", [])
    if not rows:
        return None
    largest = max(row["keys"] for row in rows)
    per_key = {row["server"]: row["bytes_per_key"] for row in rows if row["keys"] == largest}
    lru = per_key.get(LRU_NAME)
    return largest, per_key["ours"] / per_key["redis"], lru / per_key["redis"] if lru else None


def _lru_note(memory: tuple[int, float, float | None]) -> str:
    return f"; {memory[2]:.2f}x under allkeys-lru (per-key access stamps)" if memory[2] else ""


def summary_lines(results: dict) -> list[str]:
    meta = results["meta"]
    lines = [f"Machine: {meta['cpu']}, {meta['cores']} cores, {meta['platform']}",
             f"Python {meta['python']}; ours reports {meta['versions'].get('ours')}, "
             f"real redis-server {meta['versions'].get('redis')}; run {meta['started']}, "
             f"{meta['elapsed_s']:.0f} s, mode {meta['mode']}", ""]
    before = {"matrix": results.get("before", {}).get("matrix", [])}
    before_ratios = headline(before) if before["matrix"] else {}
    for pipeline, ratios in sorted(headline(results).items()):
        target = TARGETS.get(pipeline)
        header = ["", *ratios]
        body = [[f"ours/real, -P {pipeline}", *(f"{r:.2f}" for r in ratios.values())]]
        if before_ratios.get(pipeline):
            body.append(["before optimisation", *(f"{before_ratios[pipeline].get(t, float('nan')):.2f}"
                                                  for t in ratios)])
        lines.append(f"Throughput ratio at {headline_clients(results)} clients, -P {pipeline}"
                     + (f" (target >= {target})" if target else "") + ":")
        lines += tabulate(body, headers=header, tablefmt="simple", disable_numparse=True).splitlines() + [""]
    for pipeline, ratios in sorted(baseline_ratios(results).items()):
        tests = list(next(iter(ratios.values())))
        lines.append(f"Architecture baseline (bare thread-per-connection server), -P {pipeline}:")
        body = [[name, *(f"{by_test[t]:.2f}" for t in tests)] for name, by_test in ratios.items()]
        lines += tabulate(body, headers=["", *tests], tablefmt="simple", disable_numparse=True).splitlines() + [""]
    memory = memory_ratio(results)
    if memory:
        lines.append(f"Memory per key at {memory[0]:,} small keys: {memory[1]:.2f}x real Redis "
                     f"(target <= {MEMORY_TARGET}x){_lru_note(memory)}")
    for item in results.get("skipped", []):
        lines.append(f"Not measured: {item}")
    return lines


# --- pages -----------------------------------------------------------------------

def _text_page(pdf: PdfPages, title: str, lines: list[str], size: float = 8.5) -> None:
    fig = plt.figure(figsize=(11, 8.5))
    fig.text(0.05, 0.95, title, fontsize=16, weight="bold", va="top")
    fig.text(0.05, 0.90, "\n".join(lines), fontsize=size, family="monospace", va="top")
    pdf.savefig(fig)
    plt.close(fig)


def _bars(ax, labels: list[str], series: dict[str, list[float]], ylabel: str, log: bool = False) -> None:
    width = 0.8 / len(series)
    for i, (name, values) in enumerate(series.items()):
        xs = [x + (i - (len(series) - 1) / 2) * width for x in range(len(labels))]
        ax.bar(xs, values, width, label=name, color=COLORS.get(name))
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)


def _throughput_page(pdf: PdfPages, results: dict) -> None:
    table = _rps(results["matrix"])
    clients = sorted({k[1] for k in table}, key=lambda c: abs(c - HEADLINE_CLIENTS))[0]
    pipelines = sorted({k[2] for k in table})
    fig, axes = plt.subplots(len(pipelines), 1, figsize=(11, 8.5), squeeze=False)
    for ax, pipeline in zip(axes[:, 0], pipelines):
        keys = [k for k in table if k[1] == clients and k[2] == pipeline]
        labels = [k[0] for k in keys]
        _bars(ax, labels, {s: [table[k].get(s, 0) for k in keys] for s in ("ours", "redis")},
              "requests/s (log)", log=True)
        ratios = [_ratio(table[k]) for k in keys]
        for x, ratio in enumerate(ratios):
            ax.annotate(f"{ratio:.2f}", (x, ax.get_ylim()[0]), xytext=(0, 3), textcoords="offset points",
                        ha="center", fontsize=7)
        ax.set_title(f"redis-benchmark tests, {clients} clients, -P {pipeline} (numbers: ours/real)")
    fig.tight_layout()
    pdf.savefig(fig)
    plt.close(fig)


def _baseline_page(pdf: PdfPages, results: dict) -> None:
    ratios = baseline_ratios(results)
    if not ratios:
        return
    table = _rps(results["matrix"])
    fig, axes = plt.subplots(len(ratios), 2, figsize=(11, 8.5), squeeze=False)
    for (left, right), pipeline in zip(axes, sorted(ratios)):
        keys = [k for k in table if k[2] == pipeline and BASELINE in table[k] and k[3] == 3]
        clients = keys[0][1]
        _bars(left, [k[0] for k in keys], {s: [table[k].get(s, 0) for k in keys] for s in ("ours", BASELINE, "redis")},
              "requests/s (log)", log=True)
        left.set_title(f"{clients} clients, -P {pipeline}: ours, bare, real Redis")
        _bars(right, [k[0] for k in keys], {name: [by_test[k[0]] for k in keys]
                                            for name, by_test in ratios[pipeline].items()}, "ratio")
        right.set_title(f"-P {pipeline}: ratios")
    fig.suptitle("Architecture baseline: a bare thread-per-connection Python server (perf/bare_server.py: "
                 "a dict and 8 commands)\nbare/real is the ceiling of the architecture; ours/bare is what "
                 "our features cost on top of it", fontsize=10)
    fig.tight_layout()
    pdf.savefig(fig)
    plt.close(fig)


def _ratio_table_page(pdf: PdfPages, results: dict) -> None:
    table = _rps(results["matrix"])
    columns = sorted({(k[2], k[1]) for k in table})
    tests = list(dict.fromkeys(k[0] for k in table))
    body = [[test, *(f"{_ratio(table.get((test, c, p, 3), {})):.2f}" for p, c in columns)] for test in tests]
    headers = ["test", *(f"P{p} c{c}" for p, c in columns)]
    _text_page(pdf, "Throughput ratio ours / real Redis, every test and client count",
               tabulate(body, headers=headers, tablefmt="simple").splitlines()
               + ["", "c = parallel clients (-c), P = pipeline depth (-P). 1.00 would be parity."])


def _scaling_page(pdf: PdfPages, results: dict) -> None:
    table = _rps(results["matrix"])
    pipelines = sorted({k[2] for k in table})
    tests = [t for t in ("SET", "GET", "INCR", "LPUSH") if any(k[0] == t for k in table)]
    fig, axes = plt.subplots(1, len(pipelines), figsize=(11, 8.5), squeeze=False)
    for ax, pipeline in zip(axes[0], pipelines):
        for test in tests:
            keys = sorted((k for k in table if k[0] == test and k[2] == pipeline), key=lambda k: k[1])
            for server, style in (("ours", "-o"), ("redis", "--s")):
                ax.plot([k[1] for k in keys], [table[k].get(server, 0) for k in keys], style,
                        label=f"{test} {server}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("parallel clients")
        ax.set_ylabel("requests/s")
        ax.set_title(f"Scaling with client count, -P {pipeline}")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    pdf.savefig(fig)
    plt.close(fig)


def _value_size_page(pdf: PdfPages, results: dict) -> None:
    table = _rps(results.get("value_sizes", []))
    if not table:
        return
    fig, axes = plt.subplots(1, 1, figsize=(11, 8.5), squeeze=False)
    keys = sorted(table, key=lambda k: (k[2], k[0], k[3]))
    labels = [f"{k[0]} {k[3]} B P{k[2]}" for k in keys]
    _bars(axes[0, 0], labels, {s: [table[k].get(s, 0) for k in keys] for s in ("ours", "redis")},
          "requests/s (log)", log=True)
    axes[0, 0].set_title(f"SET/GET by value size, {keys[0][1]} clients")
    fig.tight_layout()
    pdf.savefig(fig)
    plt.close(fig)


def _latency_page(pdf: PdfPages, results: dict) -> None:
    runs = results.get("latency", [])
    if not runs:
        return
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 8.5))
    for run in runs:
        ladder = run["ladder"]
        tail = [100 - p for p, _ in ladder]
        right.plot([ms for _, ms in ladder], [max(t, 0.001) for t in tail],
                   "-" if run["server"] == "ours" else "--", label=f"{run['test']} {run['server']}")
    right.set_xscale("log")
    right.set_yscale("log")
    right.invert_yaxis()
    right.set_xlabel("latency (ms)")
    right.set_ylabel("% of requests slower (log)")
    right.set_title("Latency CDF (tail up)")
    right.legend(fontsize=8)
    right.grid(alpha=0.3)
    labels, series = [], {"ours": [], "redis": []}
    for test in dict.fromkeys(r["test"] for r in runs):
        for name in ("p50", "p99", "p99.9"):
            labels.append(f"{test} {name}")
            for server in series:
                match = [r for r in runs if r["test"] == test and r["server"] == server]
                series[server].append(match[0][f"{name}_ms"] if match else 0)
    _bars(left, labels, series, "ms (log)", log=True)
    left.set_title(f"Latency percentiles, {runs[0]['clients']} clients, no pipelining")
    fig.tight_layout()
    pdf.savefig(fig)
    plt.close(fig)


def _memory_page(pdf: PdfPages, results: dict) -> None:
    data = results.get("memory", {})
    rows = data.get("memory", [])
    if not rows:
        return
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 8.5))
    counts = sorted({r["keys"] for r in rows})
    per = {(r["server"], r["keys"]): r["bytes_per_key"] for r in rows}
    servers = list(dict.fromkeys(r["server"] for r in rows))  # ours, redis, ours (allkeys-lru)
    _bars(left, [f"{c:,} keys" for c in counts],
          {s: [per.get((s, c), 0) for c in counts] for s in servers}, "bytes per key (RSS)")
    left.set_title("Memory per small key (3-byte values)\n(allkeys-lru: our tables also keep access stamps)")
    lines = tabulate([[r["server"], f"{r['keys']:,}", f"{r['rss_empty'] / 2**20:.1f}", f"{r['rss'] / 2**20:.1f}",
                       f"{r['bytes_per_key']:.1f}"] for r in rows],
                     headers=["server", "keys", "RSS empty MiB", "RSS MiB", "B/key"]).splitlines()
    saves = data.get("bgsave", [])
    if saves:
        lines += ["", "BGSAVE at %s keys:" % f"{saves[0]['keys']:,}"]
        lines += tabulate([[s["server"], f"{s['seconds']:.2f}", f"{s['max_ping_stall_ms']:.1f}", s["status"]]
                           for s in saves], headers=["server", "seconds", "worst PING ms", "status"]).splitlines()
    evals = _rps(results.get("evalsha", []))
    if evals:
        lines += ["", "EVALSHA (INCR in a one-line script):"]
        lines += tabulate([[f"c{k[1]} P{k[2]}", f"{v.get('ours', 0):,.0f}", f"{v.get('redis', 0):,.0f}",
                            f"{_ratio(v):.2f}"] for k, v in evals.items()],
                          headers=["", "ours/s", "redis/s", "ratio"]).splitlines()
    right.axis("off")
    right.text(0, 1, "\n".join(lines), family="monospace", fontsize=8, va="top")
    fig.tight_layout()
    pdf.savefig(fig)
    plt.close(fig)


def _balancer_page(pdf: PdfPages, results: dict) -> None:
    rows = results.get("balancer", [])
    if not rows:
        return
    fig, axes = plt.subplots(2, 1, figsize=(11, 8.5))
    for ax, mode in zip(axes, ("keep-alive", "new-connection")):
        mine = [r for r in rows if r["mode"] == mode]
        ax.barh([r["target"] for r in mine], [r["rps"] for r in mine],
                color=["#00798c" if r["target"].startswith("haproxy") else "#999999" if r["target"] == "direct"
                       else "#d1495b" for r in mine])
        for y, r in enumerate(mine):
            ax.annotate(f"p50 {r['p50_ms']:.2f} / p99 {r['p99_ms']:.2f} ms", (r["rps"], y), fontsize=7,
                        xytext=(3, -3), textcoords="offset points")
        ax.set_title(f"Load balancer, {mode}: req/s (load: {mine[0]['load'] if mine else '-'})")
        ax.set_xlabel("requests/s")
        ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    pdf.savefig(fig)
    plt.close(fig)


def _target_color(target: str) -> str:
    return "#00798c" if target.startswith("haproxy") else "#999999" if target == "direct" else "#d1495b"


def _balancer_patterns_pages(pdf: PdfPages, results: dict) -> None:
    rows = results.get("balancer_patterns", [])
    if not rows:
        return
    fig, axes = plt.subplots(2, 2, figsize=(11, 8.5))
    panels = (("bursts", "rps", "requests/s over the run"), ("bursts", "p99_ms", "p99 of burst requests (ms)"),
              ("slow-backend", "rps", "requests/s"), ("slow-backend", "p99_ms", "p99 (ms)"))
    for ax, (pattern, field, label) in zip(axes.flat, panels):
        mine = [r for r in rows if r["pattern"] == pattern]
        ax.barh([r["target"] for r in mine], [r[field] for r in mine],
                color=[_target_color(r["target"]) for r in mine])
        for y, r in enumerate(mine):
            ax.annotate(f"{r[field]:,.0f}" if field == "rps" else f"{r[field]:.1f}  (p50 {r['p50_ms']:.2f})",
                        (r[field], y), fontsize=7, xytext=(3, -3), textcoords="offset points")
        ax.set_xlabel(label)
        ax.tick_params(axis="y", labelsize=8)
        clients = mine[0]["clients"] if mine else "-"
        ax.set_title(f"bursts: {clients} clients connect and send together, then idle" if pattern == "bursts"
                     else f"one of 3 backends {mine[0]['slow_ms']:g} ms slower, {clients} clients", fontsize=9)
    fig.suptitle("Load balancer traffic patterns (HTTP, keep-alive, Python-thread load). With one slow backend "
                 "round-robin keeps\nsending it a third of the requests; least-connections sends it only what "
                 "the fast ones leave", fontsize=10)
    fig.tight_layout()
    pdf.savefig(fig)
    plt.close(fig)
    ramp = [r for r in rows if r["pattern"] == "ramp"]
    if not ramp:
        return
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 8.5))
    for target in dict.fromkeys(r["target"] for r in ramp):
        mine = [r for r in ramp if r["target"] == target]
        style = "--" if "least" in target or "leastconn" in target else "-"
        for ax, field in ((top, "rps"), (bottom, "p99_ms")):
            ax.plot([r["clients"] for r in mine], [r[field] for r in mine], style + "o",
                    color=_target_color(target), label=target)
    for ax, label in ((top, "requests/s"), (bottom, "p99 (ms, log)")):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("parallel clients (one step each)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    bottom.set_yscale("log")
    top.set_title("Load balancer: a ramp of client count, direct vs ours vs HAProxy (keep-alive)")
    fig.tight_layout()
    pdf.savefig(fig)
    plt.close(fig)


def _ratelimit_burst_page(pdf: PdfPages, results: dict) -> None:
    simulation = results.get("ratelimit_burst")
    if not simulation:
        return
    tick = simulation["tick_s"]
    times = [i * tick for i in range(len(simulation["offered"]))]
    fig, axes = plt.subplots(3, 2, figsize=(11, 8.5), sharex=True, sharey=True)
    for ax, (name, admitted) in zip(axes.flat, simulation["admitted"].items()):
        ax.step(times, simulation["offered"], where="post", color="#999999", label="offered")
        ax.step(times, admitted, where="post", color="#d1495b", label="admitted")
        ax.axhline(simulation["limit_per_tick"], color="black", linestyle=":", linewidth=0.8, label="limit rate")
        ax.set_title(f"{name}: {sum(admitted)} of {sum(simulation['offered'])} admitted", fontsize=9)
        ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("time (s)")
    for ax in axes[:, 0]:
        ax.set_ylabel(f"requests per {tick * 1000:.0f} ms")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"Rate limiter: how each algorithm shapes a burst (one key, limit {simulation['limit']})",
                 fontsize=11)
    fig.text(0.5, 0.005, "A pure simulation, not a measurement: every algorithm decides the same offered "
             "requests against the in-process store on a fake clock (no sleeping, no network), so the "
             "chart is exact and the same on every machine.", ha="center", fontsize=8, wrap=True)
    fig.tight_layout(rect=(0, 0.03, 1, 0.97))
    pdf.savefig(fig)
    plt.close(fig)


def _ratelimiter_page(pdf: PdfPages, results: dict) -> None:
    rows = results.get("ratelimiter", [])
    if not rows:
        return
    threads = max(r["threads"] for r in rows)
    mine = [r for r in rows if r["threads"] == threads]
    algorithms = list(dict.fromkeys(r["algorithm"] for r in mine))
    stores = list(dict.fromkeys(r["store"] for r in mine))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 8.5))
    series = {s: [next(r["decisions_per_s"] for r in mine if r["algorithm"] == a and r["store"] == s)
                  for a in algorithms] for s in stores}
    _bars(top, algorithms, series, "decisions/s (log)", log=True)
    top.set_title(f"Rate limiter decisions per second, {threads} threads")
    bottom.axis("off")
    bottom.text(0, 1, tabulate([[r["algorithm"], r["store"], r["threads"], f"{r['decisions_per_s']:,.0f}",
                                 f"{r['p50_ms']:.3f}", f"{r['p99_ms']:.3f}"] for r in rows],
                               headers=["algorithm", "store", "threads", "decisions/s", "p50 ms", "p99 ms"]),
                family="monospace", fontsize=6.5, va="top")
    fig.tight_layout()
    pdf.savefig(fig)
    plt.close(fig)


def _before_after_page(pdf: PdfPages, results: dict) -> None:
    before = results.get("before")
    if not before:
        return
    now, then = _rps(results["matrix"]), _rps(before["matrix"])
    keys = [k for k in then if k in now]
    if not keys:
        return
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 8.5))
    for ax, pipeline in ((top, 1), (bottom, 16)):
        mine = [k for k in keys if k[2] == pipeline]
        _bars(ax, [k[0] for k in mine], {"before": [_ratio(then[k]) for k in mine],
                                         "ours": [_ratio(now[k]) for k in mine]}, "ours / real Redis")
        if pipeline in TARGETS:
            ax.axhline(TARGETS[pipeline], color="black", linestyle=":", label="target")
        ax.set_title(f"Optimisation: ratio before ({before.get('label', '')}) and after, "
                     f"{mine[0][1] if mine else ''} clients, -P {pipeline}")
    fig.tight_layout()
    pdf.savefig(fig)
    plt.close(fig)


def findings(results: dict) -> list[str]:
    """The findings page: what the numbers say, computed where possible."""
    out = []
    for pipeline, ratios in sorted(headline(results).items()):
        if ratios:
            worst = min(ratios, key=ratios.get)
            best = max(ratios, key=ratios.get)
            target = TARGETS.get(pipeline, 0)
            met = [t for t, r in ratios.items() if r >= target]
            out.append(f"-P {pipeline}: ours reaches {ratios[worst]:.2f} ({worst}) to {ratios[best]:.2f} ({best}) "
                       f"of real Redis; target {target} met by {len(met)}/{len(ratios)} target commands.")
    for pipeline, ratios in sorted(baseline_ratios(results).items()):
        medians = {name: statistics.median(by_test.values()) for name, by_test in ratios.items()}
        out.append(f"-P {pipeline}, architecture baseline: the bare thread-per-connection server reaches "
                   f"{medians['bare/real']:.2f} of real Redis (median over the target commands), so the "
                   f"architecture alone caps the ratio near there; ours reaches {medians['ours/bare']:.2f} of bare.")
    slow = {r["target"]: r["rps"] for r in results.get("balancer_patterns", []) if r["pattern"] == "slow-backend"}
    for rr, lc in (("lb round-robin", "lb least-connections"), ("haproxy roundrobin", "haproxy leastconn")):
        if slow.get(rr) and lc in slow:
            out.append(f"One slow backend: {lc} serves {slow[lc] / slow[rr]:.1f}x the requests/s of {rr}.")
    memory = memory_ratio(results)
    if memory:
        out.append(f"Memory: {memory[1]:.2f}x real Redis per key at {memory[0]:,} keys "
                   f"({'within' if memory[1] <= MEMORY_TARGET else 'above'} the {MEMORY_TARGET}x target)"
                   f"{_lru_note(memory)}.")
    out += results.get("notes", [])
    return [line for item in out for line in textwrap.wrap(item, 110, subsequent_indent="  ")] + [""]


def _optimisation_pages(pdf: PdfPages, results: dict) -> None:
    """The second pass on the clone (before/after), and the balancer's and limiter's
    profiles with their before/after figures."""
    server = results.get("optimisation_server")
    if server:
        lines = textwrap.wrap(server["method"], 110)
        for run in server["runs"]:
            rows = [[key.replace(":", " "), f"{v['before']:,.0f}", f"{v['after']:,.0f}",
                     f"{v['after'] / v['before']:.2f}x", f"{v['after'] / v['real']:.3f}"]
                    for key, v in sorted(run["rps"].items(), key=lambda kv: (len(kv[0]), kv[0]))]
            lines += ["", f"after = {run['after']}:"] + tabulate(
                rows, headers=["-P, test", "before req/s", "after req/s", "gain", "after/real"]).splitlines()
        _text_page(pdf, "Second optimisation pass on the clone: before and after", lines, 7.5)
    systems = results.get("optimisation_systems")
    if not systems:
        return
    lines = []
    for part, data in systems.items():
        lines += [f"{part}: {data['method']}"]
        before, after = data["before"], data["after"]
        if "bytecodes_per_request" in before:
            lines.append(f"  bytecodes per request {before['bytecodes_per_request']:,.0f} -> "
                         f"{after['bytecodes_per_request']:,.0f}; calls {before['calls_per_request']:,.0f} -> "
                         f"{after['calls_per_request']:,.0f}")
            lines.append("  top costs before: " + ", ".join(f"{name} {count:.0f}" for name, count
                                                          in list(before["top_functions"].items())[:6]))
        else:
            for case, figures in before.items():
                if "bytecodes" in figures and case in after:  # one row per algorithm and store
                    lines.append(f"  {case}: bytecodes {figures['bytecodes']} -> {after[case]['bytecodes']}")
        lines.append("")
    lines = [piece for line in lines for piece in (textwrap.wrap(line, 110, subsequent_indent="    ") or [""])]
    for name in ("profile_balancer", "profile_limiter"):
        if results.get(name):
            lines += results[name].splitlines()[:17] + [""]
    _text_page(pdf, "Load balancer and rate limiter: profiles and optimisation", lines, 6.5)


def write_pdf(results: dict, path: str) -> None:
    with PdfPages(path) as pdf:
        _text_page(pdf, "Redis clone performance vs real Redis", summary_lines(results), size=9)
        if results.get("matrix"):
            _throughput_page(pdf, results)
            _baseline_page(pdf, results)
            _ratio_table_page(pdf, results)
            _scaling_page(pdf, results)
        _value_size_page(pdf, results)
        _latency_page(pdf, results)
        _memory_page(pdf, results)
        _balancer_page(pdf, results)
        _balancer_patterns_pages(pdf, results)
        _ratelimiter_page(pdf, results)
        _ratelimit_burst_page(pdf, results)
        _before_after_page(pdf, results)
        if results.get("profile"):
            _text_page(pdf, "Where our server spends its time (profile)", results["profile"].splitlines()[:60], 7)
        _optimisation_pages(pdf, results)
        _text_page(pdf, "Findings", findings(results), size=9)
        info = pdf.infodict()
        info["Title"] = "Redis clone performance report"
