"""Two ways to see where Python time goes: per-thread cProfile, and bytecodes counted.

Where it sits: perf/profile_server.py (the Redis clone) and perf/profile_systems.py
(the load balancer and the rate limiter) profile servers with a thread per connection.
cProfile only sees the thread it was enabled in, so `ThreadProfiles.wrap()` gives every
connection thread a profiler of its own and `report()` merges them, sorted by own time.
cProfile slows every call down, so read its ranking, not its absolute times.

On a busy machine wall-clock numbers wander; `count_bytecodes()` does not: it counts the
bytecodes one call executes (sys.settrace with `f_trace_opcodes`), in this thread only,
per function. Fewer bytecodes for the same work is a faster request on any machine.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import sys
import threading
import time
from collections import Counter
from typing import Callable, TypeVar

T = TypeVar("T")


class ThreadProfiles:
    """A cProfile profiler per wrapped call (one per connection thread), merged on demand.

    By default cProfile reads the wall clock, so a thread's waits (for the GIL, for a
    lock, for the peer) count as the own time of whatever it was running. `cpu_time`
    times with the thread's CPU clock instead: on a busy machine with many threads that
    ranks what the code costs, not where it happened to be descheduled.
    """

    def __init__(self, *, cpu_time: bool = False) -> None:
        self.cpu_time = cpu_time
        self._lock = threading.Lock()  # guards _profiles: connection threads add to it
        self._profiles: list[cProfile.Profile] = []

    def wrap(self, handler: Callable[..., None]) -> Callable[..., None]:
        """`handler`, run under a profiler of its own each time it is called."""
        def profiled(*args) -> None:
            profiler = cProfile.Profile(time.thread_time) if self.cpu_time else cProfile.Profile()
            with self._lock:
                self._profiles.append(profiler)
            profiler.runcall(handler, *args)
        return profiled

    def __len__(self) -> int:
        return len(self._profiles)

    def stats(self) -> pstats.Stats:
        """All the profiles merged (call after the profiled threads have finished)."""
        with self._lock:
            profiles = list(self._profiles)
        if not profiles:
            raise ValueError("nothing was profiled")
        return pstats.Stats(*profiles)

    def report(self, title: str, limit: int = 25) -> str:
        """`title`, then the top `limit` functions by own time (tottime)."""
        out = io.StringIO()
        stats = self.stats()
        stats.stream = out
        clock = "thread CPU time" if self.cpu_time else "wall time"
        out.write(f"{title}; cProfile ({clock}) merged over {len(self)} threads; top functions by own time\n")
        stats.sort_stats("tottime").print_stats(limit)
        return out.getvalue()


def count_bytecodes(call: Callable[[], T]) -> tuple[T, Counter[str]]:
    """`call()`'s result and the bytecodes it executed in this thread, per
    "file.py:function" (other threads and C code are not counted)."""
    counts: Counter[str] = Counter()

    def tracer(frame, event, arg):
        frame.f_trace_opcodes = True
        if event == "opcode":
            code = frame.f_code
            counts[f"{code.co_filename.rsplit('/', 1)[-1]}:{code.co_name}"] += 1
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        result = call()
    finally:
        sys.settrace(previous)
    return result, counts


def count_calls(call: Callable[[], T]) -> tuple[T, int]:
    """`call()`'s result and how many function calls (Python and C) cProfile saw in it."""
    profiler = cProfile.Profile()
    result = profiler.runcall(call)
    return result, pstats.Stats(profiler).total_calls
