"""A small HTTP server for operators: a handful of read-only GET pages on an admin port.

Where it sits: the rate limiter serves `/metrics` with it (rate_limiter/metrics.py),
the load balancer `/stats`, `/`, `/health` and `/metrics` (load_balancer/admin.py).
It listens on its own address, apart from the public port, so clients cannot read
it. Each page is a function called per request that returns a `Page`; requests are
parsed by the one HTTP/1.1 parser (common/http1.py) over keep-alive connections.
Anything but GET or HEAD of a known path is a 404 that lists the pages.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Callable, Mapping

from common.http1 import (NEED_DATA, Data, EndOfMessage, Headers, HTTPError, Request,
                          RequestParser, Response, serialize_head)
from common.tcpserver import ThreadedTCPServer

TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class Page:
    body: str
    content_type: str = TEXT
    status: int = 200


class AdminHTTPServer:
    def __init__(self, host: str, port: int, pages: Mapping[str, Callable[[], Page]], *,
                 name: str = "admin") -> None:
        self.pages = dict(pages)
        self._tcp = ThreadedTCPServer(host, port, self._serve, name=name)

    @property
    def port(self) -> int:
        return self._tcp.port

    def start(self) -> None:
        self._tcp.start()

    def stop(self) -> None:
        self._tcp.shutdown()

    def _serve(self, sock: socket.socket, addr: tuple) -> None:
        sock.settimeout(30)
        parser = RequestParser()
        try:
            while (request := _next_request(sock, parser)) is not None:
                sock.sendall(self._answer(request))
                if not request.keep_alive:
                    return
        except HTTPError as err:
            sock.sendall(_response(Page(f"{err}\n", status=err.status), keep_alive=False))
        except OSError:
            return  # the client went away

    def _answer(self, request: Request) -> bytes:
        page = self.pages.get(request.target.split("?", 1)[0])
        if page is None or request.method not in ("GET", "HEAD"):
            listing = " or ".join(f"GET {path}" for path in self.pages)
            return _response(Page(f"try {listing}\n", status=404), keep_alive=request.keep_alive)
        return _response(page(), keep_alive=request.keep_alive, head_only=request.method == "HEAD")


def _next_request(sock: socket.socket, parser: RequestParser) -> Request | None:
    """The next request head, with its body (if any) read and dropped."""
    request = None
    while True:
        event = parser.next_event()
        if event is NEED_DATA:
            parser.feed(sock.recv(65536))
        elif isinstance(event, Request):
            request = event
        elif isinstance(event, Data):
            continue
        elif isinstance(event, EndOfMessage):
            return request
        else:
            return None  # the client closed between requests


def _response(page: Page, *, keep_alive: bool, head_only: bool = False) -> bytes:
    data = page.body.encode()
    headers = Headers([("Content-Type", page.content_type), ("Content-Length", str(len(data))),
                       ("Cache-Control", "no-store"),
                       ("Connection", "keep-alive" if keep_alive else "close")])
    return serialize_head(Response(page.status, headers=headers)) + (b"" if head_only else data)
