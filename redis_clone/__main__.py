"""`python -m redis_clone [redis.conf] [--port 6379] [--bind 127.0.0.1] [--name value ...]`

Command line compatible with redis-server's: an optional config file in redis.conf
syntax, then any parameter as `--name value` (which wins over the file). The dump
(`dir`/`dbfilename`) is loaded before serving; a file that cannot be loaded stops the
start with a message saying why. SIGINT and SIGTERM shut the server down cleanly, like
SHUTDOWN (saving first when save points are configured).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from redis_clone.config import Config, ConfigError
from redis_clone.persistence.rdb import RdbError
from redis_clone.registry import COMMANDS
from redis_clone.server import RedisServer
from redis_clone.state import REDIS_VERSION


def build_config(argv: list[str]) -> Config:
    config = Config()
    if argv and not argv[0].startswith("--"):
        config.load_file(argv[0])
        argv = argv[1:]
    config.load_args(argv)
    rename_commands(config)
    return config


def rename_commands(config: Config) -> None:
    """rename-command lines change the process's one command table, once, before any
    client connects (which is why Redis allows them only at startup)."""
    for where, old, new in config.renames:
        try:
            COMMANDS.rename(old, new)
        except ValueError as err:
            raise ConfigError(f"Reading the configuration, at {where}\n"
                              f">>> 'rename-command {old} {new}'\n{err}", "rename-command") from None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-v", "--version"):
        print(f"Redis server v={REDIS_VERSION} (redis_clone, Python)")
        return 0
    if argv and argv[0] in ("-h", "--help"):
        argparse.ArgumentParser(prog="python -m redis_clone", description=__doc__).print_help()
        return 0
    try:
        config = build_config(argv)
    except (OSError, ConfigError) as err:
        print(f"*** FATAL CONFIG FILE ERROR *** {err}", file=sys.stderr)
        return 1
    level = {"debug": logging.DEBUG, "verbose": logging.INFO}.get(config.get("loglevel"), logging.INFO)
    logging.basicConfig(level=level, format=f"{os.getpid()}:M %(asctime)s.%(msecs)03d * %(message)s",
                        datefmt="%d %b %Y %H:%M:%S",
                        filename=config.get("logfile") or None)
    server = RedisServer(config)
    try:
        server.state.persistence.load_at_startup()  # before serving, as Redis does
    except (OSError, RdbError) as err:
        logging.getLogger("redis_clone").warning(
            "Fatal error loading the DB from %s: %s. Exiting.", server.state.persistence.path, err)
        return 1
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda signum, _frame: server.shutdown_on_signal(signum))
    try:
        server.serve_forever()
    except OSError as err:
        print(f"Could not create server TCP listening socket: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
