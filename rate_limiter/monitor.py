"""`python -m rate_limiter.monitor`: allowed vs limited requests per second, over time.

    python -m rate_limiter.monitor --url http://127.0.0.1:9090/metrics            # live window
    python -m rate_limiter.monitor --url ... --duration 30 --output limits.png    # headless

Where it sits: outside the gateway, like any Prometheus scraper. It polls the admin
port's /metrics (rate_limiter/metrics.py writes it, `common.prometheus.parse` reads it back),
turns the counters' growth between two polls into a rate, and plots one line per
policy and result: allowed solid, limited dashed, shadow-limited dotted. With
`--output` it polls for `--duration` seconds and writes a PNG or PDF (no display
needed); without it, it redraws a window until closed.
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.request
from collections import defaultdict
from typing import Callable

from common.prometheus import parse
from rate_limiter.metrics import RESULTS

STYLES = {"allowed": "-", "limited": "--", "shadow_limited": ":"}


class History:
    """Per-second rates of every (policy, result) counter, from successive snapshots."""

    def __init__(self) -> None:
        self.times: list[float] = []                       # seconds since the first poll
        self.rates: dict[tuple[str, str], list[float]] = defaultdict(list)
        self._start: float | None = None
        self._last: tuple[float, dict[tuple[str, str], float]] | None = None

    def add(self, when: float, text: str) -> None:
        counts = {(dict(labels)["policy"], dict(labels)["result"]): value
                  for (name, labels), value in parse(text).items()
                  if name == "ratelimit_requests_total"}
        if self._last is not None:
            then, before = self._last
            elapsed = max(when - then, 1e-9)
            self.times.append(when - self._start)
            for series in set(counts) | set(self.rates):
                # A counter that went down means the gateway restarted: count from zero.
                growth = counts.get(series, 0) - before.get(series, 0)
                rates = self.rates[series]
                rates.extend([0.0] * (len(self.times) - 1 - len(rates)))  # a new series
                rates.append((growth if growth >= 0 else counts.get(series, 0)) / elapsed)
        else:
            self._start = when
        self._last = (when, counts)


def draw(history: History, axes) -> None:
    axes.clear()
    for policy, result in sorted(history.rates, key=lambda series: (series[0], RESULTS.index(series[1]))):
        rates = history.rates[policy, result]
        axes.plot(history.times, rates, STYLES[result], label=f"{policy} {result.replace('_', ' ')}")
    axes.set_xlabel("seconds")
    axes.set_ylabel("requests per second")
    axes.set_ylim(bottom=0)
    axes.set_title("rate limiter: allowed vs limited")
    if history.rates:
        axes.legend(loc="upper left")
    axes.grid(alpha=0.3)


def poll(url: str, history: History, *, interval: float, until: Callable[[], bool],
         clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
         fetch: Callable[[str], str] | None = None, on_sample: Callable[[], None] = lambda: None) -> None:
    """Fetch the metrics every `interval` seconds until `until()` says stop."""
    fetch = fetch or _fetch
    while not until():
        history.add(clock(), fetch(url))
        on_sample()
        sleep(interval)


def _fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rate_limiter.monitor", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:9090/metrics", help="the gateway's /metrics")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between polls")
    parser.add_argument("--duration", type=float, default=30.0, help="with --output: seconds to record")
    parser.add_argument("--output", metavar="FILE", help="write a PNG or PDF instead of opening a window")
    args = parser.parse_args(argv)
    import matplotlib
    if args.output:
        matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(9, 4.5))
    history = History()
    try:
        if args.output:
            deadline = time.monotonic() + args.duration
            poll(args.url, history, interval=args.interval, until=lambda: time.monotonic() >= deadline)
            draw(history, axes)
            figure.tight_layout()
            figure.savefig(args.output)
            print(f"wrote {args.output} ({len(history.times)} samples)")
        else:
            plt.ion()
            poll(args.url, history, interval=args.interval,
                 until=lambda: not plt.fignum_exists(figure.number),
                 sleep=plt.pause, on_sample=lambda: draw(history, axes))
    except OSError as err:
        print(f"rate_limiter.monitor: cannot read {args.url}: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
