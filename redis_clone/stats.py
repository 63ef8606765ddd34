"""Server-wide counters for INFO stats: commands processed, connections, hits, misses...

Client threads bump these concurrently; `count += 1` on a shared attribute is a
read-modify-write that can lose updates between threads, so increments go through one
small lock. It is held for a few instructions and never while doing I/O.
"""

from __future__ import annotations

import threading
from collections import Counter, deque


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def incr(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[name] += amount

    def __getitem__(self, name: str) -> int:
        return self._counts[name]

    def reset(self) -> None:
        """CONFIG RESETSTAT."""
        with self._lock:
            self._counts.clear()


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
