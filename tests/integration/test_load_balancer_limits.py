"""The balancer's resource limits on the wire: what a hostile or greedy client gets.

Slowloris (a head trickled in, or never sent) -> 408 or a silent close after
`timeouts.header`; an oversized head -> 431; too many connections -> 503 and a close;
a silent backend -> 504; an oversized body -> 413. In each case the backend never sees
the request (except 504) and the balancer keeps serving everyone else.
"""

from __future__ import annotations

import socket
import threading
import time

from tests.integration.helpers import (client, entry, fetch, listening_port, send_and_read_all, run_cli,
                                       wait_until)

HEAD = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


# --- header timeout (slowloris) ---------------------------------------------------------


def test_a_head_left_unfinished_gets_408_and_a_close_after_the_header_timeout(backends, balancer):
    (server,) = backends("a")
    lb = balancer(entry(server), timeouts={"header": 0.3})
    with connect(lb.port) as sock:
        started = time.monotonic()
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        reply = read_all(sock)
    assert reply.startswith(b"HTTP/1.1 408 Request Timeout\r\n") and b"Connection: close" in reply
    assert 0.25 < time.monotonic() - started < 3
    assert server.requests == 0


def test_trickling_a_byte_at_a_time_does_not_reset_the_header_deadline(backends, balancer):
    (server,) = backends("a")
    lb = balancer(entry(server), timeouts={"header": 0.4})
    with connect(lb.port) as sock:
        stop = threading.Event()

        def trickle():
            for byte in b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000:
                if stop.wait(0.02):
                    return
                try:
                    sock.send(bytes([byte]))
                except OSError:
                    return  # the balancer closed on us: that is the point

        sender = threading.Thread(target=trickle)
        started = time.monotonic()
        sender.start()
        reply = read_all(sock)
        stop.set()
        sender.join()
    assert reply.startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - started < 3  # the trickle alone would have taken 20 s


def test_a_connection_that_sends_nothing_is_closed_silently_after_the_header_timeout(backends, balancer):
    (server,) = backends("a")
    lb = balancer(entry(server), timeouts={"header": 0.3})
    with connect(lb.port) as sock:
        started = time.monotonic()
        assert read_all(sock) == b""
    assert time.monotonic() - started < 3
    wait_until(lambda: lb.slots.open == 0, message="connection slot given back")


def test_an_idle_keep_alive_connection_waits_the_client_timeout_not_the_header_timeout(backends, balancer):
    (server,) = backends("a")
    lb = balancer(entry(server), timeouts={"header": 0.2, "client": 30})
    conn = client(lb)
    assert fetch(conn)[0] == 200
    first_socket = conn.sock
    time.sleep(0.5)  # idle longer than the header timeout, on purpose: nothing to observe
    assert fetch(conn)[0] == 200
    assert conn.sock is first_socket and server.requests == 2


def test_the_header_timeout_flag_reaches_the_running_balancer(backends):
    (server,) = backends("a")
    process = run_cli("--listen", "127.0.0.1:0", "--backend", f"127.0.0.1:{server.port}",
                      "--header-timeout", "0.3")
    try:
        port = listening_port(next(line for line in process.stderr if "listening on" in line))
        with connect(port) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\n")
            assert read_all(sock).startswith(b"HTTP/1.1 408 ")
    finally:
        process.terminate()
        process.communicate(timeout=10)


# --- head and body size ---------------------------------------------------------------


def test_a_head_over_the_configured_size_is_431_and_never_forwarded(backends, balancer):
    (server,) = backends("a")
    lb = balancer(entry(server), limits={"max_header_bytes": 1024})
    reply = send_and_read_all(lb.port, b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 2000 + b"\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert server.requests == 0
    assert fetch(client(lb))[0] == 200  # and the next client is served


def test_a_body_over_the_limit_is_413_and_never_forwarded(backends, balancer):
    (server,) = backends("a")
    lb = balancer(entry(server), limits={"max_body_bytes": 10})
    status, response, _ = fetch(client(lb), "POST", "/", body=b"x" * 5000)
    assert status == 413 and response.getheader("Connection") == "close"
    assert fetch(client(lb), "POST", "/", body=b"x" * 10)[0] == 200
    assert server.hits["/"] == 1


def test_a_chunked_body_growing_over_the_limit_is_413(backends, balancer):
    (server,) = backends("a")
    lb = balancer(entry(server), limits={"max_body_bytes": 10})
    reply = send_and_read_all(lb.port, b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  b"8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n")
    assert b" 413 " in reply.split(b"\r\n")[0]


# --- connection cap -------------------------------------------------------------------


def test_connections_past_the_cap_get_503_and_a_close_and_are_counted(backends, balancer):
    (server,) = backends("a")
    lb = balancer(entry(server), limits={"max_connections": 2})
    holders = [client(lb), client(lb)]
    for conn in holders:
        assert fetch(conn)[0] == 200  # both accepted and holding a slot
    reply = send_and_read_all(lb.port, HEAD)
    assert reply.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert b"Retry-After: 1\r\n" in reply and b"too many connections" in reply
    assert lb.report()["refused_connections"] == 1
    assert server.requests == 2
    holders.pop().close()
    wait_until(lambda: lb.slots.open == 1, message="a slot freed")
    assert fetch(client(lb))[0] == 200


def test_a_refused_client_that_keeps_sending_still_reads_its_503(backends, balancer):
    (server,) = backends("a")
    lb = balancer(entry(server), limits={"max_connections": 1})
    holder = client(lb)
    assert fetch(holder)[0] == 200
    status, _, body = fetch(client(lb), "POST", "/", body=b"x" * 200_000)
    assert status == 503 and body == b"503 Service Unavailable: too many connections\n"


# --- backend response timeout ----------------------------------------------------------


def test_a_silent_backend_is_504_and_the_balancer_keeps_serving(backends, balancer):
    (server,) = backends("a")
    lb = balancer(entry(server), health={"path": "", "passive_fails": 0}, timeouts={"read": 0.2})
    started = time.monotonic()
    status, _, body = fetch(client(lb), path="/slow")
    assert status == 504 and b"no answer within the read timeout" in body
    assert time.monotonic() - started < 3
    server.gate.set()
    assert fetch(client(lb))[0] == 200
    wait_until(lambda: lb.report()["in_flight"] == 0, message="no request left in flight")
