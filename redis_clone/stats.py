"""Server-wide counters for INFO stats: commands processed, connections, hits, misses...

Client threads bump these concurrently; `count += 1` on a shared attribute is a
read-modify-write that can lose updates between threads, so increments go through one
small lock. It is held for a few instructions and never while doing I/O.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from typing import Callable


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        # Counters computed from elsewhere when read, instead of bumped under the lock
        # on every command (total_commands_processed is the sum of INFO commandstats'
        # calls; total_net_*_bytes the sum of the clients' own counts). `_bases` holds
        # what a rebased counter read at the last CONFIG RESETSTAT.
        self._derived: dict[str, Callable[[], int]] = {}
        self._bases: dict[str, int] = {}

    def incr(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[name] += amount

    def derive(self, name: str, compute: Callable[[], int], *, rebase: bool = False) -> None:
        """Read `name` as compute(); with `rebase`, as its growth since RESETSTAT (for
        sources that CONFIG RESETSTAT does not zero itself)."""
        self._derived[name] = compute
        if rebase:
            self._bases[name] = 0

    def __getitem__(self, name: str) -> int:
        compute = self._derived.get(name)
        if compute is None:
            return self._counts[name]
        return compute() - self._bases.get(name, 0)

    def reset(self) -> None:
        """CONFIG RESETSTAT."""
        with self._lock:
            self._counts.clear()
            for name in self._bases:
                self._bases[name] = self._derived[name]()


class InstantaneousMetrics:
    """INFO's instantaneous_* gauges, as Redis's trackInstantaneousMetric(): the cron
    samples a counter every SAMPLE_PERIOD seconds, and the gauge is the average rate
    over the last SAMPLES samples (about 1.6 seconds)."""

    SAMPLES = 16
    SAMPLE_PERIOD = 0.1
    TRACKED = {"ops_per_sec": "total_commands_processed",
               "input_kbps": "total_net_input_bytes",
               "output_kbps": "total_net_output_bytes"}

    def __init__(self) -> None:
        self._last: dict[str, tuple[float, int]] = {}   # metric -> (time, counter) at last sample
        self._rates: dict[str, deque[float]] = {name: deque(maxlen=self.SAMPLES) for name in self.TRACKED}

    def sample(self, stats: Stats, now: float) -> None:
        """Called by the cron (monotonic `now`); samples closer than SAMPLE_PERIOD are skipped."""
        for name, counter in self.TRACKED.items():
            value = stats[counter]
            last = self._last.get(name)
            if last is not None:
                elapsed = now - last[0]
                if elapsed < self.SAMPLE_PERIOD:
                    return
                # max(): CONFIG RESETSTAT may have zeroed the counter since the last sample.
                self._rates[name].append(max(0, value - last[1]) / elapsed)
            self._last[name] = (now, value)

    def get(self, name: str) -> float:
        rates = self._rates[name]
        return sum(rates) / len(rates) if rates else 0.0
