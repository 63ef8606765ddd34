"""Policies: which limits apply to a request, counted under which key, at what cost.

Where it sits: the admission step (rate_limiter/admission.py) turns each request head
into a `RequestInfo`, asks every `Policy` whether it applies, and gets one `Check`
(algorithm, key, cost) per applicable policy for the store to decide together.

* Key extractors, by name (`KEY_EXTRACTORS`): `ip` (the client; X-Forwarded-For is
  believed only when the peer is a configured trusted proxy, common/clientip.py), `endpoint` (method plus
  the matched path template, or the raw path), `path`, `method`, `global` (one bucket
  for everyone), and `header:<Name>` (an API key, a tenant id). A list of them combines
  into one key: `["ip", "endpoint"]` limits each client on each endpoint.
* Routes: `/users/{id}` matches one path segment per `{name}`; a trailing `/*` matches
  the rest; anything else matches exactly. Optionally restricted to some methods.
* Tiers: an API key maps to a tier ("free", "pro"); a policy may give each tier its
  own limit, or `unlimited`.
* Costs: a policy may charge more for some routes (`"POST /search" = 5`).
* Shadow (dry-run) policies are decided and counted, but never refuse anything.

Nothing here does I/O: it is all functions of the request head, tested as such.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Mapping

from common.clientip import IPNetwork, client_ip
from common.http1 import Headers
from rate_limiter.algorithms import Algorithm
from rate_limiter.stores import Check

ON_STORE_ERROR = ("allow", "deny", "local")  # what a policy does when the store fails


@dataclass(frozen=True)
class RequestInfo:
    """What a policy may look at: the request head and who sent it."""

    method: str
    path: str           # without the query string
    headers: Headers
    peer: str           # the address the TCP connection came from

    @classmethod
    def from_target(cls, method: str, target: str, headers: Headers, peer: str) -> RequestInfo:
        return cls(method, target.split("?", 1)[0], headers, peer)


# --- routes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """`[METHOD ]path-template`, e.g. `POST /login`, `/users/{id}`, `/static/*`."""

    template: str
    methods: frozenset[str] | None = None  # None: every method
    pattern: re.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.template.startswith("/"):
            raise ValueError(f"a path must start with '/', got {self.template!r}")
        parts = []
        for piece in re.split(r"(\{[^/{}]+\}|/\*$)", self.template):
            if piece == "/*":
                parts.append("(?:/.*)?")
            elif piece.startswith("{"):
                parts.append("[^/]+")
            else:
                parts.append(re.escape(piece))
        object.__setattr__(self, "pattern", re.compile("".join(parts)))

    @classmethod
    def parse(cls, text: str) -> Route:
        """`"POST /search"` or `"/search"`."""
        method, _, path = text.strip().rpartition(" ")
        return cls(path, frozenset({method.strip().upper()}) if method.strip() else None)

    def matches(self, request: RequestInfo) -> bool:
        return ((self.methods is None or request.method in self.methods)
                and self.pattern.fullmatch(request.path) is not None)


# --- key extractors -------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyContext:
    """What extractors may need besides the request."""

    trusted_proxies: tuple[IPNetwork, ...] = ()
    route: Route | None = None


Extractor = Callable[[RequestInfo, KeyContext], str]


def _endpoint(request: RequestInfo, context: KeyContext) -> str:
    # With a template, /users/1 and /users/2 are one endpoint: the route's, not the URL's.
    path = context.route.template if context.route is not None else request.path
    return f"{request.method} {path}"


KEY_EXTRACTORS: dict[str, Extractor] = {
    "ip": lambda request, context: client_ip(request.peer, request.headers, context.trusted_proxies),
    "endpoint": _endpoint,
    "path": lambda request, context: request.path,
    "method": lambda request, context: request.method,
    "global": lambda request, context: "*",
}
"""Key name (as written in config) -> extractor. `header:<Name>` is handled apart."""

HEADER_KEY = "header:"


def extractor(name: str) -> Extractor:
    if name.startswith(HEADER_KEY) and len(name) > len(HEADER_KEY):
        header = name[len(HEADER_KEY):]
        # A missing header is a key of its own: requests without an API key share one
        # bucket instead of escaping the limit.
        return lambda request, context: request.headers.get(header, "")
    if name not in KEY_EXTRACTORS:
        raise ValueError(f"unknown key {name!r}; expected one of "
                         f"{', '.join(KEY_EXTRACTORS)} or header:<Name>")
    return KEY_EXTRACTORS[name]


# --- tiers and policies ---------------------------------------------------------------------


@dataclass(frozen=True)
class Tiers:
    """API key -> tier, read from one header. Unknown or missing keys get `default`."""

    header: str = "X-API-Key"
    keys: Mapping[str, str] = field(default_factory=dict)
    default: str = "default"

    def tier_of(self, request: RequestInfo) -> str:
        return self.keys.get(request.headers.get(self.header, ""), self.default)


@dataclass(frozen=True)
class Policy:
    name: str
    algorithm: Algorithm                     # the limit for tiers not listed below
    key: tuple[str, ...] = ("ip",)
    route: Route | None = None               # None: every request
    cost: int = 1
    costs: tuple[tuple[Route, int], ...] = ()  # the first matching route's cost wins
    tier_limits: Mapping[str, Algorithm | None] = field(default_factory=dict)  # None: unlimited
    shadow: bool = False                     # decide and count, never refuse
    on_store_error: str = "allow"            # one of ON_STORE_ERROR (see breaker.py)
    extractors: tuple[Extractor, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "extractors", tuple(extractor(name) for name in self.key))

    def check(self, request: RequestInfo, tier: str, trusted: tuple[IPNetwork, ...]) -> Check | None:
        """The check this policy wants for `request`, or None if it does not apply."""
        if self.route is not None and not self.route.matches(request):
            return None
        algorithm = self.tier_limits.get(tier, self.algorithm) if self.tier_limits else self.algorithm
        if algorithm is None:
            return None  # this tier is unlimited here
        context = KeyContext(trusted, self.route)
        parts = [extract(request, context) for extract in self.extractors]
        if self.tier_limits:
            parts.insert(0, tier)  # a client that changes tier starts a fresh count
        return Check(algorithm, ":".join([self.name, *parts]), self.cost_of(request))

    def cost_of(self, request: RequestInfo) -> int:
        return next((cost for route, cost in self.costs if route.matches(request)), self.cost)


@dataclass(frozen=True)
class PolicySet:
    """Every policy of one gateway, with what they share (tiers, trusted proxies)."""

    policies: tuple[Policy, ...]
    tiers: Tiers = Tiers()
    trusted_proxies: tuple[IPNetwork, ...] = ()

    def checks(self, request: RequestInfo) -> list[tuple[Policy, Check]]:
        """(policy, check) for each policy that applies to `request`, in config order."""
        tier = self.tiers.tier_of(request)
        found = []
        for policy in self.policies:
            check = policy.check(request, tier, self.trusted_proxies)
            if check is not None:
                found.append((policy, check))
        return found
