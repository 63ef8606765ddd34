"""The rate-limiting HTTP gateway: the load balancer's proxy, one upstream, one hook.

Where it sits: `python -m rate_limiter` builds a `Gateway`. Forwarding is not written
again here: the gateway *is* a `load_balancer.balancer.LoadBalancer` with a single
backend (the upstream) and the rate limiter's admission hook, so it inherits the
proxy's HTTP/1.1 handling (common/http1.py), keep-alive pooling, streamed bodies,
X-Forwarded-For and graceful drain. A load balancer with a `[rate_limit]` section
gets the very same hook from `RateLimitService`, and runs as a `LimitedProxy` too.

    client --HTTP--> LoadBalancer --admission(request)--> RateLimitAdmission
                          |                                   |-- policies: which checks
                          |                                   |-- GuardedStore: breaker + Redis/memory
                          |  allowed: forward + RateLimit headers   |-- Metrics -> /metrics (admin port)
                          |  refused: 429 + Retry-After
                          v
                       upstream
"""

from __future__ import annotations

import logging

from common.clock import Clock, SystemClock
from load_balancer.accesslog import AccessLog
from load_balancer.balancer import LoadBalancer
from load_balancer.config import DEFAULT_POOL, BackendConfig, Config as ProxyConfig, HealthConfig, PoolConfig
from rate_limiter.admission import RateLimitAdmission
from rate_limiter.breaker import CircuitBreaker, GuardedStore
from rate_limiter.config import GatewayConfig, RateLimitConfig
from rate_limiter.metrics import Metrics, metrics_server
from rate_limiter.stores import open_store

log = logging.getLogger("rate_limiter.gateway")


class RateLimitService:
    """Everything a proxy needs to limit requests: the admission hook and /metrics."""

    def __init__(self, config: RateLimitConfig, clock: Clock) -> None:
        store = open_store(config.store, clock=clock, timeout=config.breaker.timeout)
        breaker = CircuitBreaker(clock, failure_threshold=config.breaker.failure_threshold,
                                 reset_timeout=config.breaker.reset_timeout,
                                 name=f"rate-limit store ({config.store.partition('://')[0]})")
        self.metrics = Metrics(breaker)
        self.admission = RateLimitAdmission(config.policies, GuardedStore(store, breaker),
                                            clock=clock, metrics=self.metrics)
        self.metrics_server = metrics_server(self.metrics, *config.admin) if config.admin else None
        self.config = config

    @property
    def admin_port(self) -> int | None:
        return self.metrics_server.port if self.metrics_server else None

    def start(self) -> None:
        if self.metrics_server is not None:
            self.metrics_server.start()
        for policy in self.config.policies.policies:
            log.info("policy %s: %r per %s%s", policy.name, policy.algorithm, "+".join(policy.key),
                     " (shadow)" if policy.shadow else "")
        log.info("store %s; metrics %s", self.config.store.partition("://")[0] + "://",
                 f"on port {self.admin_port}" if self.metrics_server else "not served")

    def stop(self) -> None:
        if self.metrics_server is not None:
            self.metrics_server.stop()
        self.admission.close()


class LimitedProxy:
    """A proxy and the rate-limit service whose hook it calls, started and stopped together."""

    def __init__(self, service: RateLimitService, proxy: LoadBalancer) -> None:
        self.service = service
        self.proxy = proxy

    @property
    def port(self) -> int:
        return self.proxy.port

    @property
    def admin_port(self) -> int | None:
        return self.service.admin_port

    def start(self) -> None:
        self.service.start()
        self.proxy.start()

    def serve_forever(self) -> None:
        """Run until `request_shutdown()`, then drain and stop."""
        self.service.start()
        try:
            self.proxy.serve_forever()
        finally:
            self.service.stop()

    def request_shutdown(self) -> None:
        self.proxy.request_shutdown()

    def stop(self) -> None:
        self.proxy.stop()
        self.service.stop()


class Gateway(LimitedProxy):
    """`python -m rate_limiter`: the proxy with the upstream as its only backend."""

    def __init__(self, config: GatewayConfig, *, clock: Clock | None = None,
                 access_log: AccessLog | None = None) -> None:
        clock = clock or SystemClock()
        service = RateLimitService(config.rate_limit, clock)
        # One upstream: marking it down after failed forwards would only turn its
        # errors into 503s, so passive health checks are off.
        upstream = PoolConfig(DEFAULT_POOL, (BackendConfig(*config.upstream),),
                              health=HealthConfig(passive_fails=0))
        proxy_config = ProxyConfig(config.listen[0], config.listen[1], (upstream,))
        super().__init__(service, LoadBalancer(proxy_config, clock=clock, access_log=access_log,
                                               admission=service.admission))
