"""What every fuzz test holds a parser to: bounded time and bounded memory per input.

`bounded()` wraps one example. A parser that loops forever is interrupted by SIGALRM
(pure Python loops see the signal between bytecodes) and the example fails with
`Hang`; the bound is about 100 times a normal example, so neither a loaded machine nor
a garbage-collection pause trips it. One whose peak allocation exceeds `max_bytes`
(tracemalloc) fails with `HugeAllocation`, which catches lengths read from the input
being trusted to size a buffer. Hypothesis then shrinks the input to a minimal reproducer.
"""

from __future__ import annotations

import signal
import tracemalloc
from contextlib import contextmanager
from typing import Iterator

from hypothesis import HealthCheck, settings

# The whole fuzz set must fit in ~30 s on two cores; each test gets a share of examples.
# Derandomized: the suite explores the same inputs every run, so it never flakes. For a
# longer hunt, raise max_examples and drop derandomize in a local run.
FUZZ = settings(max_examples=1000, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FUZZ_SLOW = settings(FUZZ, max_examples=300)  # for inputs that each cost milliseconds


class Hang(AssertionError):
    """The parser did not return within its time bound."""


class HugeAllocation(AssertionError):
    """The parser allocated far more than its input could justify."""


@contextmanager
def bounded(seconds: float = 5.0, max_bytes: int | None = None) -> Iterator[None]:
    def expire(signum, frame):
        raise Hang(f"no result within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    if max_bytes is not None:
        tracemalloc.start()
    try:
        yield
        if max_bytes is not None:
            peak = tracemalloc.get_traced_memory()[1]
            if peak > max_bytes:
                raise HugeAllocation(f"peak allocation {peak} bytes, over {max_bytes}")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if max_bytes is not None:
            tracemalloc.stop()


def chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    """`data` split at the given offsets (taken modulo its length), as recv() might."""
    points = sorted({cut % (len(data) + 1) for cut in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:])]
