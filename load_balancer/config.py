"""Configuration: a TOML file and command-line flags, validated into one frozen `Config`.

Both sources become the same shape first (each flag turns into the TOML setting it
stands for), then one validator reads that shape and names the exact field it rejects,
e.g. `backend[2].weight: must be at least 1, got 0`; unknown keys are errors too.
Everything downstream gets typed, checked values and never re-validates. The settings
and their defaults are listed in docs/load-balancer.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.settings import ConfigError, Table, parse_address, read_toml
from load_balancer.strategies import STRATEGIES
from rate_limiter.config import RateLimitConfig, read_rate_limit

LOG_FORMATS = ("text", "json")


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
    path: str | None = None      # None: no active checks, only passive ones
    interval: float = 2.0        # seconds between two checks of one backend
    timeout: float = 1.0
    rise: int = 2                # consecutive good checks to come back up
    fall: int = 3                # consecutive bad checks to go down
    expect: tuple[int, int] = (200, 399)  # inclusive range of healthy statuses
    passive_fails: int = 3       # consecutive failed forwards to go down; 0 = off


@dataclass(frozen=True)
class Timeouts:
    connect: float = 2.0     # TCP connect to a backend
    read: float = 30.0       # a backend's silence while we wait for its bytes -> 504
    client: float = 60.0     # a client's silence (idle keep-alive or slow upload)
    pool_idle: float = 4.0   # below the usual 5 s backend keep-alive, so we close first
    drain: float = 10.0      # how long shutdown waits for requests in flight


@dataclass(frozen=True)
class Config:
    listen_host: str
    listen_port: int
    backends: tuple[BackendConfig, ...]
    algorithm: str = "round-robin"
    health: HealthConfig = HealthConfig()
    timeouts: Timeouts = Timeouts()
    retries: int = 2             # extra servers tried when one fails to connect
    pool_size: int = 32          # idle connections kept per backend
    max_header_bytes: int = 32 * 1024
    max_body_bytes: int | None = None
    log_format: str = "text"
    rate_limit: RateLimitConfig | None = None  # [rate_limit]: the rate limiter's settings


def load(path: str | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Read the TOML file (if any), lay the flag overrides on top, validate."""
    return from_mapping(read_toml(path, overrides))


def from_mapping(raw: dict[str, Any]) -> Config:
    top = Table(raw, "")
    host, port = parse_address(top.string("listen", "127.0.0.1:8080"), "listen", allow_port_zero=True)
    backends = tuple(_backend(Table(item, f"backend[{i}]"))
                     for i, item in enumerate(top.array("backend"), start=1))
    if not backends:
        raise ConfigError("backend: at least one backend is required")
    if all(backend.backup for backend in backends):
        raise ConfigError("backend: at least one backend must not be a backup")
    seen: set[str] = set()
    for i, backend in enumerate(backends, start=1):
        if backend.address in seen:
            raise ConfigError(f"backend[{i}].address: {backend.address} is listed twice")
        seen.add(backend.address)
    algorithm = top.choice("algorithm", "round-robin", tuple(STRATEGIES))
    log_format = top.choice("log_format", "text", LOG_FORMATS)
    retries = top.integer("retries", 2, minimum=0)
    pool_size = top.integer("pool_size", 32, minimum=0)
    health = _health(top.table("health"))
    timeouts = _timeouts(top.table("timeouts"))
    limits = top.table("limits")
    max_header = limits.integer("max_header_bytes", 32 * 1024, minimum=1024)
    max_body = limits.integer("max_body_bytes", 0, minimum=0)
    limits.finish()
    rate_limit = None
    if "rate_limit" in raw:  # the same settings as rate_limiter's, checked by its reader
        rate_limit_table = top.table("rate_limit")
        rate_limit = read_rate_limit(rate_limit_table)
        rate_limit_table.finish()
    top.finish()
    return Config(host, port, backends, algorithm, health, timeouts, retries, pool_size,
                  max_header, max_body or None, log_format, rate_limit)


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


def _backend(table: Table) -> BackendConfig:
    host, port = parse_address(table.string("address", None), f"{table.name}.address")
    backend = BackendConfig(host, port, table.integer("weight", 1, minimum=1),
                            table.boolean("backup", False))
    table.finish()
    return backend


def _health(table: Table) -> HealthConfig:
    path = table.string("path", "") or None
    if path is not None and not path.startswith("/"):
        raise ConfigError(f"health.path: must start with '/', got {path!r}")
    expect_text = table.string("expect", "200-399")
    low, _, high = expect_text.partition("-")
    if not (low.isdigit() and (high or low).isdigit() and 100 <= int(low) <= int(high or low) <= 599):
        raise ConfigError(f"health.expect: expected a status or range like 200-399, got {expect_text!r}")
    health = HealthConfig(path, table.number("interval", 2.0), table.number("timeout", 1.0),
                          table.integer("rise", 2, minimum=1), table.integer("fall", 3, minimum=1),
                          (int(low), int(high or low)), table.integer("passive_fails", 3, minimum=0))
    table.finish()
    return health


def _timeouts(table: Table) -> Timeouts:
    timeouts = Timeouts(table.number("connect", 2.0), table.number("read", 30.0),
                        table.number("client", 60.0), table.number("pool_idle", 4.0),
                        table.number("drain", 10.0))
    table.finish()
    return timeouts
