"""The life of a server program, shared by `python -m load_balancer` and `python -m rate_limiter`.

Validate the configuration first (a bad setting is one line naming it and exit status
2, like argparse's own usage errors), then log to stderr, serve until SIGINT or
SIGTERM asks for a graceful stop, and turn a port that cannot be bound into one line
and status 1 rather than a traceback.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import Callable, Protocol, TypeVar

from common.settings import ConfigError

EXIT_CONFIG = 2
LOG_LEVELS = ("debug", "info", "warning", "error")

ConfigT = TypeVar("ConfigT")


class Server(Protocol):
    def serve_forever(self) -> None: ...
    def request_shutdown(self) -> None: ...


def run(prog: str, args: argparse.Namespace, build_config: Callable[[argparse.Namespace], ConfigT],
        build_server: Callable[[ConfigT], Server]) -> int:
    """Configure, then serve until a signal; the exit status. `args.log_level` is one of LOG_LEVELS."""
    try:
        config = build_config(args)
    except ConfigError as err:
        print(f"{prog}: config error: {err}", file=sys.stderr)
        return EXIT_CONFIG
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    server = build_server(config)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: server.request_shutdown())
    try:
        server.serve_forever()
    except OSError as err:
        print(f"{prog}: cannot listen: {err.strerror or err}", file=sys.stderr)
        return 1
    return 0
