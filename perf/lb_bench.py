"""Load generator: req/s and p50/p99 latency, straight to the backends vs through a balancer.

    .venv/bin/python perf/lb_bench.py [--backends 2] [--connections 16] [--duration 3]
                                      [--mode keep-alive|new-connection|both]
                                      [--algorithm NAME ...]
    .venv/bin/python perf/lb_bench.py --pattern bursts|ramp|slow-backend [--duration 3]

One run measures, against the same backends: the backends directly; our balancer in
HTTP mode with each algorithm; our balancer in TCP mode (layer 4) with the algorithms
TCP mode is meant for; and HAProxy in HTTP and TCP mode when `haproxy` is installed
(`apt-get install haproxy`; it runs with one thread, as our balancer runs on about one
core under the GIL).

Backends (ThreadingHTTPServer, small fixed body) and each balancer run in their own
process; `--connections` client threads each send the next request as soon as the last
answer is in (closed loop), or `wrk` does when it is installed. "Direct" spreads the
threads over the backends itself, so the rows differ only by the proxy hop. Each client
thread sends its own `X-Client` header, which consistent-hash is set to hash; ip-hash
sees one client address (loopback), so it sends everything to one backend. Client,
proxy and backends share the machine's cores, and the numbers reflect that.

`--pattern` runs one traffic pattern (always with Python threads: wrk cannot pause or
change its client count) against a small set of targets: direct, our balancer and
HAProxy with round-robin and least-connections. `bursts` (2 x duration): every client
idles, then all connect and send at once for BURST seconds of every BURST_PERIOD
(shrunk in proportion for durations under 2 s); `ramp`: 1, 2, 4 ... 32 clients,
duration / 2 seconds each; `slow-backend`: SLOW_MS of extra latency on one of three
backends, which round-robin keeps feeding its share and least-connections starves.
"""

from __future__ import annotations

import argparse
import math
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, ContextManager, Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common.http1 import NEED_DATA, ConnectionClosed, HTTPError, Response, ResponseParser  # noqa: E402
from load_balancer.strategies import STRATEGIES  # noqa: E402

BODY = b"x" * 100
TCP_ALGORITHMS = ("round-robin", "least-connections", "ip-hash")  # source hashing, in TCP terms
PATTERNS = ("bursts", "ramp", "slow-backend")
PATTERN_ALGORITHMS = {"round-robin": "roundrobin", "least-connections": "leastconn"}  # ours -> HAProxy's
BURST, BURST_PERIOD = 0.2, 1.0   # seconds: all clients send for 200 ms of every second
RAMP = (1, 2, 4, 8, 16, 32)      # client counts, one step each
SLOW_MS = 50.0                   # extra latency of the slow backend


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        if self.server.delay:
            time.sleep(self.server.delay)   # the slow backend: a thread per connection, so only this one waits
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY))

    def log_message(self, *args) -> None:
        pass


class _Backend(ThreadingHTTPServer):
    daemon_threads = True
    delay = 0.0   # seconds added to every answer

    def handle_error(self, request, client_address) -> None:
        """A balancer stopped between rows resets its connections: no traceback for that."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def serve_backend(delay_ms: float = 0.0) -> None:
    """Child process: one backend on a free port; prints the port, serves until killed."""
    server = _Backend(("127.0.0.1", 0), _Handler)
    server.delay = delay_ms / 1000
    print(server.server_address[1], flush=True)
    server.serve_forever()


@dataclass
class Result:
    requests: int
    elapsed: float
    p50: float          # seconds
    p99: float
    errors: int

    def row(self, mode: str, target: str) -> str:
        return (f"{mode:<15}{target:<36}{self.requests:>9}{self.requests / self.elapsed:>10.0f}"
                f"{self.p50 * 1000:>10.2f}{self.p99 * 1000:>10.2f}{self.errors:>8}")

    def as_dict(self, **labels) -> dict:
        """A row of the report's raw data: `labels` first, then the numbers (ms)."""
        return {**labels, "requests": self.requests, "rps": self.requests / self.elapsed,
                "p50_ms": self.p50 * 1000, "p99_ms": self.p99 * 1000, "errors": self.errors}


HEADER = (f"{'mode':<15}{'target':<36}{'requests':>9}{'req/s':>10}"
          f"{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}")


def python_load(ports: list[int], connections: int, duration: float, keep_alive: bool,
                bursts: tuple[float, float] | None = None) -> Result:
    """Closed-loop load from `connections` threads; thread i talks to ports[i % len].

    With `bursts=(length, period)` the threads send only during the first `length`
    seconds of every `period`, all together: each connects as a burst starts and
    closes as it ends, and idles in between (requests/s are then over the whole run).
    """
    close = b"" if keep_alive else b"Connection: close\r\n"
    latencies: list[list[float]] = [[] for _ in range(connections)]  # one list per thread
    errors = [0] * connections
    origin = time.perf_counter()   # bursts start at origin + k * period for every thread
    deadline = origin + duration

    def worker(i: int) -> None:
        port, sock = ports[i % len(ports)], None
        request = b"GET / HTTP/1.1\r\nHost: bench\r\nX-Client: %d\r\n%s\r\n" % (i, close)
        while (now := time.perf_counter()) < deadline:
            if bursts is not None and (now - origin) % bursts[1] >= bursts[0]:
                if sock is not None:
                    sock.close()
                    sock = None
                next_burst = origin + math.ceil((now - origin) / bursts[1]) * bursts[1]
                time.sleep(max(0.0, min(next_burst, deadline) - now))
                continue
            started = time.perf_counter()
            try:
                if sock is None:
                    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.sendall(request)
                ok = _read_response(sock)
            except (OSError, HTTPError):
                ok = False
            if ok:
                latencies[i].append(time.perf_counter() - started)
            else:
                errors[i] += 1
            if not (ok and keep_alive) and sock is not None:
                sock.close()
                sock = None
        if sock is not None:
            sock.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - origin
    samples = [latency for per_thread in latencies for latency in per_thread]
    cuts = statistics.quantiles(samples, n=100) if len(samples) > 1 else [float("nan")] * 99
    return Result(len(samples), elapsed, cuts[49], cuts[98], sum(errors))


def _read_response(sock: socket.socket) -> bool:
    parser = ResponseParser("GET")
    status = 0
    while not parser.complete:
        event = parser.next_event()
        if event is NEED_DATA:
            parser.feed(sock.recv(65536))
        elif isinstance(event, ConnectionClosed):
            return False  # the server closed before answering
        elif isinstance(event, Response):
            status = event.status
    return status == 200


def wrk_load(ports: list[int], connections: int, duration: float, keep_alive: bool) -> Result:
    """The same load from wrk (one port: wrk has a single target URL)."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency",
               f"http://127.0.0.1:{ports[0]}/"]
    if not keep_alive:
        command[1:1] = ["-H", "Connection: close"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    total = int(re.search(r"(\d+) requests in", out).group(1))
    elapsed = float(re.search(r"requests in ([\d.]+)s", out).group(1))
    p50, p99 = (_wrk_ms(re.search(rf"{p}%\s+([\d.]+\w+)", out).group(1)) for p in ("50", "99"))
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return Result(total, elapsed, p50 / 1000, p99 / 1000, errors)


def _wrk_ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def start_backends(n: int, slow_ms: float = 0.0) -> tuple[list[subprocess.Popen], list[int]]:
    """`n` backend processes and their ports; the last one adds `slow_ms` to every answer."""
    delays = [0.0] * (n - 1) + [slow_ms]
    procs = [subprocess.Popen([sys.executable, __file__, "--serve-backend", "--delay-ms", str(delay)],
                              stdout=subprocess.PIPE, text=True) for delay in delays]
    return procs, [int(proc.stdout.readline()) for proc in procs]


def stop_backends(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.terminate()
        proc.wait(10)


@contextmanager
def direct(ports: list[int]) -> Iterator[list[int]]:
    yield ports


@contextmanager
def balancer(ports: list[int], *flags: str) -> Iterator[list[int]]:
    """Our balancer in a process of its own, with these flags; yields [its port]."""
    args = [sys.executable, "-m", "load_balancer", "--listen", "127.0.0.1:0", *flags]
    for port in ports:
        args += ["--backend", f"127.0.0.1:{port}"]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if match is None:
            raise SystemExit(f"balancer did not start: {line}{proc.stderr.read()}")
        threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep its pipe drained
        yield [int(match.group(1))]
    finally:
        proc.terminate()
        proc.wait(10)


HAPROXY_CONFIG = """
global
    nbthread 1
    maxconn 4096
defaults
    mode {mode}
    timeout connect 2s
    timeout client 60s
    timeout server 30s
frontend bench
    bind 127.0.0.1:{port}
    default_backend servers
backend servers
    balance {balance}
{servers}
"""


@contextmanager
def haproxy(ports: list[int], mode: str, balance: str = "roundrobin") -> Iterator[list[int]]:
    """HAProxy in `mode` (http or tcp), `balance` over the same backends; yields [its port].

    In http mode HAProxy balances every request of a kept-alive client connection on its
    own (no `prefer-last-server`), as our balancer does.
    """
    port = _free_port()
    servers = "\n".join(f"    server s{i} 127.0.0.1:{p}" for i, p in enumerate(ports))
    with tempfile.NamedTemporaryFile("w", suffix=".cfg") as config:
        config.write(HAPROXY_CONFIG.format(mode=mode, port=port, servers=servers, balance=balance))
        config.flush()
        proc = subprocess.Popen(["haproxy", "-db", "-f", config.name], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            _wait_for_port(port, proc)
            yield [port]
        finally:
            proc.terminate()
            proc.wait(10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("haproxy did not start")
            time.sleep(0.05)


Target = Callable[[], ContextManager[list[int]]]


def targets(ports: list[int], algorithms: list[str]) -> Iterator[tuple[str, Target]]:
    """(label, how to start it) for every row: each yields the ports to send the load to."""
    yield "direct", lambda: direct(ports)
    for algorithm in algorithms:
        flags = ["--algorithm", algorithm]
        if algorithm == "consistent-hash":
            flags += ["--hash-key", "header:X-Client"]
        yield f"lb http {algorithm}", lambda flags=flags: balancer(ports, *flags)
    for algorithm in (a for a in TCP_ALGORITHMS if a in algorithms):
        yield f"lb tcp {algorithm}", lambda a=algorithm: balancer(ports, "--mode", "tcp", "--algorithm", a)
    if shutil.which("haproxy"):
        for haproxy_mode in ("http", "tcp"):
            yield f"haproxy {haproxy_mode} roundrobin", lambda m=haproxy_mode: haproxy(ports, m)


def pattern_targets(ports: list[int], with_direct: bool = True) -> Iterator[tuple[str, Target]]:
    """The small set the traffic patterns run against: direct, then round-robin and
    least-connections through ours and through HAProxy (when installed), HTTP mode."""
    if with_direct:
        yield "direct", lambda: direct(ports)
    for ours, theirs in PATTERN_ALGORITHMS.items():
        yield f"lb {ours}", lambda a=ours: balancer(ports, "--algorithm", a)
        if shutil.which("haproxy"):
            yield f"haproxy {theirs}", lambda b=theirs: haproxy(ports, "http", b)


def run_patterns(patterns: list[str], duration: float, connections: int,
                 report: Callable[[dict], None]) -> list[dict]:
    """Traffic patterns against `pattern_targets`: a row per measurement (`report` sees
    each as it comes). Bursts and the ramp share two backends and one balancer process
    per target; the slow-backend pattern gets three backends of its own."""
    rows = []
    for slow in (False, True):
        chosen = [pattern for pattern in patterns if (pattern == "slow-backend") == slow]
        if not chosen:
            continue
        backends, ports = start_backends(3, SLOW_MS) if slow else start_backends(2)
        extra = {"slow_ms": SLOW_MS} if slow else {}
        try:
            for label, start in pattern_targets(ports, with_direct=not slow):
                with start() as target_ports:
                    python_load(target_ports, connections, min(0.5, duration), True)  # warm-up
                    for pattern in chosen:
                        for count, result in _pattern_load(pattern, target_ports, duration, connections):
                            rows.append(result.as_dict(pattern=pattern, target=label, clients=count, **extra))
                            report(rows[-1])
        finally:
            stop_backends(backends)
    return rows


def _pattern_load(pattern: str, ports: list[int], duration: float,
                  connections: int) -> Iterator[tuple[int, Result]]:
    """(clients, result) for each measurement of one pattern against one target."""
    if pattern == "ramp":
        for count in RAMP:
            yield count, python_load(ports, count, duration / 2, True)
    elif pattern == "bursts":
        period = min(BURST_PERIOD, duration / 2)
        yield connections, python_load(ports, connections, 2 * duration, True,
                                       (BURST * period / BURST_PERIOD, period))
    else:
        yield connections, python_load(ports, connections, duration, True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per row")
    parser.add_argument("--mode", choices=("keep-alive", "new-connection", "both"), default="both")
    parser.add_argument("--algorithm", action="append", choices=sorted(STRATEGIES),
                        help="only these algorithms (repeat; default: all)")
    parser.add_argument("--pattern", choices=PATTERNS, help="run this traffic pattern instead of --mode")
    parser.add_argument("--serve-backend", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--delay-ms", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_backend:
        serve_backend(args.delay_ms)
        return
    if args.pattern:
        print(f"{'pattern':<14}{'target':<26}{'clients':>8}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}")
        run_patterns([args.pattern], args.duration, args.connections, lambda r: print(
            f"{r['pattern']:<14}{r['target']:<26}{r['clients']:>8}{r['rps']:>10.0f}{r['p50_ms']:>10.2f}"
            f"{r['p99_ms']:>10.2f}{r['errors']:>8}", flush=True))
        return
    load = wrk_load if shutil.which("wrk") else python_load
    algorithms = args.algorithm or list(STRATEGIES)
    backends, ports = start_backends(args.backends)
    try:
        print(f"load: {'wrk' if load is wrk_load else 'python threads'}, {args.connections} connections, "
              f"{args.duration:g}s per row, {args.backends} backends; haproxy: "
              f"{'yes' if shutil.which('haproxy') else 'not installed'}")
        print(HEADER)
        modes = ("keep-alive", "new-connection") if args.mode == "both" else (args.mode,)
        for mode in modes:
            keep_alive = mode == "keep-alive"
            for label, start in targets(ports, algorithms):
                with start() as target_ports:
                    load(target_ports, args.connections, 0.5, keep_alive)  # warm-up
                    result = load(target_ports, args.connections, args.duration, keep_alive)
                print(result.row(mode, label), flush=True)
    finally:
        stop_backends(backends)


if __name__ == "__main__":
    main()
