"""Routing rules: which pool of servers a request goes to, by what it asks for.

Where it sits: the HTTP proxy asks `Router.pool_for(request)` once per request head,
before any server is picked; each pool then balances with its own algorithm, health
checks and persistence (load_balancer/serverpool.py). Rules are tried in config order
and the first match wins; a request no rule matches goes to the default pool.

A rule matches when every condition it sets holds (an empty rule matches everything):

    path_prefix = "/api/"            the path (query string excluded) starts with it
    path_regex  = "^/v[0-9]+/"       re.search on the path
    methods     = ["POST", "PUT"]    the request method is one of them
    host        = "api.example.com"  the Host header, port and case ignored; "*.example.com"
                                     matches any subdomain (not example.com itself)
    headers     = { X-Canary = "1" } each named header present, and its value fully
                                     matching the regex

Nothing here does I/O: rules are functions of the request head, tested as such.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Generic, Mapping, TypeVar

from common.http1 import Request

PoolT = TypeVar("PoolT")


@dataclass(frozen=True)
class Route:
    pool: str
    path_prefix: str | None = None
    path_regex: re.Pattern | None = None
    methods: frozenset[str] | None = None
    host: str | None = None
    headers: tuple[tuple[str, re.Pattern], ...] = ()

    def matches(self, request: Request) -> bool:
        path = request.target.split("?", 1)[0]
        if self.path_prefix is not None and not path.startswith(self.path_prefix):
            return False
        if self.path_regex is not None and self.path_regex.search(path) is None:
            return False
        if self.methods is not None and request.method not in self.methods:
            return False
        if self.host is not None and not _host_matches(self.host, request.headers.get("host", "")):
            return False
        for name, pattern in self.headers:
            value = request.headers.get(name)
            if value is None or pattern.fullmatch(value) is None:
                return False
        return True


def _host_matches(wanted: str, host_header: str) -> bool:
    host = host_header.lower()
    if host.startswith("["):           # [v6-address]:port
        host = host.split("]", 1)[0] + "]"
    else:
        host = host.rsplit(":", 1)[0]
    if wanted.startswith("*."):
        return host.endswith(wanted[1:])
    return host == wanted


class Router(Generic[PoolT]):
    """The rules and the pools they name; immutable, so a reload swaps the whole router."""

    def __init__(self, routes: tuple[Route, ...], default: str, pools: Mapping[str, PoolT]) -> None:
        self.routes = routes
        self.default = default
        self.pools = dict(pools)

    def pool_for(self, request: Request) -> PoolT:
        for route in self.routes:
            if route.matches(request):
                return self.pools[route.pool]
        return self.pools[self.default]

    @property
    def default_pool(self) -> PoolT:
        return self.pools[self.default]
