"""Draw docs/img/ratelimit-*.png: every algorithm facing the same burst, on a fake clock.

    .venv/bin/python docs/rate_limiter_figures.py

The traffic is the same for all: one request at t=0, then 15 requests a second from
t=8 to t=12 (a burst across the 10-second border of a window opened at t=0), then 2 a
second until t=30. The limit is 10 per 10 s; the buckets hold 10 and refill 1 a second.
Each picture shows every request (admitted or refused, and for the leaky queue when it
leaves), and how many were admitted in the 10 seconds before each moment: the number
a client of the upstream would count.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common.clock import FakeClock  # noqa: E402
from rate_limiter.algorithms import Limit, create  # noqa: E402
from rate_limiter.stores import MemoryStore, RateLimiter  # noqa: E402

OUT = ROOT / "docs" / "img"
LIMIT = Limit(10, 10.0)
CASES = [  # (file name, algorithm, options, title)
    ("token-bucket", "token-bucket", {}, "token bucket: the burst, then 1 a second"),
    ("leaky-bucket", "leaky-bucket", {}, "leaky bucket as a meter: the same as the token bucket"),
    ("leaky-queue", "leaky-bucket", {"mode": "queue"}, "leaky bucket as a queue: delayed, not refused"),
    ("fixed-window", "fixed-window", {}, "fixed window: 10 before the border and 10 after it"),
    ("sliding-log", "sliding-log", {}, "sliding log: never more than 10 in any 10 s"),
    ("sliding-window", "sliding-window", {}, "sliding window: the log's estimate in O(1)"),
    ("gcra", "gcra", {}, "GCRA: the token bucket as one timestamp"),
]


def traffic() -> list[float]:
    burst = [8 + i / 15 for i in range(60)]          # 15 a second, t = 8 .. 12
    steady = [12 + i / 2 for i in range(1, 37)]      # 2 a second, t = 12.5 .. 30
    return [0.0, *burst, *steady]


def replay(name: str, options: dict) -> list[tuple[float, bool, float]]:
    """(arrival, admitted, departure) for every request."""
    clock = FakeClock(start=0)
    limiter = RateLimiter(create(name, LIMIT, **options), MemoryStore(clock))
    out = []
    for when in traffic():
        clock.advance(when - clock.monotonic())
        decision = limiter.allow("client")
        out.append((when, decision.allowed, when + decision.delay))
    return out


def admitted_in_window(events, at: float) -> int:
    """Requests that reached the upstream in the 10 s before `at` (by departure time)."""
    return sum(1 for _, ok, leaves in events if ok and at - LIMIT.period < leaves <= at)


def draw(events, title: str, path: Path) -> None:
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(9, 4.2), sharex=True,
                                         gridspec_kw={"height_ratios": [1, 1.6]})
    ok = [(t, leaves) for t, allowed, leaves in events if allowed]
    refused = [t for t, allowed, _ in events if not allowed]
    top.scatter([t for t, _ in ok], [1] * len(ok), marker="|", s=120, color="tab:green", label="admitted")
    top.scatter(refused, [0] * len(refused), marker="x", s=20, color="tab:red", label="refused (429)")
    delayed = [(t, leaves) for t, leaves in ok if leaves > t + 1e-9]
    for t, leaves in delayed:
        top.annotate("", xy=(leaves, 1.45), xytext=(t, 1.0),
                     arrowprops={"arrowstyle": "-", "color": "tab:blue", "alpha": 0.35})
    if delayed:
        top.scatter([leaves for _, leaves in delayed], [1.45] * len(delayed), marker="|", s=80,
                    color="tab:blue", label="leaves the queue")
    top.set_yticks([])
    top.set_ylim(-0.6, 2.5)
    top.legend(loc="upper left", fontsize=8, ncol=3, frameon=False)
    top.set_title(title)
    end = max(leaves for _, _, leaves in events)
    moments = [i / 20 for i in range(0, int(end * 20) + 1)]
    bottom.plot(moments, [admitted_in_window(events, m) for m in moments], color="tab:green")
    bottom.axhline(LIMIT.rate, color="black", linestyle="--", linewidth=1, label="10 per 10 s")
    bottom.axvline(10, color="grey", linestyle=":", linewidth=1)
    bottom.set_ylabel("reached upstream\nin the last 10 s", fontsize=8)
    bottom.set_xlabel("seconds")
    bottom.set_ylim(0, 22)
    bottom.legend(loc="upper right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def main() -> int:
    OUT.mkdir(exist_ok=True)
    for file_name, name, options, title in CASES:
        path = OUT / f"ratelimit-{file_name}.png"
        draw(replay(name, options), title, path)
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
