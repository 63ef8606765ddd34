"""Configuration: a TOML file and command-line flags, validated into one frozen `Config`.

Both sources become the same shape first (each flag turns into the TOML setting it
stands for), then one validator reads that shape and names the exact field it rejects,
e.g. `pool[1].backend[2].weight: must be at least 1, got 0`; unknown keys are errors
too. Everything downstream gets typed, checked values and never re-validates.

Servers come in pools. The top-level `[[backend]]`s with the top-level `algorithm`,
`health`, `slow_start`, `hash_key` and `sticky` make the pool named "default"; each
`[[pool]]` table is another pool with the same settings; `[[route]]`s send requests
to pools by path, method, Host or header (load_balancer/routing.py), and requests no
route matches go to `default_pool`. The settings and their defaults are listed in
docs/load-balancer.md.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from common.clientip import IPNetwork
from common.settings import ConfigError, Table, parse_address, read_toml
from load_balancer.routing import Route
from load_balancer.strategies import STRATEGIES, request_key
from rate_limiter.config import RateLimitConfig, read_rate_limit

LOG_FORMATS = ("text", "json")
MODES = ("http", "tcp")
CHECKS = ("http", "connect", "redis")
STICKY_MODES = ("cookie", "source-ip")
DEFAULT_POOL = "default"
POOL_SETTINGS = ("backend", "algorithm", "hash_key", "health", "slow_start", "sticky")
# Weights do not matter to these two, so a weight that ramps up would change nothing.
NO_SLOW_START = ("round-robin", "consistent-hash")
_NAME = re.compile(r"[A-Za-z0-9_.-]+")  # pool names go into metric labels and log lines
_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 6265: a token


@dataclass(frozen=True)
class BackendConfig:
    host: str
    port: int
    weight: int = 1
    backup: bool = False

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class HealthConfig:
    path: str | None = None      # for http checks; None: no active http checks
    interval: float = 2.0        # seconds between two checks of one backend
    timeout: float = 1.0
    rise: int = 2                # consecutive good checks to come back up
    fall: int = 3                # consecutive bad checks to go down
    expect: tuple[int, int] = (200, 399)  # inclusive range of healthy statuses
    passive_fails: int = 3       # consecutive failed forwards to go down; 0 = off
    check: str = "http"          # http (GET path), connect (TCP connect), redis (PING -> +PONG)

    @property
    def active(self) -> bool:
        """Whether a thread probes the servers; otherwise only forwards are evidence."""
        return self.check != "http" or self.path is not None


@dataclass(frozen=True)
class StickyConfig:
    mode: str                    # "cookie" or "source-ip"
    cookie: str = "LB_SERVER"    # cookie mode: the cookie's name
    timeout: float = 1800.0      # source-ip mode: forget a client silent this long


@dataclass(frozen=True)
class PoolConfig:
    name: str
    backends: tuple[BackendConfig, ...]
    algorithm: str = "round-robin"
    hash_key: str = "ip"         # consistent-hash: ip, uri, header:NAME or cookie:NAME
    health: HealthConfig = HealthConfig()
    slow_start: float = 0.0      # seconds a recovered server takes to reach its weight; 0 = off
    sticky: StickyConfig | None = None


@dataclass(frozen=True)
class AlertConfig:
    command: tuple[str, ...] = ()  # run per alert, the alert as JSON on stdin
    webhook: str | None = None     # POSTed the alert as JSON
    flap_changes: int = 4          # this many up/down changes of one server...
    flap_window: float = 60.0      # ...within this many seconds is flapping


@dataclass(frozen=True)
class Timeouts:
    connect: float = 2.0     # TCP connect to a backend
    read: float = 30.0       # a backend's silence while we wait for its bytes -> 504
    client: float = 60.0     # a client's silence (idle keep-alive or slow upload)
    pool_idle: float = 4.0   # below the usual 5 s backend keep-alive, so we close first
    drain: float = 10.0      # how long shutdown waits for requests in flight
    tunnel: float = 3600.0   # TCP mode: a connection silent both ways this long is closed
    header: float = 10.0     # a request head must arrive whole this soon -> 408 (slowloris)


@dataclass(frozen=True)
class Config:
    listen_host: str
    listen_port: int
    pools: tuple[PoolConfig, ...]
    routes: tuple[Route, ...] = ()
    default_pool: str = DEFAULT_POOL
    mode: str = "http"
    admin: tuple[str, int] | None = None       # where /stats, /metrics... are served
    trusted_proxies: tuple[IPNetwork, ...] = ()  # peers whose X-Forwarded-For is believed
    cookie_secret: str | None = None           # None: a random one per process
    alerts: AlertConfig = AlertConfig()
    timeouts: Timeouts = Timeouts()
    retries: int = 2             # extra servers tried when one fails to connect
    pool_size: int = 32          # idle connections kept per backend
    max_header_bytes: int = 32 * 1024
    max_body_bytes: int | None = None
    max_connections: int | None = 1024  # client connections at once; more get 503 + close
    log_format: str = "text"
    rate_limit: RateLimitConfig | None = None  # [rate_limit]: the rate limiter's settings

    def pool(self, name: str) -> PoolConfig:
        return next(pool for pool in self.pools if pool.name == name)


def load(path: str | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Read the TOML file (if any), lay the flag overrides on top, validate."""
    return from_mapping(read_toml(path, overrides))


def from_mapping(raw: dict[str, Any]) -> Config:
    top = Table(raw, "")
    host, port = parse_address(top.string("listen", "127.0.0.1:8080"), "listen", allow_port_zero=True)
    mode = top.choice("mode", "http", MODES)
    admin_text = top.string("admin", "")
    admin = parse_address(admin_text, "admin", allow_port_zero=True) if admin_text else None
    pools = _pools(top, raw, mode)
    default_pool = top.string("default_pool", DEFAULT_POOL)
    names = [pool.name for pool in pools]
    if default_pool not in names:
        if not names:
            raise ConfigError("backend: at least one backend is required")
        if "default_pool" not in raw:
            raise ConfigError("default_pool: required when there are no top-level [[backend]]s; "
                              f"name one of the pools: {', '.join(names)}")
        raise ConfigError(f"default_pool: no pool is named {default_pool!r} (pools: {', '.join(names)})")
    routes = tuple(_route(Table(item, f"route[{i}]"), names)
                   for i, item in enumerate(top.array("route"), start=1))
    if routes and mode == "tcp":
        raise ConfigError('route: routing rules read HTTP requests; mode = "tcp" sees only bytes')
    trusted = top.networks("trusted_proxies")
    secret = top.string("cookie_secret", "") or None
    if secret is not None and len(secret) < 16:
        raise ConfigError("cookie_secret: at least 16 characters, or anyone could try them all")
    log_format = top.choice("log_format", "text", LOG_FORMATS)
    retries = top.integer("retries", 2, minimum=0)
    pool_size = top.integer("pool_size", 32, minimum=0)
    alerts = _alerts(top.table("alerts"))
    timeouts = _timeouts(top.table("timeouts"))
    limits = top.table("limits")
    max_header = limits.integer("max_header_bytes", 32 * 1024, minimum=1024)
    max_body = limits.integer("max_body_bytes", 0, minimum=0)
    max_connections = limits.integer("max_connections", 1024, minimum=0)
    limits.finish()
    rate_limit = None
    if "rate_limit" in raw:  # the same settings as rate_limiter's, checked by its reader
        if mode == "tcp":
            raise ConfigError('rate_limit: limits count HTTP requests; it needs mode = "http"')
        rate_limit_table = top.table("rate_limit")
        rate_limit = read_rate_limit(rate_limit_table)
        rate_limit_table.finish()
    top.finish()
    return Config(host, port, pools, routes, default_pool, mode, admin, trusted, secret, alerts,
                  timeouts, retries, pool_size, max_header, max_body or None, max_connections or None,
                  log_format, rate_limit)


def parse_backend_flag(text: str) -> dict[str, Any]:
    """`host:port[,weight=N][,backup]` -> the [[backend]] table it stands for."""
    address, *options = text.split(",")
    table: dict[str, Any] = {"address": address}
    for option in options:
        name, has_value, value = option.partition("=")
        if name == "backup" and not has_value:
            table["backup"] = True
        elif name == "weight" and has_value:
            try:
                table["weight"] = int(value)
            except ValueError:
                raise ConfigError(f"--backend {text}: weight must be an integer, "
                                  f"got {value!r}") from None
        else:
            raise ConfigError(f"--backend {text}: unknown option {option!r} "
                              "(expected weight=N or backup)")
    return table


def _pools(top: Table, raw: dict[str, Any], mode: str) -> tuple[PoolConfig, ...]:
    """The top-level pool ("default", if it has backends) and every [[pool]]."""
    pools = []
    if "backend" in raw:
        pools.append(_pool(top, DEFAULT_POOL, mode))
    else:
        stray = next((key for key in POOL_SETTINGS if key in raw), None)
        if stray is not None:
            raise ConfigError(f"{stray}: set for the top-level pool, which has no [[backend]]")
    for i, item in enumerate(top.array("pool"), start=1):
        table = Table(item, f"pool[{i}]")
        name = table.string("name", None)
        if not _NAME.fullmatch(name):
            raise table.wrong("name", "letters, digits, '_', '-' or '.'", name)
        if name in (pool.name for pool in pools):
            raise ConfigError(f"pool[{i}].name: {name!r} is used twice"
                              + (" (the top-level [[backend]]s are the pool 'default')"
                                 if name == DEFAULT_POOL else ""))
        pools.append(_pool(table, name, mode))
        table.finish()
    return tuple(pools)


def _pool(table: Table, name: str, mode: str) -> PoolConfig:
    """A pool's settings, read from `table` (the top level, or one [[pool]]).

    The caller finishes the table: the top level has more settings than a pool.
    """
    backends = tuple(_backend(Table(item, f"{table.field('backend')}[{i}]"))
                     for i, item in enumerate(table.array("backend"), start=1))
    if not backends:
        raise ConfigError(f"{table.field('backend')}: at least one backend is required")
    if all(backend.backup for backend in backends):
        raise ConfigError(f"{table.field('backend')}: at least one backend must not be a backup")
    seen: set[str] = set()
    for i, backend in enumerate(backends, start=1):
        if backend.address in seen:
            raise ConfigError(f"{table.field('backend')}[{i}].address: {backend.address} is listed twice")
        seen.add(backend.address)
    algorithm = table.choice("algorithm", "round-robin", tuple(STRATEGIES))
    hash_key = table.string("hash_key", "ip")
    try:
        request_key(hash_key)
    except ValueError as err:
        raise ConfigError(f"{table.field('hash_key')}: {err}") from None
    if "hash_key" in table.raw and not STRATEGIES[algorithm].keyed:
        raise ConfigError(f"{table.field('hash_key')}: only algorithm = \"consistent-hash\" "
                          f"hashes a key; {algorithm} does not")
    if hash_key != "ip" and mode == "tcp":
        raise ConfigError(f'{table.field("hash_key")}: mode = "tcp" sees no HTTP request, '
                          f"so only ip can be hashed, got {hash_key!r}")
    slow_start = table.number("slow_start", 0.0, zero_ok=True)
    if slow_start and algorithm in NO_SLOW_START:
        raise ConfigError(f"{table.field('slow_start')}: {algorithm} ignores weights, so a "
                          "ramping weight would change nothing; use weighted-round-robin, "
                          "least-connections, random-two-choices or ip-hash")
    sticky = _sticky(table.table("sticky"), mode) if "sticky" in table.raw else None
    return PoolConfig(name, backends, algorithm, hash_key, _health(table.table("health")),
                      slow_start, sticky)


def _backend(table: Table) -> BackendConfig:
    host, port = parse_address(table.string("address", None), f"{table.name}.address")
    backend = BackendConfig(host, port, table.integer("weight", 1, minimum=1),
                            table.boolean("backup", False))
    table.finish()
    return backend


def _health(table: Table) -> HealthConfig:
    path = table.string("path", "") or None
    if path is not None and not path.startswith("/"):
        raise ConfigError(f"{table.field('path')}: must start with '/', got {path!r}")
    check = table.choice("check", "http", CHECKS)
    if path is not None and check != "http":
        raise ConfigError(f"{table.field('path')}: only http checks have a path, this one is {check}")
    expect_text = table.string("expect", "200-399")
    low, _, high = expect_text.partition("-")
    if not (low.isdigit() and (high or low).isdigit() and 100 <= int(low) <= int(high or low) <= 599):
        raise ConfigError(f"{table.field('expect')}: expected a status or range like 200-399, "
                          f"got {expect_text!r}")
    health = HealthConfig(path, table.number("interval", 2.0), table.number("timeout", 1.0),
                          table.integer("rise", 2, minimum=1), table.integer("fall", 3, minimum=1),
                          (int(low), int(high or low)), table.integer("passive_fails", 3, minimum=0),
                          check)
    table.finish()
    return health


def _sticky(table: Table, mode: str) -> StickyConfig:
    kind = table.choice("mode", None, STICKY_MODES)
    if kind == "cookie" and mode == "tcp":
        raise ConfigError(f'{table.field("mode")}: mode = "tcp" has no cookies; use source-ip')
    cookie = table.string("cookie", "LB_SERVER")
    if not _COOKIE_NAME.fullmatch(cookie):
        raise table.wrong("cookie", "a cookie name (letters, digits, and !#$%&'*+-.^_`|~)", cookie)
    sticky = StickyConfig(kind, cookie, table.number("timeout", 1800.0))
    table.finish()
    return sticky


def _route(table: Table, pools: list[str]) -> Route:
    pool = table.string("pool", None)
    if pool not in pools:
        raise ConfigError(f"{table.field('pool')}: no pool is named {pool!r} (pools: {', '.join(pools)})")
    prefix = table.string("path_prefix", "") or None
    if prefix is not None and not prefix.startswith("/"):
        raise ConfigError(f"{table.field('path_prefix')}: must start with '/', got {prefix!r}")
    regex_text = table.string("path_regex", "")
    methods = table.strings("methods", ())
    host = table.string("host", "").lower() or None
    headers_table = table.table("headers")
    headers = tuple((name, _regex(headers_table, name, value)) for name, value in headers_table.items())
    route = Route(pool, prefix, _regex(table, "path_regex", regex_text) if regex_text else None,
                  frozenset(method.upper() for method in methods) or None, host, headers)
    table.finish()
    return route


def _regex(table: Table, key: str, text: Any) -> re.Pattern:
    if not isinstance(text, str):
        raise table.wrong(key, "a regular expression", text)
    try:
        return re.compile(text)
    except re.error as err:
        raise ConfigError(f"{table.field(key)}: not a valid regular expression: {err}") from None


def _alerts(table: Table) -> AlertConfig:
    if isinstance(table.raw.get("command"), str):  # a string is split like a shell would
        command = tuple(shlex.split(table.string("command", "")))
    else:
        command = table.strings("command", ())
    webhook = table.string("webhook", "") or None
    if webhook is not None and (urlsplit(webhook).scheme not in ("http", "https")
                                or not urlsplit(webhook).hostname):
        raise table.wrong("webhook", "an http:// or https:// URL", webhook)
    alerts = AlertConfig(command, webhook, table.integer("flap_changes", 4, minimum=2),
                         table.number("flap_window", 60.0))
    table.finish()
    return alerts


def _timeouts(table: Table) -> Timeouts:
    timeouts = Timeouts(table.number("connect", 2.0), table.number("read", 30.0),
                        table.number("client", 60.0), table.number("pool_idle", 4.0),
                        table.number("drain", 10.0), table.number("tunnel", 3600.0),
                        table.number("header", 10.0))
    table.finish()
    return timeouts
