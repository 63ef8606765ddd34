"""Soak: the clone, the balancer and its rate limiter together, under load, with faults.

    .venv/bin/python -m perf.soak [--duration 180] [--seed 1] [--json PATH]

Everything runs in this process on port 0: our Redis clone, three HTTP backends and a
backup, and our load balancer with a [rate_limit] section whose store is the clone.
Workers do work whose every answer can be checked (a counter's next value, a value
derived from its key, a FIFO queue, transfers whose sum never changes, an echoed
path), while a seeded schedule injects faults: a backend killed and restarted on its
port, a backend resetting mid-response, clone clients vanishing mid-pipeline,
mid-MULTI and while blocked, garbage bytes to both servers, the limiter's store
connections killed. Every outcome is classified (ok, expected error, unexpected error,
wrong answer); at the end the clone's state is checked for lost or duplicated work, and
threads, file descriptors, clients and memory must be back where they started.
tests/integration/test_soak.py runs it for ~25 s in every `make test`.
"""

from __future__ import annotations

import argparse
import bisect
import ctypes
import ctypes.util
import gc
import hashlib
import http.client
import io
import json
import logging
import random
import socket
import sys
import threading
import time
from collections import Counter, deque
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Iterator

import psutil
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from tabulate import tabulate

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common.clock import SystemClock  # noqa: E402
from common.probes import send_and_read_all, wait_until  # noqa: E402
from common.resp import INCOMPLETE, ErrorReply, ReplyParser, encode_command  # noqa: E402
from common.tcpserver import reset_on_close, shutdown_socket  # noqa: E402
from load_balancer.accesslog import AccessLog  # noqa: E402
from load_balancer.balancer import LoadBalancer  # noqa: E402
from load_balancer.config import from_mapping  # noqa: E402
from rate_limiter.gateway import LimitedProxy, RateLimitService  # noqa: E402
from redis_clone.config import Config  # noqa: E402
from redis_clone.server import RedisServer  # noqa: E402

LIMIT, WINDOW = 20, 1.0     # the fail-closed policy: 20 requests per 1 s fixed window
ACCOUNTS, OPENING_BALANCE = 5, 1000
GRACE = 1.0                 # seconds after a fault ends during which its effects still count as expected
SETTLE = 15.0               # seconds allowed for connections, threads and fds to go back to baseline
RSS_BOUND_MB = 50           # see `leaks()`
RESET_BODY = 100_000        # what /reset promises; it sends a twentieth of it, then resets
FAULTS = ("backend-kill", "backend-reset", "vanish-pipeline", "vanish-multi", "vanish-blpop",
          "garbage-clone", "garbage-balancer", "store-kill")


# --- the record: every outcome, every fault ------------------------------------------------


@dataclass
class SoakResult:
    duration: float
    seed: int
    requests: dict[str, Counter] = field(default_factory=dict)  # kind -> ok/expected/unexpected/wrong/refused
    faults: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)           # unexpected errors and wrong answers, first few
    lost: list[str] = field(default_factory=list)               # lost or duplicated work found at the end
    admitted: int = 0                                           # 200s of the fail-closed policy
    most_admitted_in_a_window: int = 0
    allowance: int = 2 * LIMIT                                  # per window, window edges included
    resources: dict[str, tuple[float, float]] = field(default_factory=dict)  # name -> (before, after)
    leaks: list[str] = field(default_factory=list)

    def total(self, outcome: str) -> int:
        return sum(counts[outcome] for counts in self.requests.values())

    def table(self) -> str:
        columns = ("ok", "refused", "expected", "unexpected", "wrong")
        rows = [[kind, *(counts[c] for c in columns)] for kind, counts in sorted(self.requests.items())]
        rows.append(["total", *(self.total(c) for c in columns)])
        parts = [tabulate(rows, headers=["requests", *columns], tablefmt="simple"),
                 tabulate(sorted(self.faults.items()), headers=["fault", "injected"], tablefmt="simple"),
                 tabulate([[name, f"{before:g}", f"{after:g}"] for name, (before, after) in self.resources.items()],
                          headers=["resource", "before", "after"], tablefmt="simple"),
                 f"rate limit: {self.admitted} admitted, at most {self.most_admitted_in_a_window} in one "
                 f"{WINDOW:g} s window (allowance {self.allowance})",
                 f"lost or duplicated work: {self.lost or 'none'}",
                 f"leaks: {self.leaks or 'none'}"]
        if self.problems:
            parts.append("problems (first few):\n  " + "\n  ".join(self.problems))
        return "\n\n".join(parts)

    def to_json(self) -> str:
        # Counters by hand: asdict() would rebuild a Counter from its (key, count) pairs.
        return json.dumps({**asdict(self), "faults": dict(self.faults),
                           "requests": {kind: dict(counts) for kind, counts in self.requests.items()}}, indent=1)


class Ledger:
    """What happened, from every thread: outcomes per request kind, and fault windows.

    An error is *expected* only if a fault that could cause it was in progress (or had
    just ended, GRACE) when it happened; otherwise it is unexpected.
    """

    def __init__(self, result: SoakResult) -> None:
        self.result = result
        self.lock = threading.Lock()
        self.windows: list[tuple[str, float, float]] = []   # (fault kind, start, end)
        self.current: tuple[str, float] | None = None       # the fault being injected, since when

    def record(self, kind: str, outcome: str, detail: str = "") -> None:
        with self.lock:
            self.result.requests.setdefault(kind, Counter())[outcome] += 1
            if outcome in ("unexpected", "wrong") and len(self.result.problems) < 20:
                self.result.problems.append(f"{kind}: {outcome}: {detail}")

    def error(self, kind: str, causes: tuple[str, ...], detail: str) -> None:
        """An error is expected while one of `causes` is (or just was) being injected."""
        self.record(kind, "expected" if self.during(causes, time.monotonic()) else "unexpected", detail)

    def during(self, causes: tuple[str, ...], when: float) -> bool:
        with self.lock:
            return ((self.current is not None and self.current[0] in causes)
                    or any(k in causes and start <= when <= end + GRACE for k, start, end in self.windows))

    @contextmanager
    def fault(self, kind: str) -> Iterator[None]:
        """`with ledger.fault(kind):` around the injection of one fault (one at a time)."""
        with self.lock:
            self.result.faults[kind] += 1
            self.current = (kind, time.monotonic())
        try:
            yield
        finally:
            with self.lock:
                self.windows.append((kind, self.current[1], time.monotonic()))
                self.current = None



# --- HTTP backends -----------------------------------------------------------------------------


class _EchoHandler(BaseHTTPRequestHandler):
    """`GET /health`; `GET /reset`: a head promising RESET_BODY bytes, a part of them,
    then a reset; any other path: `<backend name> <path>`, so a client can check it."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _EchoServer

    def do_GET(self) -> None:
        if self.path == "/reset":
            head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % RESET_BODY
            self.wfile.write(head + b"x" * (RESET_BODY // 20))
            reset_on_close(self.connection)
            self.close_connection = True
            return
        body = b"health" if self.path == "/health" else f"{self.server.name} {self.path}".encode()
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))

    def log_message(self, *args) -> None:
        pass


class _EchoServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, name: str, port: int) -> None:
        self.name = name
        self.open_sockets: set[socket.socket] = set()
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _EchoHandler)

    def process_request(self, request, client_address) -> None:
        with self.lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self.lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address) -> None:
        """Connections cut by a kill or a reset are the point here: no traceback for those."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class EchoBackend:
    """One backend in a thread; `kill()` is a crash (port closed, connections cut),
    `start()` brings it back on the same port."""

    def __init__(self, name: str) -> None:
        self.name, self.port, self.server, self.thread = name, 0, None, None
        self.start()

    def start(self) -> None:
        self.server = _EchoServer(self.name, self.port)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       name=f"backend {self.name}", daemon=True)
        self.thread.start()

    def kill(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        with self.server.lock:
            sockets = list(self.server.open_sockets)
        for sock in sockets:
            shutdown_socket(sock)
        self.thread.join(5)


# --- the clone's clients -----------------------------------------------------------------


class RawClient:
    """A bare socket speaking RESP through the project's codec: a second kind of client."""

    label = "raw RESP"

    def __init__(self, port: int, name: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.parser = ReplyParser()
        self.pipeline([("CLIENT", "SETNAME", name)])

    def pipeline(self, commands: list[tuple]) -> list:
        self.sock.sendall(b"".join(encode_command(*command) for command in commands))
        return [self._read() for _ in commands]

    def _read(self):
        while (frame := self.parser.get()) is INCOMPLETE:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("the clone closed the connection")
            self.parser.feed(data)
        return frame

    def close(self) -> None:
        self.sock.close()


class RedisPyClient:
    """redis-py, with its automatic retries off: a retried INCR could count twice."""

    label = "redis-py"

    def __init__(self, port: int, name: str) -> None:
        self.conn = redis.Redis(port=port, socket_timeout=10, client_name=name, retry=Retry(NoBackoff(), 0))

    def pipeline(self, commands: list[tuple]) -> list:
        pipe = self.conn.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        return [_normalise(reply) for reply in pipe.execute(raise_on_error=False)]

    def close(self) -> None:
        self.conn.close()


def _normalise(reply):
    """redis-py's replies in the codec's terms: bytes, ints, lists, None, errors."""
    if isinstance(reply, redis.ResponseError):
        return ErrorReply(str(reply))
    if isinstance(reply, list):
        return [_normalise(item) for item in reply]
    return reply


def value_of(key: str) -> bytes:
    """The only value ever stored under `key`: a GET can be checked without a model."""
    digest = hashlib.sha1(key.encode()).hexdigest().encode()
    return digest * (1 + digest[0] % 8)


class CloneWorker:
    """Verifiable work on the clone. Each worker owns its keys (so every reply is
    predictable) except the shared accounts, which only MULTI/EXEC transfers touch."""

    def __init__(self, number: int, client, rng: random.Random, ledger: Ledger) -> None:
        self.name = f"w{number}"
        self.client, self.rng, self.ledger = client, rng, ledger
        self.kind = f"clone {client.label}"
        self.counter = 0                  # acknowledged INCRs
        self.queue: deque[bytes] = deque()
        self.pushed = 0
        self.written: set[str] = set()

    def run(self, finished: threading.Event) -> None:
        operations = (self.incr, self.set_get, self.queue_work, self.transfer, self.pipelined)
        try:
            while not finished.is_set():
                problem = self.rng.choice(operations)()
                self.ledger.record(self.kind, "wrong" if problem else "ok", problem or "")
        except (OSError, redis.RedisError) as err:
            # No fault touches these connections: losing one is a bug.
            self.ledger.record(self.kind, "unexpected", f"{self.name}: {err!r}")
        finally:
            self.client.close()

    def incr(self) -> str | None:
        (reply,) = self.client.pipeline([("INCR", f"soak:{self.name}:counter")])
        return self._counted([reply])

    def pipelined(self) -> str | None:
        replies = self.client.pipeline([("INCR", f"soak:{self.name}:counter")] * self.rng.randint(2, 20))
        return self._counted(replies)

    def _counted(self, replies: list) -> str | None:
        expected = list(range(self.counter + 1, self.counter + len(replies) + 1))
        if replies != expected:
            return f"{self.name}: INCR replied {replies}, expected {expected}"
        self.counter += len(replies)
        return None

    def set_get(self) -> str | None:
        key = f"soak:{self.name}:kv:{self.rng.randrange(50)}"
        commands = [("GET", key)] if self.rng.random() < 0.3 else [("SET", key, value_of(key)), ("GET", key)]
        replies = self.client.pipeline(commands)
        if len(commands) == 2:
            self.written.add(key)
        expected = value_of(key) if key in self.written else None
        if replies[-1] != expected:
            return f"{self.name}: GET {key} = {replies[-1]!r:.40}, expected {expected!r:.40}"
        return None

    def queue_work(self) -> str | None:
        """LPUSH one to three, RPOP one to three: the oldest not yet popped come out, in order."""
        items = [f"{self.name}:{self.pushed + i}".encode() for i in range(self.rng.randint(1, 3))]
        key = f"soak:{self.name}:queue"
        count = self.rng.randint(1, 3)
        replies = self.client.pipeline([("LPUSH", key, *items), ("RPOP", key, count)])
        self.pushed += len(items)
        self.queue.extend(items)
        length = len(self.queue)
        expected = [length, [self.queue.popleft() for _ in range(min(count, length))]]
        return None if replies == expected else f"{self.name}: queue replied {replies}, expected {expected}"

    def transfer(self) -> str | None:
        """Move money between shared accounts in MULTI/EXEC, then read all balances in
        one more transaction: their sum never changes, whoever else is transferring."""
        source, target = self.rng.sample(range(ACCOUNTS), 2)
        amount = self.rng.randint(1, 50)
        accounts = [f"soak:acct:{i}" for i in range(ACCOUNTS)]
        replies = self.client.pipeline([("MULTI",), ("DECRBY", accounts[source], amount),
                                        ("INCRBY", accounts[target], amount), ("EXEC",),
                                        ("MULTI",), ("MGET", *accounts), ("EXEC",)])
        moved, balances = replies[3], replies[6]
        if not (isinstance(moved, list) and len(moved) == 2 and all(isinstance(v, int) for v in moved)):
            return f"{self.name}: transfer EXEC replied {moved!r}"
        if not isinstance(balances, list) or sum(int(v) for v in balances[0]) != ACCOUNTS * OPENING_BALANCE:
            return f"{self.name}: balances {balances!r} do not add up"
        return None

    def verify(self, admin: redis.Redis) -> list[str]:
        """What the clone holds at the end against what this worker was told."""
        lost = []
        counter = int(admin.get(f"soak:{self.name}:counter") or 0)  # admin decodes replies
        if counter != self.counter:
            lost.append(f"{self.name}: counter is {counter}, {self.counter} INCRs acknowledged")
        left = admin.lrange(f"soak:{self.name}:queue", 0, -1)
        if left != [item.decode() for item in reversed(self.queue)]:
            lost.append(f"{self.name}: queue holds {len(left)} items, expected {len(self.queue)}")
        return lost


# --- HTTP clients --------------------------------------------------------------------------


BACKEND_FAULTS = ("backend-kill",)
STORE_FAULTS = ("store-kill",)


class HttpWorker:
    """GETs through the balancer, each answer checked against the path it asked for.

    A failed GET is not retried by the worker: the balancer already retries what is safe
    to retry, and the next request is a new one (nothing was owed on the failed one).
    `limited` workers alternate between /limited (fail closed: 503 while the store is
    unreachable) and /open (fail open) and record when each /limited 200 was sent and
    answered, for the allowance check."""

    def __init__(self, number: int, port: int, mode: str, names: set[str], ledger: Ledger) -> None:
        self.number, self.port, self.mode, self.names, self.ledger = number, port, mode, names, ledger
        self.kind = f"http {mode}"
        self.admitted: list[tuple[float, float]] = []

    def run(self, finished: threading.Event) -> None:
        conn = None
        sequence = 0
        while not finished.is_set():
            sequence += 1
            prefix = ("/limited" if sequence % 2 else "/open") if self.mode == "limited" else "/echo"
            path = f"{prefix}/{self.number}/{sequence}"
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            headers = {"Connection": "close"} if self.mode == "new-connection" else {}
            sent = time.monotonic()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as err:
                conn.close()
                conn = None
                self.ledger.error(self.kind, BACKEND_FAULTS, f"{path}: {err!r}")
                continue
            self.classify(path, response.status, body, sent)
            if self.mode == "new-connection" or response.will_close:
                conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def classify(self, path: str, status: int, body: bytes, sent: float) -> None:
        if status == 200:
            name, _, echoed = body.decode(errors="replace").partition(" ")
            if name not in self.names or echoed != path:
                self.ledger.record(self.kind, "wrong", f"{path} answered {body[:60]!r}")
                return
            if path.startswith("/limited"):
                self.admitted.append((sent, time.monotonic()))
            self.ledger.record(self.kind, "ok")
        elif status == 429 and not path.startswith("/echo"):
            self.ledger.record(self.kind, "refused")
        elif status == 503 and path.startswith("/limited") and b"rate limit store unavailable" in body:
            self.ledger.error(self.kind, STORE_FAULTS, f"{path}: 503 {body[:60]!r}")
        elif status in (502, 503, 504):
            self.ledger.error(self.kind, BACKEND_FAULTS, f"{path}: {status} {body[:60]!r}")
        else:
            self.ledger.record(self.kind, "wrong", f"{path}: {status} {body[:60]!r}")


def most_in_a_window(admitted: list[tuple[float, float]], window: float) -> int:
    """The most admitted requests that were decided within one `window` of time.

    A request was decided somewhere between its send and its answer, so those that were
    sent and answered within [t, t + window] certainly were decided in it. A fixed window
    opens with its first counted request, so any span of `window` seconds overlaps at
    most two windows: the policy allows 2 x LIMIT in it, no more."""
    admitted = sorted(admitted)
    sends = [sent for sent, _ in admitted]
    most = 0
    for i, (start, _) in enumerate(admitted):
        end = bisect.bisect_right(sends, start + window)
        most = max(most, sum(1 for _, answered in admitted[i:end] if answered <= start + window))
    return most


# --- the faults ----------------------------------------------------------------------------------


class Injector:
    """Injects one fault at a time on a seeded schedule: every kind once (shuffled), then
    kinds at random, with pauses between them. Each fault checks its own aftermath."""

    def __init__(self, system: System, rng: random.Random, ledger: Ledger) -> None:
        self.system, self.rng, self.ledger = system, rng, ledger
        self.count = 0
        self.actions = {"backend-kill": self.backend_kill, "backend-reset": self.backend_reset,
                        "vanish-pipeline": self.vanish_pipeline, "vanish-multi": self.vanish_multi,
                        "vanish-blpop": self.vanish_blpop, "garbage-clone": self.garbage_clone,
                        "garbage-balancer": self.garbage_balancer, "store-kill": self.store_kill}

    def run(self, deadline: float, finished: threading.Event) -> None:
        """Inject until `deadline`, then set `finished`: the workers stop only after the
        last fault, whose checks may need their traffic (the limiter reconnects on a request)."""
        schedule = list(FAULTS)
        self.rng.shuffle(schedule)
        try:
            time.sleep(0.5)  # let the workers get going first
            while time.monotonic() < deadline:
                kind = schedule.pop(0) if schedule else self.rng.choice(FAULTS)
                self.count += 1
                try:
                    with self.ledger.fault(kind):
                        self.actions[kind]()
                except (OSError, TimeoutError, http.client.HTTPException, redis.RedisError) as err:
                    self.ledger.record(f"fault {kind}", "unexpected", repr(err))
                time.sleep(self.rng.uniform(0.1, 0.6))
        finally:
            finished.set()

    def check(self, kind: str, problem: str | None) -> None:
        """A fault's own probe: it behaved as the fault says it should, or not."""
        self.ledger.record(f"fault {kind}", "wrong" if problem else "expected", problem or "")

    # --- the balancer's side

    def backend_kill(self) -> None:
        backend = self.rng.choice(self.system.primaries)
        backend.kill()
        time.sleep(self.rng.uniform(0.2, 1.0))
        backend.start()
        wait_until(lambda: self.system.state_of(backend) == "up", 10, f"{backend.name} to be up again")
        self.check("backend-kill", None)

    def backend_reset(self) -> None:
        """GET /reset through the balancer: the head arrives, then the connection is cut."""
        conn = http.client.HTTPConnection("127.0.0.1", self.system.lb.port, timeout=10)
        try:
            conn.request("GET", "/reset")
            response = conn.getresponse()
            try:
                body = response.read()
                problem = f"/reset answered {response.status} with {len(body)} bytes"
            except (http.client.IncompleteRead, ConnectionError):
                problem = None if response.status == 200 else f"/reset answered {response.status}"
        finally:
            conn.close()
        self.check("backend-reset", problem)

    def garbage_balancer(self) -> None:
        junk = bytes(self.rng.choice(b"!#$%&*+-.^_|~ABCxyz019\x00\x7f\xff") for _ in range(self.rng.randint(1, 200)))
        reply = send_and_read_all(self.system.lb.port, junk + b"\r\n\r\n")
        self.check("garbage-balancer", None if reply.startswith(b"HTTP/1.1 4") else f"garbage got {reply[:60]!r}")

    def store_kill(self) -> None:
        """Kill the limiter's connections to the clone: its pool must notice, reconnect,
        and decisions resume. They are the clients without a name that ran a script
        (every soak client has a name; garbage senders never get as far as EVAL)."""
        admin = self.system.admin

        def limiter_ids() -> list[int]:
            return [int(c["id"]) for c in admin.client_list() if not c["name"] and c["cmd"].startswith("eval")]

        victims = limiter_ids()
        for client_id in victims:
            admin.client_kill_filter(_id=client_id)
        wait_until(lambda: any(i > max(victims, default=0) for i in limiter_ids()), 10, "the limiter to reconnect")
        self.check("store-kill", None)

    # --- the clone's side

    def vanish_pipeline(self) -> None:
        """20,000 INCRs and half of one more; read a few replies, then reset."""
        name, key = self._name(), f"soak:vanish:{self.count}"
        data = (encode_command("CLIENT", "SETNAME", name) + encode_command("INCR", key) * 20_000
                + encode_command("INCR", key)[:-5])
        replies = self._vanish(data, name, read_first=200)
        ran = int(self.system.admin.get(key) or 0)
        enough = replies - 1 <= ran <= 20_000  # what was answered ran; the half command did not
        self.check("vanish-pipeline", None if enough else f"{ran} INCRs ran, {replies - 1} answered")

    def vanish_multi(self) -> None:
        """A transaction that would break the accounts' sum, never EXECed."""
        name = self._name()
        data = b"".join(encode_command(*c) for c in [("CLIENT", "SETNAME", name), ("MULTI",),
                                                       ("DECRBY", "soak:acct:0", 1_000_000)])
        self._vanish(data, name, read_first=len(b"+OK\r\n+OK\r\n+QUEUED\r\n"))
        self.check("vanish-multi", None)  # the accounts' sum, checked by every transfer, says if it ran

    def vanish_blpop(self) -> None:
        """Blocked in BLPOP, then gone: a later push must not be handed to the dead client."""
        name, key = self._name(), f"soak:blpop:{self.count}"
        admin = self.system.admin
        sock = socket.create_connection(("127.0.0.1", self.system.clone.port), timeout=10)
        sock.sendall(encode_command("CLIENT", "SETNAME", name) + encode_command("BLPOP", key, 0))
        wait_until(lambda: any(c["name"] == name and c["cmd"] == "blpop" for c in admin.client_list()),
                   10, "the BLPOP to block")
        reset_on_close(sock)
        sock.close()
        self._gone(name)
        admin.rpush(key, "job")
        self.check("vanish-blpop", None if admin.lpop(key) == "job" else "the dead client took the job")

    def garbage_clone(self) -> None:
        # `*` and a letter: an invalid multibulk length whatever follows, except a NUL,
        # which ends the line search (Redis's strchr) and leaves Redis, and us, waiting.
        junk = b"*" + bytes([self.rng.choice(b"abcxyz")]) + self.rng.randbytes(self.rng.randint(0, 200))
        junk = junk.replace(b"\0", b"?")
        reply = send_and_read_all(self.system.clone.port, junk + b"\r\n")
        ok = reply.startswith(b"-ERR Protocol error")
        self.check("garbage-clone", None if ok else f"garbage got {reply[:60]!r}")

    def _name(self) -> str:
        return f"soak-vanish-{self.count}"

    def _vanish(self, data: bytes, name: str, read_first: int) -> int:
        """Send, read `read_first` bytes of replies, reset; returns how many replies were whole."""
        sock = socket.create_connection(("127.0.0.1", self.system.clone.port), timeout=10)
        sock.sendall(data)
        received = b""
        while len(received) < read_first and (chunk := sock.recv(read_first - len(received))):
            received += chunk
        reset_on_close(sock)
        sock.close()
        self._gone(name)
        parser, replies = ReplyParser(), 0
        parser.feed(received)
        while parser.get() is not INCOMPLETE:
            replies += 1
        return replies

    def _gone(self, name: str) -> None:
        wait_until(lambda: all(c["name"] != name for c in self.system.admin.client_list()), 10,
                   f"{name} to be gone from CLIENT LIST")



# --- the system under test -----------------------------------------------------------------------


class System:
    """The clone, the backends and the limited balancer, started and stopped together."""

    def __init__(self) -> None:
        config = Config()
        config.set("port", "0", startup=True)
        config.set("save", "", startup=True)
        self.clone = RedisServer(config)
        self.clone.start()
        self.admin = redis.Redis(port=self.clone.port, socket_timeout=10, client_name="soak-admin",
                                 decode_responses=True)
        self.admin.mset({f"soak:acct:{i}": OPENING_BALANCE for i in range(ACCOUNTS)})
        self.primaries = [EchoBackend(name) for name in ("a", "b", "c")]
        self.backup = EchoBackend("backup")
        backends = [{"address": f"127.0.0.1:{b.port}"} for b in self.primaries]
        backends.append({"address": f"127.0.0.1:{self.backup.port}", "backup": True})
        policies = [{"name": "closed", "match": "/limited/*", "algorithm": "fixed-window",
                     "limit": f"{LIMIT}/{WINDOW:g}s", "on_store_error": "deny"},
                    {"name": "open", "match": "/open/*", "algorithm": "fixed-window",
                     "limit": f"{LIMIT}/{WINDOW:g}s", "on_store_error": "allow"}]
        config = from_mapping({
            "listen": "127.0.0.1:0", "backend": backends,
            "health": {"path": "/health", "interval": 0.1, "timeout": 1.0, "rise": 2, "fall": 2},
            "timeouts": {"connect": 1.0, "read": 10.0, "drain": 5.0},
            # A generous store timeout: on a busy machine a slow decision is not a fault
            # (a killed connection fails at once, whatever the timeout).
            "rate_limit": {"store": f"redis://127.0.0.1:{self.clone.port}",
                           "breaker": {"timeout": 2.0, "failure_threshold": 2, "reset_timeout": 0.3},
                           "policy": policies}})
        self.limiter = RateLimitService(config.rate_limit, SystemClock())
        balancer = LoadBalancer(config, access_log=AccessLog(_Discard()), admission=self.limiter.admission)
        self.proxy = LimitedProxy(self.limiter, balancer)
        self.proxy.start()
        self.lb = balancer

    @property
    def names(self) -> set[str]:
        return {b.name for b in (*self.primaries, self.backup)}

    def state_of(self, backend: EchoBackend) -> str:
        servers = self.lb.report()["pools"][self.lb.config.default_pool]["servers"]
        return servers[f"127.0.0.1:{backend.port}"]["state"]

    def settled(self) -> bool:
        """No request in flight and no client connection at the balancer or the clone."""
        report = self.lb.report()
        servers = [s for pool in report["pools"].values() for s in pool["servers"].values()]
        clients = self.admin.info("clients")
        return (report["in_flight"] == 0 and report["client_connections"] == 0
                and all(server["active"] == 0 for server in servers)
                and clients["blocked_clients"] == 0
                and all(c["name"] in ("soak-admin", "") for c in self.admin.client_list()))

    def stop(self) -> None:
        self.proxy.stop()
        for backend in (*self.primaries, self.backup):
            backend.kill()
        self.admin.close()
        self.clone.stop()


# --- the run ---------------------------------------------------------------------------------


class _Discard(io.TextIOBase):
    """Where the balancer's access log goes: nowhere (a StringIO would grow by a line per request)."""

    def write(self, text: str) -> int:
        return len(text)


def _trim_heap() -> None:
    """Hand freed heap pages back to the OS (glibc's malloc_trim; elsewhere, nothing).

    glibc keeps freed memory in its heaps, one heap per thread that ever allocated,
    and hundreds of short-lived threads came and went: without this, RSS measures the
    allocator's caches as much as our objects. Live (leaked) objects stay counted."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    if hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def resources() -> dict[str, float]:
    gc.collect()
    _trim_heap()
    process = psutil.Process()
    return {"python threads": threading.active_count(), "os threads": process.num_threads(),
            "open fds": process.num_fds(), "rss MB": round(process.memory_info().rss / 2**20, 1)}


def run_soak(duration: float, seed: int = 1, *, clone_workers: int = 4, http_workers: int = 2) -> SoakResult:
    """Start everything, run the workload and the faults for `duration` seconds, stop,
    and say what happened. Raises nothing for a failed check: the result says it."""
    result = SoakResult(duration, seed)
    ledger = Ledger(result)
    rng = random.Random(seed)
    before = resources()
    system = System()
    try:
        clients = [(RedisPyClient if i % 2 == 0 else RawClient)(system.clone.port, f"soak-w{i}")
                   for i in range(clone_workers)]
        workers = [CloneWorker(i, client, random.Random(rng.random()), ledger)
                   for i, client in enumerate(clients)]
        modes = ["keep-alive", "new-connection"] * http_workers + ["limited"]
        https = [HttpWorker(i, system.lb.port, mode, system.names, ledger) for i, mode in enumerate(modes)]
        injector = Injector(system, random.Random(rng.random()), ledger)
        finished = threading.Event()
        threads = [threading.Thread(target=_guarded, args=(ledger, worker.kind, worker.run, finished))
                   for worker in [*workers, *https]]
        threads.append(threading.Thread(target=_guarded, args=(ledger, "faults", injector.run,
                                                               time.monotonic() + duration, finished)))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        try:
            wait_until(system.settled, SETTLE, "the balancer and the clone to have no client left")
        except TimeoutError as err:
            result.leaks.append(str(err))
        for worker in workers:
            result.lost.extend(worker.verify(system.admin))
        balances = [int(v) for v in system.admin.mget([f"soak:acct:{i}" for i in range(ACCOUNTS)])]
        if sum(balances) != ACCOUNTS * OPENING_BALANCE:
            result.lost.append(f"the accounts hold {sum(balances)}, not {ACCOUNTS * OPENING_BALANCE}")
        admitted = [pair for h in https for pair in h.admitted]
        result.admitted = len(admitted)
        result.most_admitted_in_a_window = most_in_a_window(admitted, WINDOW)
    finally:
        system.stop()
    del system, injector  # the clone's keyspace must not count as a leak
    result.leaks.extend(leaks(before, result))
    return result


def _guarded(ledger: Ledger, kind: str, run: Callable, *args) -> None:
    """Run a worker; if it crashes, that is an unexpected error, not a quietly dead thread."""
    try:
        run(*args)
    except Exception as err:  # noqa: BLE001 (recorded, and the run fails because of it)
        ledger.record(kind, "unexpected", f"crashed: {err!r}")


def leaks(before: dict[str, float], result: SoakResult) -> list[str]:
    """Threads and fds must come back exactly where they were: nothing else starts or
    stops threads or files in between. RSS may keep some growth, measured after
    gc.collect() and malloc_trim: one-time costs (caches filled on first use, such as
    the clone's compiled Lua scripts and lazily imported modules) and pymalloc arenas that a
    few long-lived objects keep from being freed. About 5-10 MB for 25 s or 180 s of
    load; RSS_BOUND_MB is well above that, and well below what keeping one buffer,
    connection or thread per request (hundreds of thousands of them) would add up to."""
    found = []
    limits = {"python threads": 0, "os threads": 0, "open fds": 0, "rss MB": RSS_BOUND_MB}
    try:
        wait_until(lambda: all(now <= before[name] + limits[name] for name, now in resources().items()),
                   SETTLE, "threads, fds and memory to be back to baseline")
    except TimeoutError:
        pass  # said below, resource by resource
    after = resources()
    for name, limit in limits.items():
        result.resources[name] = (before[name], after[name])
        if after[name] > before[name] + limit:
            found.append(f"{name}: {before[name]:g} before, {after[name]:g} after (allowed +{limit})")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m perf.soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=180.0, help="seconds of load (default 180)")
    parser.add_argument("--seed", type=int, default=1, help="seeds the workload and the fault schedule")
    parser.add_argument("--json", metavar="PATH", help="also write the result as JSON")
    parser.add_argument("--verbose", action="store_true",
                        help="show the servers' warnings (every injected fault causes some)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.verbose else logging.ERROR)
    result = run_soak(args.duration, args.seed)
    print(result.table())
    if args.json:
        Path(args.json).write_text(result.to_json())
    failed = (result.total("unexpected") or result.total("wrong") or result.lost or result.leaks
              or result.most_admitted_in_a_window > result.allowance)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
