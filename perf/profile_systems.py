"""Profile the load balancer and the rate limiter: where does a request's Python time go?

    .venv/bin/python -m perf.profile_systems [--duration 5] [--connections 16] [--threads 8]
                                             [--out-dir reports] [--label before|after]

Balancer: ours runs in this process (HTTP mode, round-robin, two backends started as
perf/lb_bench.py starts them) under lb_bench's closed-loop keep-alive load, every proxy
thread under its own cProfile profiler timing the thread's CPU time, so waits for the
GIL (client, proxy and clone share this process) do not count (perf/profiling.py);
-> profile_balancer.txt.
Limiter: `--threads` threads ask `RateLimiter.allow()` through the Redis store of our
clone (started in this process; only the limiter threads are profiled), cycling over
the algorithms; -> profile_limiter.txt.

Then the deterministic costs, which a busy machine does not blur: the bytecodes and
cProfile function calls of one proxied request (parser, routing, forwarding, real
sockets; the difference between a keep-alive connection carrying 1 and 1 + REQUESTS
requests, divided by REQUESTS) and of one limiter decision per algorithm and store.
With `--label`, the profiles are also kept as profile_<system>_<label>.txt and the
costs go to reports/optimisation_systems.json under that label.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import socket
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from load_balancer.accesslog import AccessLog  # noqa: E402
from load_balancer.balancer import LoadBalancer  # noqa: E402
from load_balancer.config import load  # noqa: E402
from perf import lb_bench  # noqa: E402
from perf.profiling import ThreadProfiles, count_bytecodes, count_calls  # noqa: E402
from perf.ratelimit_bench import LIMIT  # noqa: E402
from rate_limiter.algorithms import ALGORITHMS, create  # noqa: E402
from rate_limiter.stores import RateLimiter, open_store  # noqa: E402
from redis_clone.config import Config as RedisConfig  # noqa: E402
from redis_clone.server import RedisServer  # noqa: E402

REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\nX-Client: 1\r\n\r\n"  # what lb_bench's clients send
REQUESTS = 10        # extra requests on the measured keep-alive connection
RESULTS = "optimisation_systems.json"
METHOD = {
    "balancer": "bytecodes (sys.settrace, f_trace_opcodes) and cProfile calls in the proxy thread per "
                "keep-alive GET through HttpProxy.serve with real sockets and 2 lb_bench backends, "
                f"(cost of 1 + {REQUESTS} requests - cost of 1) / {REQUESTS}; req/s from lb_bench when measured",
    "limiter": "bytecodes and cProfile calls in the calling thread per RateLimiter.allow() after warm-up, "
               "limit 1000/s, Redis store = our clone in-process (client side only), memory store in-process",
}


# --- the systems under test ------------------------------------------------------------


@contextmanager
def balancer(ports: list[int]) -> Iterator[LoadBalancer]:
    """Our balancer over `ports`, HTTP mode, round-robin, access log to /dev/null; not started."""
    config = load(None, {"listen": "127.0.0.1:0", "algorithm": "round-robin",
                         "backend": [{"address": f"127.0.0.1:{port}"} for port in ports]})
    with open(os.devnull, "w") as null:
        yield LoadBalancer(config, access_log=AccessLog(null))


@contextmanager
def redis_clone() -> Iterator[str]:
    """Our clone on a free port in this process, for the length of the block; yields its URL."""
    config = RedisConfig()
    for name, value in (("port", "0"), ("save", ""), ("appendonly", "no"), ("bind", "127.0.0.1")):
        config.set(name, value, startup=True)
    server = RedisServer(config)
    server.start()
    try:
        yield f"redis://127.0.0.1:{server.port}/0"
    finally:
        server.stop()


# --- profiles under load ------------------------------------------------------------------


def under_load(profiles: ThreadProfiles, requests: int) -> dict:
    """What the profile says per request: function calls, and CPU time (noisy on a busy machine)."""
    stats = profiles.stats()
    return {"requests": requests, "calls_per_request_under_load": stats.total_calls / requests,
            "profiled_cpu_us_per_request_under_load": stats.total_tt / requests * 1e6}


def profile_balancer(ports: list[int], duration: float, connections: int) -> tuple[str, dict]:
    load_function = lb_bench.wrk_load if shutil.which("wrk") else lb_bench.python_load
    with balancer(ports) as lb:
        profiles = ThreadProfiles(cpu_time=True)
        lb._tcp.handle = profiles.wrap(lb._serve_client)  # per-connection handler (test hook, not API)
        lb.start()
        try:
            result = load_function([lb.port], connections, duration, True)
        finally:
            lb.stop()
    title = (f"balancer http round-robin, 2 backends, {connections} keep-alive connections "
             f"for {duration:g}s ({result.requests} requests, {result.errors} errors)")
    return profiles.report(title), under_load(profiles, result.requests)


def profile_limiter(url: str, duration: float, threads: int) -> tuple[str, dict]:
    """`threads` threads, each deciding for one algorithm (in turn) and 1000 keys."""
    store = open_store(url, timeout=5.0)
    names = list(ALGORITHMS)
    decisions = [0] * threads
    stop_at = time.perf_counter() + duration

    def work(slot: int) -> None:
        limiter = RateLimiter(create(names[slot % len(names)], LIMIT), store)
        for n in itertools.count():
            if time.perf_counter() >= stop_at:
                decisions[slot] = n
                return
            limiter.allow(f"client-{n % 1000}")

    profiles = ThreadProfiles(cpu_time=True)
    workers = [threading.Thread(target=profiles.wrap(work), args=(slot,)) for slot in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    store.close()
    title = (f"RateLimiter.allow via our clone's Redis store, {threads} threads over "
             f"{', '.join(names)} for {duration:g}s ({sum(decisions)} decisions)")
    return profiles.report(title), under_load(profiles, sum(decisions))


# --- deterministic costs ------------------------------------------------------------------


def balancer_costs(ports: list[int]) -> dict:
    """Bytecodes and calls of one keep-alive request through the proxy, and the top functions."""
    with balancer(ports) as lb:
        _proxy_session(lb, 4)  # warm-up: opens the pooled connections to both backends
        costs = {}
        for requests in (1, 1 + REQUESTS):
            answer, bytecodes = count_bytecodes(lambda: _proxy_session(lb, requests))
            assert answer.count(b"HTTP/1.1 200 ") == requests, answer
            _, calls = count_calls(lambda: _proxy_session(lb, requests))
            costs[requests] = (bytecodes, calls)
    (one, one_calls), (many, many_calls) = costs[1], costs[1 + REQUESTS]
    return {"bytecodes_per_request": (sum(many.values()) - sum(one.values())) / REQUESTS,
            "calls_per_request": (many_calls - one_calls) / REQUESTS,
            "top_functions": _top((many - one), REQUESTS)}


def _proxy_session(lb: LoadBalancer, requests: int) -> bytes:
    """`requests` pipelined GETs on one client connection, served by the proxy in this
    thread until the client half-closes; returns what the client received."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server_side, addr = listener.accept()
    with client, server_side:
        client.sendall(REQUEST * requests)
        client.shutdown(socket.SHUT_WR)
        lb.proxy.serve(server_side, addr)
        server_side.shutdown(socket.SHUT_WR)
        return b"".join(iter(lambda: client.recv(65536), b""))


def limiter_costs(url: str) -> dict:
    """Bytecodes and calls of one decision, per store and algorithm, and the top functions."""
    stores = {"redis (our clone)": open_store(url, timeout=5.0), "memory": open_store("memory://")}
    costs: dict = {}
    try:
        for store_name, store in stores.items():
            for name in ALGORITHMS:
                costs[f"{store_name} {name}"] = _decision_cost(RateLimiter(create(name, LIMIT), store))
    finally:
        for store in stores.values():
            store.close()
    return costs


def _decision_cost(limiter: RateLimiter) -> dict:
    for n in range(3):
        limiter.allow(f"warm-{n}")
    decision, bytecodes = count_bytecodes(lambda: limiter.allow("client-1"))
    assert decision.allowed
    _, calls = count_calls(lambda: limiter.allow("client-1"))
    return {"bytecodes": sum(bytecodes.values()), "calls": calls, "top_functions": _top(bytecodes, 1, 8)}


def _top(bytecodes, per: int, limit: int = 12) -> dict[str, float]:
    return {name: count / per for name, count in bytecodes.most_common(limit)}


# --- the command ------------------------------------------------------------------------


def record(path: Path, label: str, results: dict[str, dict]) -> None:
    """Merge `results` into the JSON at `path` as {system: {"method", label: {...}}};
    other labels, and figures added by hand under this one (req/s), are kept."""
    data = json.loads(path.read_text()) if path.exists() else {}
    for system, numbers in results.items():
        data.setdefault(system, {})["method"] = METHOD[system]
        data[system].setdefault(label, {}).update(numbers)
    path.write_text(json.dumps(data, indent=2) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of load per profile")
    parser.add_argument("--connections", type=int, default=16, help="balancer client connections")
    parser.add_argument("--threads", type=int, default=8, help="limiter threads")
    parser.add_argument("--out-dir", default="reports")
    parser.add_argument("--label", help="also keep the profiles as *_<label>.txt and record the costs")
    args = parser.parse_args()
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    backends, ports = lb_bench.start_backends(2)
    try:
        text, load = profile_balancer(ports, args.duration, args.connections)
        profiles = {"balancer": text}
        costs = {"balancer": {**balancer_costs(ports), "under_load": load}}
    finally:
        lb_bench.stop_backends(backends)
    with redis_clone() as url:
        profiles["limiter"], load = profile_limiter(url, args.duration, args.threads)
        costs["limiter"] = {**limiter_costs(url), "under_load": load}
    for system, text in profiles.items():
        print(text)
        names = [f"profile_{system}.txt"] + ([f"profile_{system}_{args.label}.txt"] if args.label else [])
        for name in names:
            (out_dir / name).write_text(text)
    print(json.dumps(costs, indent=2))
    if args.label:
        record(out_dir / RESULTS, args.label, costs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
