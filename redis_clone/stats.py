"""Server-wide counters for INFO stats: commands processed, connections, hits, misses...

Client threads bump these concurrently; `count += 1` on a shared attribute is a
read-modify-write that can lose updates between threads, so increments go through one
small lock. It is held for a few instructions and never while doing I/O.
"""

from __future__ import annotations

import threading
from collections import Counter


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
