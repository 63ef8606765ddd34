"""`python -m rate_limiter --config limits.toml` or the quick form, all in flags:

    python -m rate_limiter --listen 127.0.0.1:8090 --upstream 127.0.0.1:9001 \\
        --redis redis://127.0.0.1:6379 --limit 10/second --burst 20 \\
        --algorithm token-bucket --key ip --admin 127.0.0.1:9090

Flags override the file's settings; --limit (with --burst, --algorithm, --key) replaces
the file's policies with one policy named "default". A limit is N/second, N/minute,
N/hour, N/day or N/<seconds>s. A bad setting prints one line naming it and exits with
status 2. The access log goes to stdout; store outages, breaker transitions and shadow
decisions go to stderr. SIGINT/SIGTERM drain and exit.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from common.cli import LOG_LEVELS, run
from common.settings import ConfigError
from rate_limiter.algorithms import ALGORITHMS
from rate_limiter.config import GatewayConfig, load
from rate_limiter.gateway import Gateway

POLICY_FLAGS = ("burst", "algorithm", "key")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m rate_limiter", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", metavar="FILE", help="TOML configuration file")
    parser.add_argument("--listen", metavar="HOST:PORT", help="address to accept clients on")
    parser.add_argument("--upstream", metavar="HOST:PORT", help="where allowed requests go")
    parser.add_argument("--redis", metavar="URL",
                        help="redis://[:password@]host:port/db (default: in memory)")
    parser.add_argument("--admin", metavar="HOST:PORT", help="serve /metrics here")
    parser.add_argument("--limit", metavar="N/PERIOD", help="e.g. 10/second, 100/10s")
    parser.add_argument("--burst", type=int, metavar="N",
                        help="bucket size (token-bucket, leaky-bucket, gcra)")
    parser.add_argument("--algorithm", choices=sorted(ALGORITHMS))
    parser.add_argument("--key", action="append", metavar="KEY",
                        help="ip, endpoint, path, method, global or header:<Name>; repeat to combine")
    parser.add_argument("--on-store-error", choices=("allow", "deny", "local"))
    parser.add_argument("--store-timeout", type=float, metavar="SECONDS",
                        help="how long a store call may take before it counts as failed (0.1)")
    parser.add_argument("--dry-run", action="store_true", help="count and log, never refuse")
    parser.add_argument("--log-level", default="info", choices=LOG_LEVELS)
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace) -> GatewayConfig:
    """The flags become the TOML settings they stand for, then one validation."""
    overrides: dict[str, Any] = {}
    for flag, setting in (("listen", "listen"), ("upstream", "upstream"), ("redis", "store"),
                          ("admin", "admin")):
        if getattr(args, flag) is not None:
            overrides[setting] = getattr(args, flag)
    if args.dry_run:
        overrides["dry_run"] = True
    if args.store_timeout is not None:
        overrides["breaker"] = {"timeout": args.store_timeout}
    policy = {name: getattr(args, name) for name in POLICY_FLAGS if getattr(args, name) is not None}
    if args.on_store_error is not None:
        policy["on_store_error"] = args.on_store_error
    if args.limit is not None:
        overrides["policy"] = [{"name": "default", "limit": args.limit, **policy}]
    elif policy:
        flag = next(iter(policy)).replace("_", "-")
        raise ConfigError(f"--{flag}: needs --limit (it describes the policy --limit makes)")
    return load(args.config, overrides)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    return run("rate_limiter", args, build_config, Gateway)


if __name__ == "__main__":
    sys.exit(main())
