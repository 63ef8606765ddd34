"""Persistence, routing, hashing, TCP mode, stats, alerts and hot reload, end to end on loopback.

Backends are the helpers' http.server backends and, for TCP mode, two in-process
instances of our Redis clone; every server binds port 0. Waiting is polling with a
deadline (`wait_until`), never a fixed sleep.
"""

from __future__ import annotations

import http.client
import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from common.prometheus import parse
from load_balancer.config import from_mapping
from load_balancer.reload import Reloader
from redis_clone.server import RedisServer
from tests.conftest import make_config
from tests.integration.helpers import (INTERVAL, ROOT, TestBackend, backend_of, client, dead_port, entry,
                                       fetch, listening_port, wait_until)

FAST_CHECKS = {"path": "/health", "interval": INTERVAL, "timeout": 0.5, "rise": 2, "fall": 3}


def admin_get(lb, path: str) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", lb.admin.port, timeout=10)
    try:
        status, response, body = fetch(conn, path=path)
        return status, response.getheader("Content-Type"), body
    finally:
        conn.close()


def stats(lb) -> dict:
    return json.loads(admin_get(lb, "/stats")[2])


# --- session persistence ------------------------------------------------------------------------


def test_sticky_cookie_holds_across_100_requests_and_moves_with_a_new_cookie_when_its_server_dies(
        backends, balancer):
    servers = backends("a", "b", "c")
    lb = balancer(*map(entry, servers), sticky={"mode": "cookie"})
    conn = client(lb)
    _, response, _ = fetch(conn)
    first, cookie = response.getheader("X-Backend"), response.getheader("Set-Cookie").split(";")[0]
    assert cookie.startswith("LB_SERVER=") and "127.0.0.1" not in cookie
    for _ in range(100):
        status, response, _ = fetch(conn, headers={"Cookie": cookie})
        assert (status, response.getheader("X-Backend"), response.getheader("Set-Cookie")) == (200, first, None)
    assert sorted(s.requests for s in servers) == [0, 0, 101]
    pinned = next(s for s in servers if s.name == first)
    pinned.kill()
    wait_until(lambda: pinned.port not in [b.port for b in lb.backends.snapshot.servers], message="down")
    _, response, _ = fetch(conn, headers={"Cookie": cookie})
    moved, new_cookie = response.getheader("X-Backend"), response.getheader("Set-Cookie").split(";")[0]
    assert moved != first and new_cookie != cookie
    assert {backend_of_cookie(conn, new_cookie) for _ in range(10)} == {moved}


def backend_of_cookie(conn, cookie: str) -> str:
    _, response, _ = fetch(conn, headers={"Cookie": cookie})
    return response.getheader("X-Backend")


def test_source_ip_persistence_tells_clients_apart_by_x_forwarded_for_from_trusted_proxies_only(
        backends, balancer):
    servers = backends("a", "b", "c")
    trusting = balancer(*map(entry, servers), sticky={"mode": "source-ip"}, trusted_proxies=["127.0.0.1"])
    conn = client(trusting)
    seen = {}
    for i in range(1, 13):
        forwarded = {"X-Forwarded-For": f"198.51.100.{i}"}
        seen[i] = {fetch(conn, headers=forwarded)[1].getheader("X-Backend") for _ in range(5)}
    assert all(len(names) == 1 for names in seen.values())
    assert Counter(next(iter(names)) for names in seen.values()) == {"a": 4, "b": 4, "c": 4}
    untrusting = balancer(*map(entry, servers), sticky={"mode": "source-ip"})
    conn = client(untrusting)
    assert len({fetch(conn, headers={"X-Forwarded-For": f"198.51.100.{i}"})[1].getheader("X-Backend")
                for i in range(1, 13)}) == 1  # everyone is 127.0.0.1: one client, one server


# --- routing and hashing ---------------------------------------------------------------------


def test_routing_rules_send_api_posts_and_static_gets_to_different_pools(backends, balancer):
    web, api, static = backends("web", "api", "static")
    lb = balancer(entry(web), pool=[
        {"name": "api", "algorithm": "least-connections", "backend": [entry(api)]},
        {"name": "static", "backend": [entry(static)]}], route=[
        {"pool": "api", "path_prefix": "/api/", "methods": ["POST"]},
        {"pool": "static", "path_prefix": "/static/", "methods": ["GET", "HEAD"]}])
    conn = client(lb)

    def served_by(method: str, path: str) -> str:
        status, response, _ = fetch(conn, method, path, body=b"{}" if method == "POST" else None)
        assert status == 200
        return response.getheader("X-Backend")

    assert [served_by("POST", "/api/orders") for _ in range(3)] == ["api"] * 3
    assert [served_by("GET", "/static/app.js") for _ in range(3)] == ["static"] * 3
    assert served_by("GET", "/api/orders") == "web"        # right path, other method
    assert served_by("POST", "/static/upload") == "web"
    assert served_by("GET", "/") == "web"


def test_consistent_hash_by_header_keeps_each_user_on_one_server(backends, balancer):
    servers = backends("a", "b", "c")
    lb = balancer(*map(entry, servers), algorithm="consistent-hash", hash_key="header:X-User")
    conn = client(lb)
    seen = {user: {fetch(conn, headers={"X-User": user})[1].getheader("X-Backend") for _ in range(4)}
            for user in (f"user-{i}" for i in range(30))}
    assert all(len(names) == 1 for names in seen.values())
    assert len(set().union(*seen.values())) == 3


# --- TCP mode -----------------------------------------------------------------------------------


@pytest.fixture
def redis_clones():
    started: list[RedisServer] = []

    def start(n: int) -> list[RedisServer]:
        for _ in range(n):
            started.append(RedisServer(make_config()))
            started[-1].start()
        return started[-n:]

    yield start
    for server in started:
        server.stop()


def redis_entry(server: RedisServer) -> dict:
    return {"address": f"127.0.0.1:{server.port}"}


def test_tcp_mode_carries_redis_py_traffic_to_two_clones_and_fails_over_when_one_stops(
        redis_clones, balancer):
    redis = pytest.importorskip("redis")
    from redis.backoff import NoBackoff
    from redis.retry import Retry
    first, second = redis_clones(2)
    lb = balancer(redis_entry(first), redis_entry(second), mode="tcp",
                  health={"check": "redis", "path": "", "fall": 2, "rise": 1})

    def connect():  # a connection error (its server stopped) is retried on a new connection
        return redis.Redis(port=lb.port, socket_timeout=5, retry=Retry(NoBackoff(), 3),
                           retry_on_error=[redis.ConnectionError])

    clients = [connect() for _ in range(10)]
    for i, conn in enumerate(clients):
        assert conn.set(f"key:{i}", i) and conn.get(f"key:{i}") == str(i).encode()
    direct = [redis.Redis(port=server.port) for server in (first, second)]
    assert [d.dbsize() for d in direct] == [5, 5]  # one connection each, round-robin
    direct[0].close()
    first.stop()
    wait_until(lambda: not lb.backends.backends[0].up, message="the stopped clone marked down")
    assert lb.backends.backends[0].stats.last_check.detail.endswith("Connection refused")
    for i, conn in enumerate(clients):  # half of them were on the stopped clone
        assert conn.set(f"after:{i}", i) and conn.incr("counter") == i + 1
    assert direct[1].get("counter") == b"10"
    for conn in [*clients, direct[1]]:
        conn.close()


def test_tcp_mode_serves_redis_cli_through_the_balancer(redis_clones, balancer):
    if shutil.which("redis-cli") is None:
        pytest.skip("redis-cli is not installed (apt-get install redis-tools)")
    (server,) = redis_clones(1)
    lb = balancer(redis_entry(server), mode="tcp", health={"check": "connect", "path": ""})
    result = subprocess.run(["redis-cli", "-p", str(lb.port)], input="PING\nSET greeting hello\nGET greeting\n",
                            capture_output=True, text=True, timeout=30)
    assert result.stdout.split() == ["PONG", "OK", "hello"]


def test_tcp_mode_tries_another_server_when_a_connect_is_refused(backends, balancer):
    (server,) = backends("a")
    lb = balancer({"address": f"127.0.0.1:{dead_port()}"}, entry(server), mode="tcp",
                  health={"path": "", "passive_fails": 0})
    for _ in range(4):
        with socket.create_connection(("127.0.0.1", lb.port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            assert b"".join(iter(lambda: sock.recv(65536), b"")).endswith(b"\r\n\r\na")
    dead, live = lb.backends.backends
    # Two picks per connection keep round-robin in step: the dead one is always tried first.
    assert (dead.stats.errors, dead.stats.retries, live.stats.requests) == (4, 4, 4)


def test_tcp_mode_passes_half_close_on_and_still_delivers_the_answer(backends, balancer):
    (server,) = backends("a")
    lb = balancer(entry(server), mode="tcp")
    with socket.create_connection(("127.0.0.1", lb.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        sock.shutdown(socket.SHUT_WR)  # "I am done sending": the server must still answer
        reply = b"".join(iter(lambda: sock.recv(65536), b""))
    assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"\r\n\r\na")


# --- the admin port -----------------------------------------------------------------------------


def test_stats_numbers_agree_with_the_requests_the_test_sent(backends, balancer):
    a, b = backends("a", "b")
    lb = balancer(entry(a), entry(b, weight=2), admin="127.0.0.1:0")
    conn = client(lb)
    for _ in range(20):
        backend_of(conn)
    for _ in range(2):
        assert fetch(conn, path="/garbage")[0] == 502
    report = wait_until(lambda: (s := stats(lb))["pools"]["default"]["requests"] == 22 and s,
                        message="every request counted")
    pool = report["pools"]["default"]
    assert pool["responses"] == {"2xx": 20, "5xx": 2} and pool["serving"] == "primaries"
    servers = [pool["servers"][f"127.0.0.1:{s.port}"] for s in (a, b)]
    assert [s["requests"] for s in servers] == [11, 11]  # round-robin ignores weights
    assert [s["weight"] for s in servers] == [1, 2]
    assert sum(s["errors"] for s in servers) == 2
    assert [s["active"] for s in servers] == [0, 0]
    for server in servers:
        assert server["state"] == "up" and server["connections"] >= 1 and server["last_check"]["ok"]
        assert set(server["latency_ms"]) == {"p50", "p90", "p99"}
    assert [s["requests"] for s in servers] == [a.requests, b.requests]  # what the backends saw


def test_metrics_dashboard_and_health_on_the_admin_port(backends, balancer):
    (server,) = backends("a")
    lb = balancer(entry(server), admin="127.0.0.1:0")
    for _ in range(3):
        backend_of(client(lb))
    address = f"127.0.0.1:{server.port}"
    samples = wait_until(lambda: (m := parse(admin_get(lb, "/metrics")[2].decode())).get(
        ("lb_server_requests_total", (("pool", "default"), ("server", address)))) == 3 and m)
    assert samples["lb_pool_responses_total", (("code", "2xx"), ("pool", "default"))] == 3
    status, content_type, page = admin_get(lb, "/")
    assert (status, content_type) == (200, "text/html; charset=utf-8")
    assert b"http-equiv='refresh'" in page and address.encode() in page
    status, _, body = admin_get(lb, "/health")
    assert (status, json.loads(body)["status"]) == (200, "ok")
    server.kill()
    wait_until(lambda: admin_get(lb, "/health")[0] == 503, message="/health reports no server")
    assert admin_get(lb, "/nope")[0] == 404


# --- alerts -----------------------------------------------------------------------------------


class _Webhook(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        self.posts: list[dict] = []
        super().__init__(("127.0.0.1", 0), _WebhookHandler)


class _WebhookHandler(BaseHTTPRequestHandler):
    server: _Webhook

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        self.server.posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()


@pytest.fixture
def webhook():
    server = _Webhook()
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_losing_the_last_server_posts_to_the_webhook_and_runs_the_command(backends, balancer, webhook,
                                                                          tmp_path):
    (server,) = backends("a")
    record = tmp_path / "alerts.jsonl"
    command = [sys.executable, "-c",
               f"import os, sys; open({str(record)!r}, 'a').write(os.environ['LB_ALERT_KIND'] + ' '"
               " + sys.stdin.read() + '\\n')"]
    lb = balancer(entry(server), alerts={"command": command,
                                         "webhook": f"http://127.0.0.1:{webhook.server_port}/lb?team=web"})
    server.kill()
    (posted,) = wait_until(lambda: webhook.posts, message="the webhook POST")
    assert (posted["kind"], posted["pool"], posted["server"]) == ("no-server", "default", f"127.0.0.1:{server.port}")
    line = wait_until(lambda: record.exists() and record.read_text(), message="the command's output")
    kind, payload = line.strip().split(" ", 1)
    assert kind == "no-server" and json.loads(payload) == posted
    lb.alerts.flush()


# --- hot reload -------------------------------------------------------------------------------


def test_a_reload_adds_servers_and_removed_ones_finish_their_requests_in_flight(backends, balancer):
    a, b, c = backends("a", "b", "c")
    settings = {"health": FAST_CHECKS, "admin": "127.0.0.1:0"}
    lb = balancer(entry(a), entry(b), **settings)
    result = {}
    slow = threading.Thread(target=lambda: result.update(reply=fetch(client(lb), path="/slow")))
    slow.start()
    (busy,) = wait_until(lambda: [s for s in (a, b) if s.hits["/slow"]], message="the slow request")
    kept = b if busy is a else a
    reloader = Reloader(lambda: from_mapping({"listen": "127.0.0.1:0", "backend": [entry(kept), entry(c)],
                                              **settings}), lb)
    assert reloader.reload()
    conn = client(lb)
    assert Counter(backend_of(conn) for _ in range(6)) == {kept.name: 3, "c": 3}
    busy.gate.set()
    slow.join()
    status, response, body = result["reply"]
    assert (status, body) == (200, b"slow\n")  # it finished on the removed server
    report = wait_until(lambda: (s := stats(lb))["pools"]["default"]["requests"] == 7 and s)
    assert f"127.0.0.1:{busy.port}" not in report["pools"]["default"]["servers"]


def test_an_invalid_config_is_refused_and_the_running_one_stays(backends, balancer, caplog):
    a, b = backends("a", "b")
    lb = balancer(entry(a))
    bad = {"listen": "127.0.0.1:0", "backend": [entry(b, weight=0)]}
    assert not Reloader(lambda: from_mapping(bad), lb).reload()
    assert "reload refused, the running configuration stays: backend[1].weight: must be at least 1" in caplog.text
    moved = {"listen": "127.0.0.1:9", "backend": [entry(b)]}
    assert not Reloader(lambda: from_mapping(moved), lb).reload()
    assert "listen: changed, and changing it needs a restart" in caplog.text
    assert {backend_of(client(lb)) for _ in range(3)} == {"a"}


class _Stderr:
    """A process's stderr lines, read on a thread so the pipe never fills up."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[str] = []
        threading.Thread(target=lambda: self.lines.extend(proc.stderr), daemon=True).start()

    def wait_for(self, text: str) -> str:
        return wait_until(lambda: next((line for line in self.lines if text in line), None),
                          timeout=30, message=repr(text))


def write_config(path: Path, *servers: TestBackend, extra: str = "") -> None:
    backends = "".join(f'[[backend]]\naddress = "127.0.0.1:{s.port}"\n' for s in servers)
    path.write_text(f'listen = "127.0.0.1:0"\n{extra}{backends}')


def test_sighup_adds_a_server_during_a_running_load_with_zero_failed_requests(backends, tmp_path):
    a, b = backends("a", "b")
    config = tmp_path / "lb.toml"
    write_config(config, a)
    proc = subprocess.Popen([sys.executable, "-m", "load_balancer", "--config", str(config),
                             "--health-check", "/health", "--health-interval", "0.05",
                             "--admin", "127.0.0.1:0"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    stderr = _Stderr(proc)
    try:
        port = listening_port(stderr.wait_for("listening on"))
        outcomes: Counter[str] = Counter()
        stop = threading.Event()

        def load() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            while not stop.is_set():
                try:
                    status, response, _ = fetch(conn)
                    outcomes[f"{status} {response.getheader('X-Backend')}"] += 1
                except (OSError, http.client.HTTPException) as err:
                    outcomes[repr(err)] += 1
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

        workers = [threading.Thread(target=load) for _ in range(4)]
        for worker in workers:
            worker.start()
        wait_until(lambda: outcomes["200 a"] > 50, message="load on a")
        write_config(config, a, b)
        proc.send_signal(signal.SIGHUP)
        stderr.wait_for("reloaded: default: 2 servers")
        wait_until(lambda: outcomes["200 b"] > 50, message="load reaching the added server")
        config.write_text("listen = \n")  # not TOML: refused, and a and b keep serving
        proc.send_signal(signal.SIGHUP)
        assert "is not valid TOML" in stderr.wait_for("reload refused")
        served = outcomes["200 b"]
        wait_until(lambda: outcomes["200 b"] > served + 50, message="load after the refused reload")
        stop.set()
        for worker in workers:
            worker.join()
        assert set(outcomes) == {"200 a", "200 b"}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
