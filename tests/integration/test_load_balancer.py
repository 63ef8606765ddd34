"""The load balancer end to end: real backends (http.server) and real clients on loopback.

Every server binds port 0. Health checks run every 50 ms so failures are detected in a
fraction of a second; tests wait for observable state with `wait_until` (poll with a
deadline), never with a fixed sleep. Backends, clients and fixtures: helpers.py and
conftest.py in this folder.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import signal
import socket
import threading
import time
from collections import Counter

import pytest

from tests.integration.helpers import (FALL, INTERVAL, RISE, backend_of, client, dead_port, entry,
                                       fetch, listening_port, pattern, send_and_read_all, run_cli, wait_until)

# --- distribution ---------------------------------------------------------------------


def test_round_robin_is_exactly_even_through_the_proxy(backends, balancer):
    servers = backends("a", "b", "c")
    lb = balancer(*map(entry, servers))
    conn = client(lb)
    for _ in range(30):
        backend_of(conn)
    assert [s.requests for s in servers] == [10, 10, 10]


def test_weighted_round_robin_is_proportional_and_interleaved(backends, balancer):
    a, b, c = backends("a", "b", "c")
    lb = balancer(entry(a, weight=5), entry(b, weight=1), entry(c, weight=1),
                  algorithm="weighted-round-robin")
    conn = client(lb)
    assert "".join(backend_of(conn) for _ in range(14)) == "aabacaa" * 2


def test_least_connections_prefers_the_idle_server_when_one_is_slow(backends, balancer):
    servers = backends("a", "b")
    lb = balancer(*map(entry, servers), algorithm="least-connections")
    slow_request = threading.Thread(target=lambda: fetch(client(lb), path="/slow"))
    slow_request.start()
    slow = wait_until(lambda: next((s for s in servers if s.hits["/slow"]), None), message="slow request")
    fast = next(s for s in servers if s is not slow)
    conn = client(lb)
    assert {backend_of(conn) for _ in range(6)} == {fast.name}
    slow.gate.set()
    slow_request.join()


def test_ip_hash_keeps_each_client_on_one_server(backends, balancer):
    servers = backends("a", "b", "c")
    lb = balancer(*map(entry, servers), algorithm="ip-hash")
    seen = {}
    for i in range(2, 22):
        conn = client(lb, source_address=(f"127.0.0.{i}", 0))
        seen[i] = {backend_of(conn) for _ in range(4)}
        conn.close()
    assert all(len(names) == 1 for names in seen.values())
    assert len(set().union(*seen.values())) > 1


# --- the HTTP path --------------------------------------------------------------------


def test_keep_alive_holds_on_both_sides_of_the_proxy(backends, balancer):
    (server,) = backends("a")
    lb = balancer(entry(server), health={"path": ""})
    conn = client(lb)
    backend_of(conn)
    first_socket = conn.sock
    for _ in range(4):
        backend_of(conn)
    assert conn.sock is first_socket   # the client connection was never closed
    assert server.connections == 1     # one pooled upstream connection served all five


def test_pooled_connection_closed_by_the_backend_is_retried_on_a_new_one(backends, balancer):
    (server,) = backends("a")
    lb = balancer(entry(server), health={"path": ""})
    conn = client(lb)
    assert [fetch(conn, path="/one-per-connection")[0] for _ in range(3)] == [200] * 3
    assert server.connections == 3
    assert lb.backends.backends[0].stats.errors == 0  # a stale connection is not the server's fault


def test_http10_client_gets_keep_alive_when_it_asks(backends, balancer):
    (server,) = backends("a")
    lb = balancer(entry(server))
    with socket.create_connection(("127.0.0.1", lb.port), timeout=5) as sock:
        for _ in range(2):
            sock.sendall(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            reply = sock.recv(65536)
            assert reply.startswith(b"HTTP/1.1 200") and b"Connection: keep-alive" in reply
            assert reply.endswith(b"\r\n\r\na")


def test_chunked_bodies_pass_intact_both_ways(backends, balancer):
    (server,) = backends("a")
    lb = balancer(entry(server))
    conn = client(lb)
    parts = [b"x" * 1000, b"y" * 70_000, b"z"]
    status, _, body = fetch(conn, "POST", "/echo", body=iter(parts))  # an iterable goes chunked
    assert (status, body) == (200, b"".join(parts))
    status, response, body = fetch(conn, path="/chunked")
    assert (response.getheader("Transfer-Encoding"), body) == ("chunked", b"one two three")


def test_ten_megabyte_bodies_pass_intact_both_ways(backends, balancer):
    (server,) = backends("a")
    lb = balancer(entry(server))
    conn = client(lb)
    upload = os.urandom(10 * 1024 * 1024)
    status, _, body = fetch(conn, "POST", "/echo", body=upload)
    assert status == 200 and hashlib.sha256(body).digest() == hashlib.sha256(upload).digest()
    size = 10 * 1024 * 1024
    status, _, body = fetch(conn, path=f"/big?{size}")
    assert status == 200 and body == pattern(size)


def test_response_ending_at_close_reaches_an_http11_client_chunked(backends, balancer):
    (server,) = backends("a")
    lb = balancer(entry(server))
    conn = client(lb)
    status, response, body = fetch(conn, path="/until-close?100000")
    assert response.getheader("Transfer-Encoding") == "chunked" and body == pattern(100000)
    assert backend_of(conn) == "a"  # and the client connection is still usable


def test_head_response_keeps_its_content_length_but_has_no_body(backends, balancer):
    (server,) = backends("a")
    lb = balancer(entry(server))
    conn = client(lb)
    status, response, body = fetch(conn, "HEAD", "/big?1234")
    assert (status, response.getheader("Content-Length"), body) == (200, "1234", b"")
    assert backend_of(conn) == "a"


def test_forwarding_headers_are_added_and_hop_by_hop_ones_removed(backends, balancer):
    (server,) = backends("a")
    lb = balancer(entry(server))
    status, _, body = fetch(client(lb), path="/headers", headers={
        "X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https",
        "Connection": "X-Private", "X-Private": "secret", "Keep-Alive": "timeout=5"})
    seen = {name.lower(): value for name, value in json.loads(body)}
    assert seen["x-forwarded-for"] == "203.0.113.7, 127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    assert seen["forwarded"] == f'for=127.0.0.1;proto=http;host="127.0.0.1:{lb.port}"'
    assert "x-private" not in seen and "keep-alive" not in seen and "connection" not in seen


def test_expect_100_continue_is_answered_by_the_proxy(backends, balancer):
    (server,) = backends("a")
    lb = balancer(entry(server))
    with socket.create_connection(("127.0.0.1", lb.port), timeout=5) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"hello")
        assert sock.recv(65536).endswith(b"\r\n\r\nhello")


def test_access_log_has_one_line_per_request(backends, balancer):
    (server,) = backends("a")
    lb = balancer(entry(server))
    fetch(client(lb), path="/big?42")
    # The line is written once the response is out, so the client may be a bit early.
    (line,) = wait_until(lambda: lb.access_log.stream.getvalue().splitlines(), message="log line")
    assert line.startswith("127.0.0.1 [")
    assert f'"GET /big?42 HTTP/1.1" 200 42 backend=127.0.0.1:{server.port} upstream=' in line
    assert " total=" in line


# --- errors the proxy answers itself ----------------------------------------------------


@pytest.mark.parametrize("request_bytes, status", [
    (b"GET / HTTP/1.1\r\n\r\n", 400),                                   # no Host
    (b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 40_000 + b"\r\n\r\n", 431),
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
])
def test_malformed_requests_are_refused_and_the_connection_closed(backends, balancer, request_bytes, status):
    (server,) = backends("a")
    lb = balancer(entry(server))
    reply = send_and_read_all(lb.port, request_bytes)
    assert reply.startswith(b"HTTP/1.1 %d " % status) and b"Connection: close" in reply
    assert server.requests == 0


def test_no_backend_up_is_503_with_a_short_body(backends, balancer):
    (server,) = backends("a")
    lb = balancer(entry(server))
    server.kill()
    wait_until(lambda: not lb.backends.snapshot.servers, message="backend marked down")
    status, response, body = fetch(client(lb))
    assert status == 503 and body == b"503 Service Unavailable: no backend is available\n"


def test_refused_connection_is_502_when_no_retry_is_left(balancer):
    lb = balancer({"address": f"127.0.0.1:{dead_port()}"}, health={"path": ""}, retries=0)
    status, _, body = fetch(client(lb))
    assert status == 502 and b"Connection refused" in body


def test_backend_too_slow_to_answer_is_504(backends, balancer):
    (server,) = backends("a")
    lb = balancer(entry(server), timeouts={"read": 0.2})
    status, _, _ = fetch(client(lb), path="/slow")
    assert status == 504


def test_backend_speaking_garbage_is_502(backends, balancer):
    (server,) = backends("a")
    lb = balancer(entry(server))
    status, _, body = fetch(client(lb), path="/garbage")
    assert status == 502 and b"bad response" in body


def test_connect_failure_is_retried_on_another_server(backends, balancer):
    (server,) = backends("a")
    lb = balancer({"address": f"127.0.0.1:{dead_port()}"}, entry(server),
                  health={"path": "", "passive_fails": 0})
    conn = client(lb)
    assert [fetch(conn, "POST", "/echo", body=b"x")[0] for _ in range(6)] == [200] * 6
    assert server.requests == 6


# --- failures -----------------------------------------------------------------------------


def test_killed_backend_is_marked_down_within_fall_times_interval(backends, balancer):
    a, b = backends("a", "b")
    lb = balancer(entry(a), entry(b))
    wait_until(lambda: a.health_checks >= 1, message="first health check")
    killed_at = time.monotonic()
    a.kill()
    wait_until(lambda: not lb.backends.backends[0].up, message="a marked down")
    # One interval of slack for thread scheduling on a busy machine.
    assert time.monotonic() - killed_at <= (FALL + 1) * INTERVAL + 0.1


def test_idempotent_requests_see_no_errors_when_a_backend_dies(backends, balancer):
    servers = backends("a", "b", "c")
    lb = balancer(*map(entry, servers))
    statuses: Counter[int | str] = Counter()
    stop = threading.Event()

    def hammer() -> None:
        conn = client(lb)
        while not stop.is_set():
            try:
                statuses[fetch(conn)[0]] += 1
            except (OSError, http.client.HTTPException) as err:
                statuses[repr(err)] += 1
                conn = client(lb)

    workers = [threading.Thread(target=hammer) for _ in range(4)]
    for worker in workers:
        worker.start()
    wait_until(lambda: sum(statuses.values()) > 100, message="traffic")
    servers[0].kill()
    wait_until(lambda: not lb.backends.backends[0].up, message="a marked down")
    served_by_others = servers[1].requests + servers[2].requests
    wait_until(lambda: servers[1].requests + servers[2].requests > served_by_others + 100,
               message="traffic after the failure")
    stop.set()
    for worker in workers:
        worker.join()
    assert set(statuses) == {200}


def test_backups_take_over_when_all_primaries_die_and_hand_back_after_recovery(backends, balancer):
    a, b, spare = backends("a", "b", "spare")
    lb = balancer(entry(a), entry(b), entry(spare, backup=True))
    conn = client(lb)
    assert {backend_of(conn) for _ in range(4)} == {"a", "b"}
    a.kill()
    b.kill()
    wait_until(lambda: lb.backends.snapshot.backups_active, message="failover to the backup")
    assert {backend_of(conn) for _ in range(4)} == {"spare"}
    a = a.restart()
    backends.track(a)
    wait_until(lambda: not lb.backends.snapshot.backups_active, message="primary back")
    assert {backend_of(conn) for _ in range(4)} == {"a"}


def test_recovered_server_rejoins_after_rise_good_checks(backends, balancer):
    a, b = backends("a", "b")
    lb = balancer(entry(a), entry(b))
    a.healthy = False
    wait_until(lambda: not lb.backends.backends[0].up, message="a marked down")
    checks_when_healed = a.health_checks
    a.healthy = True
    wait_until(lambda: lb.backends.backends[0].up, message="a back up")
    assert a.health_checks - checks_when_healed >= RISE
    conn = client(lb)
    assert {backend_of(conn) for _ in range(4)} == {"a", "b"}


def test_failed_forwards_take_a_backend_down_before_the_next_check(backends, balancer):
    (b,) = backends("b")
    lb = balancer({"address": f"127.0.0.1:{dead_port()}"}, entry(b),
                  health={"path": "", "passive_fails": 2, "interval": 60})
    conn = client(lb)
    for _ in range(4):
        assert backend_of(conn) == "b"
    assert not lb.backends.backends[0].up


def test_shutdown_drains_requests_in_flight(backends, balancer):
    (server,) = backends("a")
    lb = balancer(entry(server))
    idle = client(lb)
    backend_of(idle)                                  # an idle keep-alive connection
    result = {}
    in_flight = threading.Thread(target=lambda: result.update(reply=fetch(client(lb), path="/slow")))
    in_flight.start()
    wait_until(lambda: server.hits["/slow"], message="request in flight")
    port = lb.port
    stopper = threading.Thread(target=lb.stop)
    stopper.start()
    wait_until(lambda: _refused(port), message="listener closed")
    server.gate.set()
    in_flight.join()
    stopper.join()
    status, response, body = result["reply"]
    assert (status, body, response.getheader("Connection")) == (200, b"slow\n", "close")
    with pytest.raises((ConnectionError, http.client.RemoteDisconnected)):
        fetch(idle)                                   # the idle one was closed


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


# --- the command line ---------------------------------------------------------------------


@pytest.mark.parametrize("args, field", [
    (["--backend", "127.0.0.1:9002,weight=0"], "backend[1].weight: must be at least 1, got 0"),
    (["--backend", "127.0.0.1:9002,heavy"], "--backend 127.0.0.1:9002,heavy: unknown option"),
    (["--listen", "nowhere", "--backend", "127.0.0.1:9002"], "listen: expected host:port"),
    ([], "backend: at least one backend is required"),
])
def test_cli_bad_flags_exit_2_with_one_line_naming_the_field(args, field):
    proc = run_cli(*args)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert err.count("\n") == 1 and field in err


def test_cli_bad_config_file_names_the_field(tmp_path):
    path = tmp_path / "lb.toml"
    path.write_text('[[backend]]\naddress = "127.0.0.1:9001"\n[health]\nintreval = 1\n')
    proc = run_cli("--config", str(path))
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "health.intreval: unknown setting" in err


def test_cli_serves_from_a_config_file_and_drains_on_sigterm(backends, tmp_path):
    (server,) = backends("a")
    path = tmp_path / "lb.toml"
    path.write_text(f'listen = "127.0.0.1:0"\nlog_format = "json"\n'
                    f'[[backend]]\naddress = "127.0.0.1:{server.port}"\n')
    proc = run_cli("--config", str(path), "--health-check", "/health", "--health-interval", "0.05")
    try:
        line = wait_until(lambda: proc.stderr.readline(), message="startup line")
        assert "listening on 127.0.0.1:" in line
        port = listening_port(line)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        assert backend_of(conn) == "a"
        record = json.loads(proc.stdout.readline())
        assert (record["status"], record["path"], record["backend"]) == (200, "/", f"127.0.0.1:{server.port}")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
