"""Draw docs/img/eviction_lru.png: our sampled LRU against exact LRU, on the same trace.

    .venv/bin/python docs/eviction_figure.py

The trace: 200,000 reads of 10,000 keys with Zipf-like popularity (key k is read with
probability proportional to 1/(k+1)^0.9), shuffled so popularity has nothing to do with
key names. Every read that misses writes the key, as a cache in front of a database
would. One read happens per second of a fake clock, so the LRU clock's one-second
resolution plays no part: the picture isolates the *sampling* approximation.

For each cache size (a share of the 10,000 keys) it runs the trace through

* an exact LRU (an OrderedDict: evict the least recently used key, always);
* our keyspace and `Evictor` under allkeys-lru with maxmemory-samples 3, 5 and 10;
* our allkeys-random, for scale. (allkeys-lru with 1 sample is the same thing: the pool
  gains one key per eviction and gives one up, so it never remembers anything.)

and plots the hit ratio of each. Deterministic: fixed seeds.
"""

from __future__ import annotations

import random
import sys
from collections import OrderedDict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis_clone.commands  # noqa: E402,F401  (registers the value types)
from common.clock import FakeClock  # noqa: E402
from redis_clone import memory  # noqa: E402
from redis_clone.eviction import Evictor  # noqa: E402
from redis_clone.state import ServerState  # noqa: E402

OUT = ROOT / "docs" / "img" / "eviction_lru.png"
KEYS = 10_000
READS = 200_000
SHARES = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5)
SAMPLES = (3, 5, 10)
VALUE = b"v" * 10


def zipf_trace(seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    names = [b"key:%d" % i for i in range(KEYS)]
    rng.shuffle(names)
    weights = [1 / (rank + 1) ** 0.9 for rank in range(KEYS)]
    return rng.choices(names, weights, k=READS)


def exact_lru(trace: list[bytes], capacity: int) -> float:
    cache: OrderedDict[bytes, None] = OrderedDict()
    hits = 0
    for key in trace:
        if key in cache:
            hits += 1
            cache.move_to_end(key)
            continue
        cache[key] = None
        if len(cache) > capacity:
            cache.popitem(last=False)
    return hits / len(trace)


def through_keyspace(trace: list[bytes], capacity: int, policy: str, samples: int) -> float:
    """The same trace through the real keyspace: GET, and SET on a miss, then let the
    Evictor bring used_memory back under maxmemory as the dispatcher would."""
    clock = FakeClock()
    state = ServerState(clock=clock)
    per_key = memory.entry_cost(trace[0], VALUE)  # every key name here has one length
    state.config.set("maxmemory", str(per_key * capacity))
    state.config.set("maxmemory-policy", policy)
    state.config.set("maxmemory-samples", str(samples))
    evictor = Evictor(state.keyspace, state.config, rng=random.Random(2))
    db = state.keyspace[0]
    hits = 0
    for key in trace:
        clock.advance(1)
        if db.get(key) is not None:
            hits += 1
            continue
        db.set(key, VALUE)
        evictor.make_room(refuse=False)
    return hits / len(trace)


def main() -> None:
    trace = zipf_trace()
    capacities = [int(KEYS * share) for share in SHARES]
    figure, axes = plt.subplots(figsize=(7, 4.2))
    exact = [exact_lru(trace, c) for c in capacities]
    axes.plot(SHARES, exact, "k-", linewidth=2.5, label="exact LRU")
    runs = [("allkeys-lru", n, f"sampled LRU, samples {n}") for n in SAMPLES]
    for policy, samples, label in runs + [("allkeys-random", 5, "allkeys-random")]:
        ratios = [through_keyspace(trace, c, policy, samples) for c in capacities]
        axes.plot(SHARES, ratios, "o-" if samples == 5 else "o--", label=label)
        print(label, " ".join(f"{r:.3f}" for r in ratios), file=sys.stderr)
    print("exact LRU", " ".join(f"{r:.3f}" for r in exact), file=sys.stderr)
    axes.set_xlabel("cache size (share of the 10,000 keys that fit in maxmemory)")
    axes.set_ylabel("hit ratio")
    axes.set_title("allkeys-lru: 16-entry pool + sampling vs exact LRU (Zipf 0.9 trace)")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    OUT.parent.mkdir(exist_ok=True)
    figure.savefig(OUT, dpi=110)
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
