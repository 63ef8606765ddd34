"""`python -m load_balancer --config lb.toml` or the quick form, all in flags:

    python -m load_balancer --listen 127.0.0.1:8080 --backend 127.0.0.1:9001 \\
        --backend 127.0.0.1:9002,weight=3 --backend 127.0.0.1:9003,backup \\
        --algorithm least-connections --health-check /health --health-interval 1

Flags override the file's settings (and `--backend`s replace its backends). A bad
setting prints one line naming it and exits with status 2. The access log goes to
stdout, errors and health transitions to stderr. SIGINT/SIGTERM drain and exit.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from common.cli import LOG_LEVELS, run
from common.clock import SystemClock
from load_balancer.accesslog import AccessLog
from load_balancer.config import LOG_FORMATS, Config, load, parse_backend_flag
from load_balancer.proxy import LoadBalancer
from load_balancer.strategies import STRATEGIES
from rate_limiter.gateway import LimitedProxy, RateLimitService


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m load_balancer", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", metavar="FILE", help="TOML configuration file")
    parser.add_argument("--listen", metavar="HOST:PORT", help="address to accept clients on")
    parser.add_argument("--backend", action="append", metavar="HOST:PORT[,weight=N][,backup]",
                        help="a backend server (repeat for more)")
    parser.add_argument("--algorithm", choices=sorted(STRATEGIES))
    parser.add_argument("--health-check", metavar="PATH", help="path for active HTTP health checks")
    parser.add_argument("--health-interval", type=float, metavar="SECONDS")
    parser.add_argument("--log-format", choices=LOG_FORMATS)
    parser.add_argument("--log-level", default="info", choices=LOG_LEVELS)
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace) -> Config:
    """The flags become the TOML settings they stand for, then one validation."""
    overrides: dict[str, Any] = {}
    health: dict[str, Any] = {}
    if args.listen is not None:
        overrides["listen"] = args.listen
    if args.backend:
        overrides["backend"] = [parse_backend_flag(text) for text in args.backend]
    if args.algorithm is not None:
        overrides["algorithm"] = args.algorithm
    if args.log_format is not None:
        overrides["log_format"] = args.log_format
    if args.health_check is not None:
        health["path"] = args.health_check
    if args.health_interval is not None:
        health["interval"] = args.health_interval
    if health:
        overrides["health"] = health
    return load(args.config, overrides)


def build_server(config: Config) -> LoadBalancer | LimitedProxy:
    balancer_log = AccessLog(sys.stdout, config.log_format)
    if config.rate_limit is None:
        return LoadBalancer(config, access_log=balancer_log)
    # [rate_limit]: the rate limiter's admission hook runs before each request is forwarded.
    limiter = RateLimitService(config.rate_limit, SystemClock())
    return LimitedProxy(limiter, LoadBalancer(config, access_log=balancer_log,
                                              admission=limiter.admission))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    return run("load_balancer", args, build_config, build_server)


if __name__ == "__main__":
    sys.exit(main())
