"""The rate-limiting gateway end to end: a real upstream, a real HTTP client, real Redis.

Gateways run in-process on port 0 (the upstream is the load balancer tests' backend).
Waiting is polling with a deadline, never a fixed sleep.
"""

from __future__ import annotations

import http.client
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from common.prometheus import parse
from load_balancer.accesslog import AccessLog
from rate_limiter.config import from_mapping
from rate_limiter.gateway import Gateway
from tests.conftest import free_port
from tests.integration.helpers import TestBackend, fetch, wait_until

ROOT = Path(__file__).resolve().parents[2]
PER_IP = {"name": "per-ip", "limit": "3/minute", "algorithm": "fixed-window"}


@pytest.fixture
def upstream():
    backend = TestBackend("upstream")
    yield backend
    backend.kill()


@pytest.fixture
def gateway(upstream):
    started: list[Gateway] = []

    def start(*policies: dict, **settings) -> Gateway:
        raw = {"listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{upstream.port}",
               "admin": "127.0.0.1:0", "policy": list(policies), **settings}
        gw = Gateway(from_mapping(raw), access_log=AccessLog(io.StringIO()))
        gw.start()
        started.append(gw)
        return gw

    yield start
    for gw in started:
        gw.stop()


def connect(gw: Gateway) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)


def statuses(gw: Gateway, count: int, path: str = "/", **headers: str) -> list[int]:
    """`count` GETs on one connection; header names are written with _ for -."""
    fields = {name.replace("_", "-"): value for name, value in headers.items()}
    conn = connect(gw)
    try:
        return [fetch(conn, path=path, headers=fields)[0] for _ in range(count)]
    finally:
        conn.close()


def metrics(gw: Gateway) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", gw.admin_port, timeout=10)
    status, response, body = fetch(conn, path="/metrics")
    conn.close()
    assert status == 200 and response.getheader("Content-Type").startswith("text/plain; version=0.0.4")
    return parse(body.decode())


# --- headers and 429 ------------------------------------------------------------------------

def test_allowed_responses_carry_the_upstreams_body_and_ratelimit_headers(gateway, upstream):
    gw = gateway(PER_IP)
    status, response, body = fetch(connect(gw))
    assert (status, body) == (200, b"upstream")
    assert response.getheader("RateLimit-Policy") == '"per-ip";q=3;w=60'
    assert response.getheader("RateLimit") == '"per-ip";r=2;t=60'
    assert response.getheader("X-RateLimit-Limit") == "3"
    assert response.getheader("X-RateLimit-Remaining") == "2"
    assert response.getheader("X-RateLimit-Reset") == "60"


def test_over_the_limit_is_429_with_retry_after_and_never_reaches_the_upstream(gateway, upstream):
    gw = gateway(PER_IP)
    conn = connect(gw)
    for _ in range(3):
        fetch(conn)
    status, response, body = fetch(conn)
    assert status == 429 and response.reason == "Too Many Requests"
    assert 1 <= int(response.getheader("Retry-After")) <= 60
    assert response.getheader("RateLimit").startswith('"per-ip";r=0;t=')
    assert response.getheader("X-RateLimit-Remaining") == "0"
    assert b"rate limit exceeded" in body
    assert upstream.requests == 3
    assert fetch(conn)[0] == 429  # the connection stays usable after a 429


def test_clients_behind_a_trusted_proxy_are_told_apart_by_x_forwarded_for(gateway):
    gw = gateway({**PER_IP, "limit": "1/minute"}, trusted_proxies=["127.0.0.1"])
    assert statuses(gw, 2, X_Forwarded_For="198.51.100.1") == [200, 429]
    assert statuses(gw, 1, X_Forwarded_For="198.51.100.2") == [200]


def test_tiers_give_each_api_key_its_limit(gateway):
    gw = gateway({"name": "api", "limit": "2/minute", "algorithm": "sliding-log",
                  "key": "header:X-API-Key", "tiers": {"pro": "5/minute", "ops": "unlimited"}},
                 tiers={"default": "free", "keys": {"k-pro": "pro", "k-ops": "ops"}})
    assert statuses(gw, 3, X_API_Key="k-free") == [200, 200, 429]
    assert statuses(gw, 6, X_API_Key="k-pro") == [200] * 5 + [429]
    assert statuses(gw, 10, X_API_Key="k-ops") == [200] * 10


def test_endpoint_policies_apply_to_their_routes_only(gateway):
    gw = gateway(PER_IP, {"name": "login", "match": "POST /login", "limit": "1/minute",
                          "key": ["ip", "endpoint"]})
    conn = connect(gw)
    assert fetch(conn, "POST", "/login", body=b"u=1")[0] == 200
    status, response, _ = fetch(conn, "POST", "/login", body=b"u=1")
    assert status == 429 and response.getheader("RateLimit").startswith('"login"')
    # The refused POST still counted for per-ip (3 a minute): one request is left.
    assert [fetch(conn, "GET", "/home")[0] for _ in range(2)] == [200, 429]


def test_shadow_mode_never_refuses_but_counts(gateway):
    gw = gateway({**PER_IP, "shadow": True})
    assert statuses(gw, 5) == [200] * 5
    assert metrics(gw)["ratelimit_requests_total", (("policy", "per-ip"), ("result", "shadow_limited"))] == 2


def test_metrics_count_allowed_and_limited_per_policy(gateway):
    gw = gateway(PER_IP)
    statuses(gw, 5)
    samples = metrics(gw)
    assert samples["ratelimit_requests_total", (("policy", "per-ip"), ("result", "allowed"))] == 3
    assert samples["ratelimit_requests_total", (("policy", "per-ip"), ("result", "limited"))] == 2
    assert samples["ratelimit_decision_seconds_count", ()] == 5


# --- the store fails and comes back ---------------------------------------------------------


class RedisProcess:
    """A redis-server of our own, to stop, freeze and restart mid-test."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            pytest.skip("redis-server is not installed (apt-get install redis-server)")
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([self.binary, "--port", str(self.port), "--save", "",
                                      "--appendonly", "no", "--bind", "127.0.0.1"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._answers, message="redis-server to start")

    def _answers(self) -> bool:
        try:
            with socket_to(self.port) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16) == b"+PONG\r\n"
        except OSError:
            return False

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def freeze(self, frozen: bool) -> None:
        """SIGSTOP: connections still open (the kernel accepts them) but nothing answers."""
        os.kill(self.proc.pid, signal.SIGSTOP if frozen else signal.SIGCONT)


def socket_to(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=1)


def listening(port: int) -> bool:
    try:
        socket_to(port).close()
        return True
    except OSError:
        return False


@pytest.fixture
def redis_process():
    redis = RedisProcess()
    redis.start()
    yield redis
    if redis.proc.poll() is None:
        redis.freeze(False)
        redis.kill()


OUTAGE_POLICIES = (
    {"name": "open", "match": "/open", "limit": "2/minute", "on_store_error": "allow"},
    {"name": "closed", "match": "/closed", "limit": "2/minute", "on_store_error": "deny"},
    {"name": "local", "match": "/local", "limit": "2/minute", "on_store_error": "local"},
)
BREAKER = {"timeout": 0.1, "failure_threshold": 2, "reset_timeout": 0.3}


def timed_status(conn: http.client.HTTPConnection, path: str) -> tuple[int, float]:
    started = time.monotonic()
    status = fetch(conn, path=path)[0]
    return status, time.monotonic() - started


def assert_outage_answers(gw: Gateway) -> None:
    """Each policy answers per its on_store_error, and fast: at most one store timeout."""
    conn = connect(gw)
    answers = {path: [timed_status(conn, path) for _ in range(4)]
               for path in ("/open", "/closed", "/local")}
    assert [s for s, _ in answers["/open"]] == [200] * 4        # fail open
    assert [s for s, _ in answers["/closed"]] == [503] * 4      # fail closed
    assert [s for s, _ in answers["/local"]] == [200, 200, 429, 429]  # this node's own limiter
    slowest = max(t for timings in answers.values() for _, t in timings)
    assert slowest < BREAKER["timeout"] + 0.4
    conn.close()


def assert_limiting_resumes(gw: Gateway) -> None:
    """After the breaker's reset timeout a probe finds the store, and it decides again."""
    wait_until(lambda: statuses(gw, 1, "/closed") != [503], timeout=5,
               message="a probe to find the store back")
    assert metrics(gw)["ratelimit_breaker_state", (("state", "closed"),)] == 1
    # 2 a minute: a refusal within three more requests (a frozen store may still run
    # the probes it got late, so the count may already be one ahead).
    assert 429 in statuses(gw, 3, "/closed")


def test_a_killed_store_is_answered_per_policy_and_limiting_resumes_after_restart(gateway, redis_process):
    gw = gateway(*OUTAGE_POLICIES, store=f"redis://127.0.0.1:{redis_process.port}", breaker=BREAKER)
    assert statuses(gw, 3, "/open") == [200, 200, 429]            # the store decides
    redis_process.kill()
    assert_outage_answers(gw)
    assert metrics(gw)["ratelimit_breaker_state", (("state", "open"),)] == 1
    redis_process.start()                                         # same port, empty
    assert_limiting_resumes(gw)


def test_a_frozen_store_costs_at_most_one_timeout_per_request(gateway, redis_process):
    gw = gateway(*OUTAGE_POLICIES, store=f"redis://127.0.0.1:{redis_process.port}", breaker=BREAKER)
    assert statuses(gw, 1, "/open") == [200]                      # pools a connection
    redis_process.freeze(True)
    assert_outage_answers(gw)
    redis_process.freeze(False)
    assert_limiting_resumes(gw)


# --- the load balancer's [rate_limit] section ------------------------------------------------

def test_the_load_balancer_applies_its_rate_limit_section(upstream, tmp_path):
    port, admin = free_port(), free_port()
    config = tmp_path / "lb.toml"
    config.write_text(f'''
listen = "127.0.0.1:{port}"
[[backend]]
address = "127.0.0.1:{upstream.port}"
[rate_limit]
admin = "127.0.0.1:{admin}"
[[rate_limit.policy]]
name = "per-ip"
limit = "2/minute"
''')
    proc = subprocess.Popen([sys.executable, "-m", "load_balancer", "--config", str(config)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: proc.poll() is not None or listening(port), timeout=20,
                   message="the load balancer to listen")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        answers = [fetch(conn) for _ in range(3)]
        assert [status for status, _, _ in answers] == [200, 200, 429]
        assert answers[0][1].getheader("RateLimit") == '"per-ip";r=1;t=30'  # 1 token a 30 s
        assert answers[2][1].getheader("Retry-After") is not None
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=10) as response:
            assert 'ratelimit_requests_total{policy="per-ip",result="limited"} 1' in response.read().decode()
    finally:
        proc.terminate()
        proc.wait(10)
