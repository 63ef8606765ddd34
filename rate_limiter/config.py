"""Configuration: a TOML file and quick flags, validated into one frozen config.

Where it sits: `python -m rate_limiter` reads it (rate_limiter/__main__.py), and so does
the load balancer for its `[rate_limit]` section: `read_rate_limit()` takes the table
the settings live in (the top level here, `[rate_limit]` there). Flags become the
TOML settings they stand for, then one validator (common/settings.py) reads the lot
and names the field it rejects: `policy[2].limit: expected N/second|minute|hour|day
or N/<seconds>s, got '10/week'`. The settings are listed in docs/rate-limiter.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from common.settings import ConfigError, Table, parse_address, read_toml
from rate_limiter.algorithms import ALGORITHMS, Algorithm, LeakyBucket, Limit, create
from rate_limiter.policies import ON_STORE_ERROR, Policy, PolicySet, Route, Tiers, extractor
from rate_limiter.stores import check_uri

PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_LIMIT = re.compile(r"(\d+)\s*/\s*(?:(second|minute|hour|day)|(\d+(?:\.\d+)?)s)")
_NAME = re.compile(r"[A-Za-z0-9_.-]+")  # policy names go into headers and metric labels
UNLIMITED = "unlimited"


@dataclass(frozen=True)
class BreakerConfig:
    timeout: float = 0.1          # seconds a store call may take before it counts as failed
    failure_threshold: int = 3    # consecutive failures that open the circuit
    reset_timeout: float = 5.0    # seconds open before one request probes the store again


@dataclass(frozen=True)
class RateLimitConfig:
    policies: PolicySet
    store: str = "memory://"
    breaker: BreakerConfig = BreakerConfig()
    admin: tuple[str, int] | None = None  # where /metrics is served; None: nowhere


@dataclass(frozen=True)
class GatewayConfig:
    listen: tuple[str, int]
    upstream: tuple[str, int]
    rate_limit: RateLimitConfig


def parse_limit(text: str, field: str) -> Limit:
    """`10/second`, `1000/hour`, `100/10s`, `3/0.5s`."""
    match = _LIMIT.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ConfigError(f"{field}: expected N/second|minute|hour|day or N/<seconds>s, got {text!r}")
    count, unit, seconds = match.groups()
    period = PERIODS[unit] if unit else float(seconds)
    if int(count) < 1 or period <= 0:
        raise ConfigError(f"{field}: a limit needs at least 1 request per a positive time, got {text!r}")
    return Limit(int(count), float(period))


def load(path: str | None = None, overrides: dict[str, Any] | None = None) -> GatewayConfig:
    """Read the TOML file (if any), lay the flag overrides on top, validate."""
    return from_mapping(read_toml(path, overrides))


def from_mapping(raw: dict[str, Any]) -> GatewayConfig:
    top = Table(raw, "")
    listen = parse_address(top.string("listen", "127.0.0.1:8090"), "listen", allow_port_zero=True)
    upstream = parse_address(top.string("upstream", None), "upstream")
    rate_limit = read_rate_limit(top)
    top.finish()
    return GatewayConfig(listen, upstream, rate_limit)


def read_rate_limit(table: Table) -> RateLimitConfig:
    """The rate-limit settings found in `table`; the caller finishes the table."""
    store = table.string("store", "memory://")
    try:
        check_uri(store)
    except ValueError as err:
        raise ConfigError(f"{table.field('store')}: {err}") from None
    admin_text = table.string("admin", "")
    admin = parse_address(admin_text, table.field("admin"), allow_port_zero=True) if admin_text else None
    dry_run = table.boolean("dry_run", False)
    trusted = table.networks("trusted_proxies")
    breaker = _breaker(table.table("breaker"))
    tiers, tier_names = _tiers(table.table("tiers"))
    policies = tuple(_policy(Table(item, f"{table.field('policy')}[{i}]"), tier_names, dry_run)
                     for i, item in enumerate(table.array("policy"), start=1))
    if not policies:
        raise ConfigError(f"{table.field('policy')}: at least one [[policy]] is required")
    seen: set[str] = set()
    for i, policy in enumerate(policies, start=1):
        if policy.name in seen:
            raise ConfigError(f"{table.field('policy')}[{i}].name: {policy.name!r} is used twice")
        seen.add(policy.name)
    return RateLimitConfig(PolicySet(policies, tiers, trusted), store, breaker, admin)


def _breaker(table: Table) -> BreakerConfig:
    breaker = BreakerConfig(table.number("timeout", 0.1),
                            table.integer("failure_threshold", 3, minimum=1),
                            table.number("reset_timeout", 5.0))
    table.finish()
    return breaker


def _tiers(table: Table) -> tuple[Tiers, frozenset[str]]:
    header = table.string("header", "X-API-Key")
    default = table.string("default", "default")
    keys_table = table.table("keys")
    keys = {}
    for api_key, tier in keys_table.items():
        if not isinstance(tier, str):
            raise keys_table.wrong(api_key, "a tier name", tier)
        keys[api_key] = tier
    table.finish()
    return Tiers(header, keys, default), frozenset({default, *keys.values()})


def _policy(table: Table, tier_names: frozenset[str], dry_run: bool) -> Policy:
    name = table.string("name", None)
    if not _NAME.fullmatch(name):
        raise table.wrong("name", "letters, digits, '_', '-' or '.'", name)
    algorithm_name = table.choice("algorithm", "token-bucket", tuple(ALGORITHMS))
    options = {}
    if algorithm_name == LeakyBucket.name:
        options = {"mode": table.choice("mode", "meter", LeakyBucket.MODES),
                   "delay_after": table.integer("delay", 0, minimum=0)}

    def limit_of(limit_table: Table) -> Algorithm:
        """`limit` and `burst` of a policy, or of one tier given as a table."""
        limit = parse_limit(limit_table.string("limit", None), limit_table.field("limit"))
        burst = limit_table.integer("burst", 0, minimum=0) or None
        if burst is not None and not ALGORITHMS[algorithm_name].uses_burst:
            raise ConfigError(f"{limit_table.field('burst')}: {algorithm_name} has no burst; "
                              "token-bucket, leaky-bucket and gcra do")
        return create(algorithm_name, Limit(limit.rate, limit.period, burst), **options)

    default = limit_of(table)
    tier_limits = _tier_limits(table.table("tiers"), tier_names, limit_of)
    match = table.string("match", "")
    route = _route(table, "match", match) if match else None
    cost = table.integer("cost", 1, minimum=1)
    costs_table = table.table("costs")
    costs = tuple((_route(costs_table, text, text), _cost(costs_table, text, value))
                  for text, value in costs_table.items())
    keys = table.strings("key", ("ip",))
    for key in keys:
        try:
            extractor(key)
        except ValueError as err:
            raise ConfigError(f"{table.field('key')}: {err}") from None
    policy = Policy(name, default, keys, route, cost, costs, tier_limits,
                    table.boolean("shadow", False) or dry_run,
                    table.choice("on_store_error", "allow", ON_STORE_ERROR))
    table.finish()
    smallest = min(algorithm.quota for algorithm in (default, *tier_limits.values()) if algorithm)
    largest = max([cost, *(value for _, value in costs)])
    if largest > smallest:
        raise ConfigError(f"{table.field('cost')}: a cost of {largest} can never fit in a "
                          f"quota of {smallest}")
    return policy


def _tier_limits(table: Table, tier_names: frozenset[str],
                 limit_of: Callable[[Table], Algorithm]) -> dict[str, Algorithm | None]:
    """`pro = "100/second"`, `pro = { limit = "100/second", burst = 200 }` or `"unlimited"`."""
    limits: dict[str, Algorithm | None] = {}
    for tier, value in table.items():
        if tier not in tier_names:
            raise ConfigError(f"{table.field(tier)}: unknown tier; [tiers] names "
                              + ", ".join(sorted(tier_names)))
        if value == UNLIMITED:
            limits[tier] = None
            continue
        tier_table = Table(value if isinstance(value, dict) else {"limit": value}, table.field(tier))
        limits[tier] = limit_of(tier_table)
        tier_table.finish()
    return limits


def _route(table: Table, key: str, text: str) -> Route:
    try:
        return Route.parse(text)
    except ValueError as err:
        raise ConfigError(f"{table.field(key)}: {err}") from None


def _cost(table: Table, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise table.wrong(key, "a cost of at least 1", value)
    return value
