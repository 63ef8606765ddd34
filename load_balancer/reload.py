"""Hot reload: SIGHUP re-reads the configuration and applies it without dropping a request.

Where it sits: `python -m load_balancer` installs a `Reloader` as its SIGHUP handler.
The handler only starts a thread (a signal handler runs on the main thread and must
not block it); that thread reads the file and the flags again exactly as at startup,
checks the result, and hands it to `LoadBalancer.apply()` (balancer.py), which swaps
pools and routes in place. Reloads run one at a time.

A reload can change pools and their servers, algorithms, health checks, slow start,
persistence, routes, retries, timeouts, limits and alerts. New servers start taking
traffic (warming up first with slow start); removed servers get no new requests and
finish the ones in flight. It cannot change `listen` (the socket is bound), `mode` or
`admin` (another listener) or `log_format`; a reload that changes one of them is
refused. An invalid file is refused the same way: the error is logged and the running
configuration stays, untouched. The `[rate_limit]` section is read at startup only:
the limiter's counters live on, and changing its limits needs a restart.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Callable

from common.settings import ConfigError
from load_balancer.balancer import LoadBalancer
from load_balancer.config import Config

log = logging.getLogger("load_balancer.reload")

# Settings fixed for the life of the process: name -> how to read it from a Config.
FIXED: dict[str, Callable[[Config], object]] = {
    "listen": lambda config: (config.listen_host, config.listen_port),
    "mode": lambda config: config.mode,
    "admin": lambda config: config.admin,
    "log_format": lambda config: config.log_format,
    "rate_limit": lambda config: config.rate_limit is not None,
}


def needs_restart(running: Config, new: Config) -> str | None:
    """The first setting `new` changes that cannot change while running, if any."""
    return next((name for name, read in FIXED.items() if read(running) != read(new)), None)


class Reloader:
    def __init__(self, read_config: Callable[[], Config], balancer: LoadBalancer) -> None:
        self.read_config = read_config  # may raise ConfigError
        self.balancer = balancer
        self._lock = threading.Lock()  # one reload at a time

    def install(self) -> None:
        """Reload on SIGHUP. Call from the main thread (only it may set signal handlers)."""
        signal.signal(signal.SIGHUP, lambda *_: threading.Thread(
            target=self.reload, name="lb-reload", daemon=True).start())

    def reload(self) -> bool:
        """Read and apply the configuration; False (and an error logged) if refused."""
        with self._lock:
            try:
                config = self.read_config()
                fixed = needs_restart(self.balancer.config, config)
                if fixed is not None:
                    raise ConfigError(f"{fixed}: changed, and changing it needs a restart")
            except ConfigError as err:
                log.error("reload refused, the running configuration stays: %s", err)
                return False
            self.balancer.apply(config)
            log.info("reloaded: %s%s", "; ".join(
                f"{pool.name}: {len(pool.backends)} servers" for pool in config.pools),
                " ([rate_limit] stays as started)" if config.rate_limit else "")
            return True
