"""The HTTP reverse proxy: where client sockets, backend sockets and the parsers meet.

Each client connection has a thread (common.tcpserver, started by balancer.py) looping
over its requests: read the head -> route it to a pool -> pick a server -> send head and
stream the body up -> read the response head -> stream the body down -> access-log line
-> next request (keep-alive). Bodies are relayed piece by piece and re-framed per hop;
hop-by-hop headers are dropped, X-Forwarded-* and Forwarded added. Failures become 503
(no backend up), 502 (broken backend) or 504 (silent backend), and a head that takes
longer than `timeouts.header` to arrive (slowloris) is 408; a failed connect is
retried elsewhere, a dropped idempotent bodyless request too. An idle connection is
one a drain may close; a request in flight is finished first. An optional `admission`
hook (the rate limiter's) is asked before forwarding and may refuse a request or add
headers to its response. docs/load-balancer.md walks through all of it.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from common import clientip
from common.http1 import (NEED_DATA, ConnectionClosed, Data, EndOfMessage, Event, Framing,
                          Headers, HTTPError, REASONS, Request, RequestParser, Response, ResponseParser,
                          encode_chunk, encode_last_chunk, quoted_string, serialize_head)
from load_balancer.accesslog import AccessRecord
from load_balancer.backends import Backend
from load_balancer.pool import UpstreamConnection
from load_balancer.serverpool import ServerPool
from load_balancer.strategies import RequestInfo

if TYPE_CHECKING:  # the balancer creates its proxy
    from load_balancer.balancer import LoadBalancer

log = logging.getLogger("load_balancer.proxy")

RECV_SIZE = 64 * 1024
# Lingering close (nginx's lingering_close): after an error reply the client may still be
# sending; closing with unread bytes makes the kernel send a reset, which can destroy
# the reply before the client reads it. So stop writing, then discard what arrives for
# at most this long.
LINGER_SECONDS = 1.0
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

    def next_head(self, timeout: float, now: Callable[[], float], *,
                  from_now: bool) -> Event:
        """The next request head, which must arrive whole within `timeout` seconds.

        The clock starts now for a connection's first request (`from_now`: a client that
        connects and sends nothing holds a thread too), else at the head's first byte,
        so an idle keep-alive connection waits the ordinary client timeout. A client
        that sent part of a head and ran out of time gets 408 and a close, as HAProxy's
        `timeout http-request` answers; one that sent nothing is closed silently, as
        HAProxy and nginx treat an idle connection.
        """
        deadline = now() + timeout if from_now else None
        idle_timeout = self.sock.gettimeout()
        try:
            while (event := self.parser.next_event()) is NEED_DATA:
                if deadline is None and self.parser.buffered:
                    deadline = now() + timeout
                if deadline is not None:  # 0 would make the socket non-blocking
                    self.sock.settimeout(max(deadline - now(), 0.001))
                self.parser.feed(self.sock.recv(RECV_SIZE))
            return event
        except TimeoutError as err:
            if self.parser.buffered:
                raise _Reply(408, f"request head not complete within {timeout:g} s",
                             close=True) from err
            raise _ClientGone("idle past the timeout") from err
        except (OSError, HTTPError) as err:
            raise self.fault(err) from err
        finally:
            self.sock.settimeout(idle_timeout)

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


@dataclass(frozen=True)
class _Job:
    """One request on its way through the proxy."""
    client: _Peer
    request: Request
    record: AccessRecord   # filled in as it goes; record.client is the client's address
    peer: str              # the TCP peer: what X-Forwarded-For gets, what admission sees
    pool: ServerPool


class HttpProxy:
    """Layer 7: the requests of each client connection, routed and relayed one at a time.

    Reads the balancer's live state (config, router, connection pool) afresh for each
    request, so a reload takes effect from the next request on.
    """

    def __init__(self, balancer: LoadBalancer) -> None:
        self.lb = balancer

    def serve(self, sock: socket.socket, addr: tuple) -> None:
        """One client connection, until it closes, breaks the protocol or a drain ends it."""
        config = self.lb.config
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(config.timeouts.client)
        client = _Peer(sock, RequestParser(max_head_size=config.max_header_bytes,
                                           max_body_size=config.max_body_bytes), _client_fault)
        first = True
        try:
            while (request := self._next_request(client, first)) is not None:
                first = False
                try:
                    keep_alive = self._serve_request(client, request, addr[0])
                finally:
                    self.lb.activity.finished()
                if not keep_alive:
                    return
        except _ClientGone:
            return
        except _Reply as reply:  # a head we cannot parse: answer, log, close
            record = AccessRecord(self.lb.clock.time(), addr[0], "-", "-", "-")
            self._reply(client, reply, record, keep_alive=False)
            self.lb.access_log.write(record)
            self._linger(sock)

    def refuse(self, sock: socket.socket) -> None:
        """Over `limits.max_connections`: say 503 at once, without reading the request.

        The alternative, not accepting, leaves clients stalled in the listen backlog
        with no idea why (HAProxy's `maxconn` queues them there); an explicit 503 with
        `Connection: close` and `Retry-After` tells a client to come back later.
        """
        body = b"503 Service Unavailable: too many connections\n"
        headers = Headers([("Content-Type", "text/plain; charset=utf-8"),
                           ("Content-Length", str(len(body))), ("Retry-After", "1"),
                           ("Connection", "close")])
        try:
            sock.sendall(serialize_head(Response(503, headers=headers)) + body)
        except OSError:
            return  # the client is gone already: nobody to tell
        self._linger(sock)

    def _linger(self, sock: socket.socket) -> None:
        """Half-close and discard the client's remaining bytes (see LINGER_SECONDS)."""
        clock = self.lb.clock
        deadline = clock.monotonic() + LINGER_SECONDS
        try:
            sock.shutdown(socket.SHUT_WR)
            while (left := deadline - clock.monotonic()) > 0:
                sock.settimeout(left)
                if not sock.recv(RECV_SIZE):
                    return
        except OSError:
            return  # reset, timed out or already closed: the server closes it next anyway

    def _next_request(self, client: _Peer, first: bool) -> Request | None:
        """Wait for the next request as an idle connection, which a drain may close."""
        if not self.lb.activity.idle(client.sock):
            return None  # draining
        event = None
        try:
            event = client.next_head(self.lb.config.timeouts.header, self.lb.clock.monotonic,
                                     from_now=first)
        finally:
            self.lb.activity.woken(client.sock, busy=isinstance(event, Request))
        return event if isinstance(event, Request) else None  # else ConnectionClosed

    def _serve_request(self, client: _Peer, request: Request, peer: str) -> bool:
        """Answer one request; True if the client connection may carry another."""
        lb = self.lb
        started = lb.clock.monotonic()
        address = clientip.client_ip(peer, request.headers, lb.config.trusted_proxies)
        record = AccessRecord(lb.clock.time(), address, request.method, request.target,
                              request.version)
        pool = lb.router.pool_for(request)
        try:
            if request.method == "CONNECT":
                raise _Reply(501, "CONNECT tunnels are not supported", close=True)
            keep_alive = self._forward(_Job(client, request, record, peer, pool))
        except _Reply as reply:
            # Unread body bytes would be taken for the next request: only a request
            # without a body leaves the connection clean.
            keep_alive = (not reply.close and _bodyless(request)
                          and request.keep_alive and not lb.activity.draining)
            self._reply(client, reply, record, keep_alive=keep_alive)
        except _ClientGone:
            record.status = record.status or 499  # nginx's "client closed request"
            keep_alive = False
        except _ResponseAborted:
            keep_alive = False
        finally:
            record.total_time = lb.clock.monotonic() - started
            lb.access_log.write(record)
            pool.stats.count(record.status)
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

    def _admit(self, request: Request, peer: str) -> tuple[tuple[str, str], ...]:
        """Ask the admission hook, if any: its headers for the response, or its refusal."""
        if self.lb.admission is None:
            return ()
        admit = self.lb.admission(request, peer)
        if not admit.allowed:
            raise _Reply(admit.status, admit.reason, headers=admit.headers)
        return admit.headers

    def _forward(self, job: _Job) -> bool:
        """Try the pool's servers until one answers or retrying is no longer safe."""
        request, record, pool, clock = job.request, job.record, job.pool, self.lb.clock
        info = RequestInfo(record.client, request.method, request.target, request.headers)
        # Only a request without a body can be sent twice: a body is streamed, not kept.
        replayable = _bodyless(request)
        if replayable:
            job.client.next_event()  # its EndOfMessage, already in the parser: done with the client
        admitted_headers = self._admit(request, job.peer)
        tried: list[Backend] = []
        failure: _UpstreamFailed | None = None
        upstream_start = clock.monotonic()
        while len(tried) <= self.lb.config.retries:
            snapshot = pool.backends.current().excluding(tried)
            if not snapshot.servers:
                break
            if tried:
                tried[-1].stats.retried()  # it failed in a way that is safe to retry: here we go
            pick = pool.pick(snapshot, info)
            backend = pick.backend
            tried.append(backend)
            record.backend = backend.name
            attempt_start = clock.monotonic()
            backend.stats.started()
            try:
                return self._try_backend(job, backend, replayable, admitted_headers + pick.headers)
            except _UpstreamFailed as err:
                failure = err
                retry = err.connect or (err.closed and replayable and request.method in IDEMPOTENT)
                log.warning("%s %s via %s failed: %s%s", request.method, request.target,
                            backend.name, err, "; trying another backend" if retry else "")
                pool.health.record_forward(backend, ok=False, detail=str(err))
                if not retry:
                    break
            finally:
                pick.done()
                backend.stats.finished(clock.monotonic() - attempt_start)
                record.upstream_time = clock.monotonic() - upstream_start
        if failure is None:
            raise _Reply(503, "no backend is available")
        raise _Reply(failure.status, str(failure))

    def _try_backend(self, job: _Job, backend: Backend, replayable: bool,
                     extra_headers: tuple[tuple[str, str], ...]) -> bool:
        conn = self._connect(backend, pooled=True)
        try:
            return self._exchange(job, conn, extra_headers, body_pending=not replayable)
        except _UpstreamFailed as err:
            if not (conn.reused and err.closed and replayable):
                raise
            log.info("pooled connection to %s had been closed; retrying on a new one", backend.name)
            backend.stats.retried()
        return self._exchange(job, self._connect(backend, pooled=False), extra_headers,
                              body_pending=not replayable)

    def _connect(self, backend: Backend, *, pooled: bool) -> UpstreamConnection:
        connections = self.lb.connections
        try:
            return connections.acquire(backend) if pooled else connections.connect(backend)
        except OSError as err:
            status = 504 if isinstance(err, TimeoutError) else 502
            raise _UpstreamFailed(status, f"connect: {err.strerror or err}", connect=True) from err

    def _exchange(self, job: _Job, conn: UpstreamConnection,
                  extra_headers: tuple[tuple[str, str], ...], *, body_pending: bool) -> bool:
        """One request/response over `conn`; returns whether the client may keep alive.

        `body_pending`: the request body is still to be read from the client and
        streamed up (False for a bodyless request, whose end was read already).
        `extra_headers` go on the response: the admission hook's, a sticky cookie.
        """
        client, request, record, health = job.client, job.request, job.record, job.pool.health
        upstream = _Peer(conn.sock, ResponseParser(request.method), _upstream_fault)
        reusable = False
        try:
            head, framing_up = _request_for_backend(request, job.peer, conn.backend)
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
            keep_alive = (request.keep_alive and framing is not Framing.UNTIL_CLOSE
                          and not self.lb.activity.draining)
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
                health.record_forward(conn.backend, ok=False, detail=str(err))
                raise _ResponseAborted from err
            health.record_forward(conn.backend, ok=True)
            reusable = response.keep_alive and not upstream.parser.unconsumed
            return keep_alive
        finally:
            if reusable:
                self.lb.connections.release(conn)
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


def _request_for_backend(request: Request, peer: str, backend: Backend) -> tuple[Request, Framing]:
    headers = request.headers.end_to_end()
    framing = _reframe(headers, request.framing, request.content_length, chunked_ok=True)
    if _expects_continue(request):
        headers.remove("Expect")
    if "host" not in headers:  # an HTTP/1.0 client may omit it; HTTP/1.1 requires it
        headers.add("Host", backend.name)
    _add_forwarding(headers, peer, request)
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


def _add_forwarding(headers: Headers, peer: str, request: Request) -> None:
    """Tell the backend who connected. Values the client sent are kept and appended to,
    so the left-most ones are only as trustworthy as the client."""
    prior = headers.get("X-Forwarded-For")
    headers.set("X-Forwarded-For", f"{prior}, {peer}" if prior else peer)
    # We only listen on plain HTTP, so whatever the client claims, the scheme is http.
    headers.set("X-Forwarded-Proto", "http")
    node = f'"[{peer}]"' if ":" in peer else peer  # RFC 7239 §6: quote IPv6
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
