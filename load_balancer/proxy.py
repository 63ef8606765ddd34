"""The reverse proxy: where client sockets, backend sockets and the parsers meet.

Each client connection has a thread (common.tcpserver) looping over its requests: read
the head -> pick a backend -> send head and stream the body up -> read the response head
-> stream the body down -> access-log line -> next request (keep-alive). Bodies are
relayed piece by piece and re-framed per hop; hop-by-hop headers are dropped, X-Forwarded-*
and Forwarded added. Failures become 503 (no backend up), 502 (broken backend) or 504
(silent backend); a failed connect is retried elsewhere, a dropped idempotent bodyless
request too. `stop()` drains: no new connections, idle ones closed, requests in flight
finished. An optional `admission` hook (the rate limiter's) is asked before forwarding
and may refuse a request or add headers to its response. docs/load-balancer.md walks
through all of it.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
from dataclasses import dataclass
from typing import Callable

from common.clock import Clock, SystemClock
from common.http1 import (NEED_DATA, ConnectionClosed, Data, EndOfMessage, Event, Framing,
                          Headers, HTTPError, REASONS, Request, RequestParser, Response, ResponseParser,
                          encode_chunk, encode_last_chunk, quoted_string, serialize_head)
from common.tcpserver import ThreadedTCPServer, shutdown_socket
from load_balancer import strategies
from load_balancer.accesslog import AccessLog, AccessRecord
from load_balancer.backends import Backend, BackendSet
from load_balancer.config import Config
from load_balancer.health import HealthMonitor, Probe
from load_balancer.pool import ConnectionPool, UpstreamConnection
from load_balancer.strategies import RequestInfo

log = logging.getLogger("load_balancer.proxy")

RECV_SIZE = 64 * 1024
# RFC 9110 §9.2.2: sending these twice has the same effect as sending them once.
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
CONTINUE = serialize_head(Response(100))


@dataclass(frozen=True)
class Admit:
    """An admission hook's answer for one request (see `LoadBalancer(admission=...)`).

    `headers` go on the response either way: the backend's if the request is
    forwarded, or the proxy's own `status` (429, 503...) with `reason` if refused.
    """
    allowed: bool
    headers: tuple[tuple[str, str], ...] = ()
    status: int = 429
    reason: str = ""


Admission = Callable[[Request, str], Admit]
"""Called with the request head and the client's address, before any backend is picked."""


class _Reply(Exception):
    """The proxy answers this request itself, with `status` (503, 502, 504, 400...)."""

    def __init__(self, status: int, message: str, *, close: bool = False,
                 headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.close = close  # the client broke the protocol: do not read another request
        self.headers = headers


class _ClientGone(Exception):
    """The client closed, reset or went silent: nobody is left to answer."""


class _UpstreamFailed(Exception):
    """A backend failed a request before its response started.

    `closed`: it closed or reset the connection before answering, which on a pooled
    connection usually means the connection had gone stale, not that the server is ill.
    """

    def __init__(self, status: int, detail: str, *, closed: bool = False,
                 connect: bool = False) -> None:
        super().__init__(detail)
        self.status = status
        self.closed = closed
        self.connect = connect  # failed to connect: nothing at all was sent


class _ResponseAborted(Exception):
    """The backend failed after the response head went to the client."""


class _Peer:
    """One end of the relay: a socket, the parser for what it sends, and our output to it.

    Output is buffered and flushed just before we block reading from the other end, so
    a response head and its first body bytes leave in one write, and nothing sits in
    the buffer while we wait. Socket and parser errors come out as the exception
    `fault` makes of them, which tells client trouble from backend trouble.
    """

    def __init__(self, sock: socket.socket, parser: RequestParser | ResponseParser,
                 fault: Callable[[OSError | HTTPError], Exception]) -> None:
        self.sock = sock
        self.parser = parser
        self.fault = fault
        self._out = bytearray()

    def next_event(self, flush_first: _Peer | None = None) -> Event:
        try:
            while (event := self.parser.next_event()) is NEED_DATA:
                if flush_first is not None:
                    flush_first.flush()
                self.parser.feed(self.sock.recv(RECV_SIZE))
            return event
        except (OSError, HTTPError) as err:
            raise self.fault(err) from err

    def send(self, data: bytes) -> None:
        self._out += data

    def flush(self) -> None:
        if self._out:
            try:
                self.sock.sendall(self._out)
            except OSError as err:
                raise self.fault(err) from err
            self._out.clear()


def _client_fault(err: OSError | HTTPError) -> Exception:
    if isinstance(err, HTTPError):
        return _Reply(err.status, str(err), close=True)
    return _ClientGone(str(err))


def _upstream_fault(err: OSError | HTTPError) -> _UpstreamFailed:
    if isinstance(err, HTTPError):
        return _UpstreamFailed(502, f"bad response: {err}")
    if isinstance(err, TimeoutError):
        return _UpstreamFailed(504, "no answer within the read timeout")
    return _UpstreamFailed(502, err.strerror or str(err), closed=isinstance(err, ConnectionError))


class LoadBalancer:
    def __init__(self, config: Config, *, clock: Clock | None = None,
                 access_log: AccessLog | None = None, probe: Probe | None = None,
                 admission: Admission | None = None) -> None:
        self.config = config
        self.admission = admission
        self.clock = clock or SystemClock()
        self.backends = BackendSet(config.backends)
        self.strategy = strategies.create(config.algorithm)
        self.health = HealthMonitor(self.backends, config.health, self.clock, probe)
        timeouts = config.timeouts
        self.pool = ConnectionPool(self.clock, connect_timeout=timeouts.connect,
                                   read_timeout=timeouts.read, idle_timeout=timeouts.pool_idle,
                                   max_idle=config.pool_size)
        self.access_log = access_log or AccessLog(sys.stdout, config.log_format)
        self._tcp = ThreadedTCPServer(config.listen_host, config.listen_port, self._serve_client,
                                      name="lb")
        # _activity guards the three fields below; drain waits on it for _in_flight == 0.
        self._activity = threading.Condition()
        self._in_flight = 0
        self._idle_clients: set[socket.socket] = set()
        self._draining = False
        self._shutdown_requested = threading.Event()

    # --- lifecycle ----------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._tcp.port

    def start(self) -> None:
        self._tcp.start()
        self.health.start()
        log.info("listening on %s:%d, %s over %s", self.config.listen_host, self.port,
                 self.config.algorithm, ", ".join(
                     b.name + (" (backup)" if b.backup else "") for b in self.backends))

    def serve_forever(self) -> None:
        """Run until `request_shutdown()` (e.g. from a signal handler), then drain."""
        self.start()
        self._shutdown_requested.wait()
        self.stop()

    def request_shutdown(self) -> None:
        self._shutdown_requested.set()

    def stop(self) -> None:
        """Graceful shutdown: finish requests in flight, then close everything."""
        with self._activity:
            if self._draining:
                return  # already stopped, or stopping in another thread
            # Draining first: any response decided from now on says "Connection: close".
            self._draining = True
            idle = list(self._idle_clients)
            log.info("draining: %d requests in flight, closing %d idle connections",
                     self._in_flight, len(idle))
        self._tcp.stop_accepting()
        for sock in idle:
            shutdown_socket(sock)  # wakes its thread, which sees the drain and exits
        with self._activity:
            if not self._activity.wait_for(lambda: self._in_flight == 0, self.config.timeouts.drain):
                log.warning("drain timeout: cutting %d requests short", self._in_flight)
        self.health.stop()
        self._tcp.shutdown()
        self.pool.close_all()
        log.info("stopped")

    # --- one client connection ----------------------------------------------------

    def _serve_client(self, sock: socket.socket, addr: tuple) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(self.config.timeouts.client)
        client = _Peer(sock, RequestParser(max_head_size=self.config.max_header_bytes,
                                           max_body_size=self.config.max_body_bytes), _client_fault)
        try:
            while (request := self._next_request(client)) is not None:
                try:
                    keep_alive = self._serve_request(client, request, addr[0])
                finally:
                    with self._activity:
                        self._in_flight -= 1
                        self._activity.notify_all()
                if not keep_alive:
                    return
        except _ClientGone:
            return
        except _Reply as reply:  # a head we cannot parse: answer, log, close
            record = AccessRecord(self.clock.time(), addr[0], "-", "-", "-")
            self._reply(client, reply, record, keep_alive=False)
            self.access_log.write(record)

    def _next_request(self, client: _Peer) -> Request | None:
        """Wait for the next request as an idle connection, which a drain may close.

        Leaving the idle set and entering the in-flight count happen under one lock, so
        a drain sees every connection in exactly one of the two.
        """
        with self._activity:
            if self._draining:
                return None
            self._idle_clients.add(client.sock)
        event = None
        try:
            event = client.next_event()
        finally:
            with self._activity:
                self._idle_clients.discard(client.sock)
                if isinstance(event, Request):
                    self._in_flight += 1
        return event if isinstance(event, Request) else None  # else ConnectionClosed

    def _serve_request(self, client: _Peer, request: Request, client_ip: str) -> bool:
        """Answer one request; True if the client connection may carry another."""
        started = self.clock.monotonic()
        record = AccessRecord(self.clock.time(), client_ip, request.method, request.target,
                              request.version)
        try:
            if request.method == "CONNECT":
                raise _Reply(501, "CONNECT tunnels are not supported", close=True)
            keep_alive = self._forward(client, request, record)
        except _Reply as reply:
            # Unread body bytes would be taken for the next request: only a request
            # without a body leaves the connection clean.
            keep_alive = (not reply.close and _bodyless(request)
                          and request.keep_alive and not self._draining)
            self._reply(client, reply, record, keep_alive=keep_alive)
        except _ClientGone:
            record.status = record.status or 499  # nginx's "client closed request"
            keep_alive = False
        except _ResponseAborted:
            keep_alive = False
        finally:
            record.total_time = self.clock.monotonic() - started
            self.access_log.write(record)
        return keep_alive

    def _reply(self, client: _Peer, reply: _Reply, record: AccessRecord, *, keep_alive: bool) -> None:
        body = f"{reply.status} {REASONS.get(reply.status, '')}: {reply}\n".encode()
        headers = Headers([("Content-Type", "text/plain; charset=utf-8"),
                           ("Content-Length", str(len(body))),
                           ("Connection", "keep-alive" if keep_alive else "close"), *reply.headers])
        client.send(serialize_head(Response(reply.status, headers=headers)) + body)
        record.status, record.bytes = reply.status, len(body)
        try:
            client.flush()
        except _ClientGone:
            pass  # the client left first; the access log still records what we meant to say

    # --- forwarding -----------------------------------------------------------------

    def _admit(self, request: Request, client_ip: str) -> tuple[tuple[str, str], ...]:
        """Ask the admission hook, if any: its headers for the response, or its refusal."""
        if self.admission is None:
            return ()
        admit = self.admission(request, client_ip)
        if not admit.allowed:
            raise _Reply(admit.status, admit.reason, headers=admit.headers)
        return admit.headers

    def _forward(self, client: _Peer, request: Request, record: AccessRecord) -> bool:
        """Try backends until one answers or retrying is no longer safe."""
        info = RequestInfo(record.client, request.method, request.target)
        # Only a request without a body can be sent twice: a body is streamed, not kept.
        replayable = _bodyless(request)
        if replayable:
            client.next_event()  # its EndOfMessage, already in the parser: done with the client
        extra_headers = self._admit(request, record.client)
        tried: list[Backend] = []
        failure: _UpstreamFailed | None = None
        upstream_start = self.clock.monotonic()
        while len(tried) <= self.config.retries:
            snapshot = self.backends.snapshot.excluding(tried)
            if not snapshot.servers:
                break
            backend, done = self.strategy.pick(snapshot, info)
            tried.append(backend)
            record.backend = backend.name
            try:
                return self._try_backend(backend, client, request, record, replayable, extra_headers)
            except _UpstreamFailed as err:
                failure = err
                retry = err.connect or (err.closed and replayable and request.method in IDEMPOTENT)
                log.warning("%s %s via %s failed: %s%s", request.method, request.target,
                            backend.name, err, "; trying another backend" if retry else "")
                self.health.record_forward(backend, ok=False, detail=str(err))
                if not retry:
                    break
            finally:
                done()
                record.upstream_time = self.clock.monotonic() - upstream_start
        if failure is None:
            raise _Reply(503, "no backend is available")
        raise _Reply(failure.status, str(failure))

    def _try_backend(self, backend: Backend, client: _Peer, request: Request,
                     record: AccessRecord, replayable: bool,
                     extra_headers: tuple[tuple[str, str], ...]) -> bool:
        conn = self._connect(backend, pooled=True)
        try:
            return self._exchange(conn, client, request, record, extra_headers,
                                  body_pending=not replayable)
        except _UpstreamFailed as err:
            if not (conn.reused and err.closed and replayable):
                raise
            log.info("pooled connection to %s had been closed; retrying on a new one", backend.name)
        return self._exchange(self._connect(backend, pooled=False), client, request, record,
                              extra_headers, body_pending=not replayable)

    def _connect(self, backend: Backend, *, pooled: bool) -> UpstreamConnection:
        try:
            return self.pool.acquire(backend) if pooled else self.pool.connect(backend)
        except OSError as err:
            status = 504 if isinstance(err, TimeoutError) else 502
            raise _UpstreamFailed(status, f"connect: {err.strerror or err}", connect=True) from err

    def _exchange(self, conn: UpstreamConnection, client: _Peer, request: Request,
                  record: AccessRecord, extra_headers: tuple[tuple[str, str], ...], *,
                  body_pending: bool) -> bool:
        """One request/response over `conn`; returns whether the client may keep alive.

        `body_pending`: the request body is still to be read from the client and
        streamed up (False for a bodyless request, whose end was read already).
        """
        upstream = _Peer(conn.sock, ResponseParser(request.method), _upstream_fault)
        reusable = False
        try:
            head, framing_up = _request_for_backend(request, record.client, conn.backend)
            upstream.send(serialize_head(head))
            if body_pending:
                if _expects_continue(request):
                    client.send(CONTINUE)  # we answer the Expect ourselves: the backend is there
                    client.flush()
                self._relay_body(client, upstream, framing_up is Framing.CHUNKED)
            else:
                upstream.flush()
            response = self._response_head(upstream, client, request)
            head, framing = _response_for_client(response, request)
            for name, value in extra_headers:
                head.headers.add(name, value)
            keep_alive = request.keep_alive and framing is not Framing.UNTIL_CLOSE and not self._draining
            if not keep_alive:
                head.headers.set("Connection", "close")
            elif request.version == "HTTP/1.0":
                head.headers.set("Connection", "keep-alive")
            client.send(serialize_head(head))
            record.status = response.status
            try:
                self._relay_body(upstream, client, framing is Framing.CHUNKED, record)
            except _UpstreamFailed as err:
                log.warning("%s %s via %s broke off mid-response: %s", request.method,
                            request.target, conn.backend.name, err)
                self.health.record_forward(conn.backend, ok=False, detail=str(err))
                raise _ResponseAborted from err
            self.health.record_forward(conn.backend, ok=True)
            reusable = response.keep_alive and not upstream.parser.unconsumed
            return keep_alive
        finally:
            if reusable:
                self.pool.release(conn)
            else:
                conn.close()

    def _relay_body(self, source: _Peer, dest: _Peer, chunked: bool,
                    record: AccessRecord | None = None) -> None:
        """Copy one message body from `source` to `dest` as it arrives.

        `chunked` says how `dest` gets it; otherwise the bytes go as they are, framed
        by the Content-Length we passed on, or by closing. A response relay counts its
        body bytes into `record`.
        """
        while True:
            event = source.next_event(flush_first=dest)
            if isinstance(event, Data):
                dest.send(encode_chunk(event.data) if chunked else event.data)
                if record is not None:
                    record.bytes += len(event.data)
            else:
                assert isinstance(event, EndOfMessage)
                if chunked:
                    dest.send(encode_last_chunk(event.trailers))
                dest.flush()
                return

    def _response_head(self, upstream: _Peer, client: _Peer, request: Request) -> Response:
        """The final response head; interim (1xx) ones are passed on to 1.1 clients."""
        while True:
            event = upstream.next_event(flush_first=client)
            if isinstance(event, ConnectionClosed):
                raise _UpstreamFailed(502, "backend closed the connection without answering",
                                      closed=True)
            if isinstance(event, Response):
                if not event.informational:
                    return event
                if request.version == "HTTP/1.1":  # e.g. 103 Early Hints
                    client.send(serialize_head(Response(event.status, event.reason,
                                                        event.headers.end_to_end())))


# --- heads as they are forwarded -------------------------------------------------------


def _request_for_backend(request: Request, client_ip: str, backend: Backend) -> tuple[Request, Framing]:
    headers = request.headers.end_to_end()
    framing = _reframe(headers, request.framing, request.content_length, chunked_ok=True)
    if _expects_continue(request):
        headers.remove("Expect")
    if "host" not in headers:  # an HTTP/1.0 client may omit it; HTTP/1.1 requires it
        headers.add("Host", backend.name)
    _add_forwarding(headers, client_ip, request)
    return Request(request.method, request.target, headers), framing


def _response_for_client(response: Response, request: Request) -> tuple[Response, Framing]:
    headers = response.headers.end_to_end()
    framing = _reframe(headers, response.framing, response.content_length,
                       chunked_ok=request.version == "HTTP/1.1")
    return Response(response.status, response.reason, headers), framing


def _reframe(headers: Headers, framing: Framing, length: int | None, *, chunked_ok: bool) -> Framing:
    """Set the framing headers for the next hop; returns the framing used there.

    Framing is per hop: the length we forward is the one we parsed (so duplicates and
    odd spellings never travel), and a body of unknown length goes chunked to a peer
    that understands it, or ends by closing the connection for an HTTP/1.0 one.
    """
    if framing is Framing.NONE:
        return framing  # keep a HEAD response's Content-Length: it describes the GET
    headers.remove("Content-Length", "Transfer-Encoding")
    if framing is Framing.LENGTH:
        headers.add("Content-Length", str(length))
        return framing
    if chunked_ok:
        headers.add("Transfer-Encoding", "chunked")
        return Framing.CHUNKED
    return Framing.UNTIL_CLOSE


def _add_forwarding(headers: Headers, client_ip: str, request: Request) -> None:
    """Tell the backend who asked. Values the client sent are kept and appended to,
    so the left-most ones are only as trustworthy as the client."""
    prior = headers.get("X-Forwarded-For")
    headers.set("X-Forwarded-For", f"{prior}, {client_ip}" if prior else client_ip)
    # We only listen on plain HTTP, so whatever the client claims, the scheme is http.
    headers.set("X-Forwarded-Proto", "http")
    node = f'"[{client_ip}]"' if ":" in client_ip else client_ip  # RFC 7239 §6: quote IPv6
    element = f"for={node};proto=http"
    host = request.headers.get("host")
    if host:
        element += f";host={quoted_string(host)}"  # host:port has a ':', so always quote
    prior = headers.get("Forwarded")
    headers.set("Forwarded", f"{prior}, {element}" if prior else element)


def _bodyless(request: Request) -> bool:
    return request.framing is Framing.NONE or request.content_length == 0


def _expects_continue(request: Request) -> bool:
    return request.version == "HTTP/1.1" and "100-continue" in request.headers.tokens("expect")
