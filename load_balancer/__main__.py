"""`python -m load_balancer --config lb.toml` or the quick form, all in flags:

    python -m load_balancer --listen 127.0.0.1:8080 --backend 127.0.0.1:9001 \\
        --backend 127.0.0.1:9002,weight=3 --backend 127.0.0.1:9003,backup \\
        --algorithm least-connections --health-check /health --health-interval 1 \\
        --sticky cookie --slow-start 30 --admin 127.0.0.1:8081
    python -m load_balancer --mode tcp --listen 127.0.0.1:6380 --backend 127.0.0.1:6379 \\
        --backend 127.0.0.1:6381 --health-check redis

Flags override the file's settings (and `--backend`s replace its backends); the
pool-level flags (--algorithm, --hash-key, --sticky, --slow-start, --health-*) set the
top-level (default) pool. A bad setting prints one line naming it and exits with
status 2. The access log goes to stdout, errors, health transitions and alerts to
stderr. SIGHUP reloads the file and flags; SIGINT/SIGTERM drain and exit.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from common.cli import LOG_LEVELS, run
from common.clock import SystemClock
from common.settings import ConfigError
from load_balancer.accesslog import AccessLog
from load_balancer.balancer import LoadBalancer
from load_balancer.config import (CHECKS, LOG_FORMATS, MODES, STICKY_MODES, Config, load,
                                  parse_backend_flag)
from load_balancer.reload import Reloader
from load_balancer.strategies import HASH_KEYS, STRATEGIES
from rate_limiter.gateway import LimitedProxy, RateLimitService

FLAG_SETTINGS = (  # flag (as argparse names it) -> top-level setting, copied as given
    ("listen", "listen"), ("mode", "mode"), ("algorithm", "algorithm"), ("hash_key", "hash_key"),
    ("slow_start", "slow_start"), ("admin", "admin"), ("log_format", "log_format"))


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m load_balancer", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", metavar="FILE", help="TOML configuration file")
    parser.add_argument("--listen", metavar="HOST:PORT", help="address to accept clients on")
    parser.add_argument("--mode", choices=MODES, help="http (layer 7, default) or tcp (layer 4)")
    parser.add_argument("--backend", action="append", metavar="HOST:PORT[,weight=N][,backup]",
                        help="a backend server (repeat for more)")
    parser.add_argument("--algorithm", choices=sorted(STRATEGIES))
    parser.add_argument("--hash-key", metavar="|".join(HASH_KEYS),
                        help="what consistent-hash hashes (default: ip)")
    parser.add_argument("--sticky", choices=STICKY_MODES, help="session persistence")
    parser.add_argument("--slow-start", type=float, metavar="SECONDS",
                        help="ramp a recovered server's weight up over this long")
    parser.add_argument("--health-check", metavar="PATH|" + "|".join(CHECKS[1:]),
                        help="active checks: GET PATH (http mode), TCP connect, or redis PING")
    parser.add_argument("--health-interval", type=float, metavar="SECONDS")
    parser.add_argument("--admin", metavar="HOST:PORT", help="serve /stats, /metrics, /health and / here")
    parser.add_argument("--header-timeout", type=float, metavar="SECONDS",
                        help="a request head must arrive whole this soon, else 408 (default 10)")
    parser.add_argument("--max-connections", type=int, metavar="N",
                        help="client connections at once; more get 503 (default 1024, 0 = no cap)")
    parser.add_argument("--max-body-bytes", type=int, metavar="BYTES",
                        help="larger request bodies get 413 (default 0 = no cap)")
    parser.add_argument("--log-format", choices=LOG_FORMATS)
    parser.add_argument("--log-level", default="info", choices=LOG_LEVELS)
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace) -> Config:
    """The flags become the TOML settings they stand for, then one validation."""
    overrides: dict[str, Any] = {setting: getattr(args, flag) for flag, setting in FLAG_SETTINGS
                                 if getattr(args, flag) is not None}
    health: dict[str, Any] = {}
    if args.backend:
        overrides["backend"] = [parse_backend_flag(text) for text in args.backend]
    if args.sticky is not None:
        overrides["sticky"] = {"mode": args.sticky}
    if args.health_check is not None:
        health.update(_health_check_flag(args.health_check))
    if args.health_interval is not None:
        health["interval"] = args.health_interval
    if health:
        overrides["health"] = health
    if args.header_timeout is not None:
        overrides["timeouts"] = {"header": args.header_timeout}
    limits = {setting: getattr(args, setting) for setting in ("max_connections", "max_body_bytes")
              if getattr(args, setting) is not None}
    if limits:
        overrides["limits"] = limits
    return load(args.config, overrides)


def _health_check_flag(value: str) -> dict[str, str]:
    """`--health-check /health` is an http check of that path; `connect` and `redis` name a kind."""
    if value.startswith("/"):
        return {"check": "http", "path": value}
    if value in CHECKS[1:]:
        return {"check": value, "path": ""}
    raise ConfigError(f"--health-check: expected a path starting with '/', "
                      f"{' or '.join(CHECKS[1:])}, got {value!r}")


def build_server(config: Config, args: argparse.Namespace) -> LoadBalancer | LimitedProxy:
    balancer_log = AccessLog(sys.stdout, config.log_format)
    if config.rate_limit is None:
        balancer = LoadBalancer(config, access_log=balancer_log)
        server: LoadBalancer | LimitedProxy = balancer
    else:
        # [rate_limit]: the rate limiter's admission hook runs before each request is forwarded.
        limiter = RateLimitService(config.rate_limit, SystemClock())
        balancer = LoadBalancer(config, access_log=balancer_log, admission=limiter.admission)
        server = LimitedProxy(limiter, balancer)
    Reloader(lambda: build_config(args), balancer).install()
    return server


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    return run("load_balancer", args, build_config, lambda config: build_server(config, args))


if __name__ == "__main__":
    sys.exit(main())
