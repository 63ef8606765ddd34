"""Admission: one request head in, one verdict out (pass, 429, or 503), with headers.

Where it sits: the load balancer's proxy calls an admission hook before it forwards a
request (load_balancer/proxy.py, `Admit`). `RateLimitAdmission` is that hook for both
the rate-limiting gateway (rate_limiter/gateway.py) and a balancer with a `[rate_limit]`
section. Per request:

1. the policy set names the checks that apply (rate_limiter/policies.py);
2. the store decides them all in one round trip, through the circuit breaker;
   when the store cannot answer, each policy's `on_store_error` decides instead;
3. every policy must pass. A refusal reports the policy that makes the client wait
   longest; a pass reports the one with the least left. Shadow policies are counted
   and logged but never refuse or show up in headers;
4. headers per draft-ietf-httpapi-ratelimit-headers (`RateLimit-Policy` lists each
   enforced policy, `RateLimit` the most restrictive one) and the older de-facto
   `X-RateLimit-Limit/Remaining/Reset` (seconds from now, not an epoch) go on
   allowed and refused responses alike; a refusal adds `Retry-After`;
5. a leaky-bucket queue's delay is waited out here, before the request goes on.

A request refused by one policy still counts against the others it passed: the
checks are atomic one by one, not together (nginx's limit_req does the same).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Callable

from common.clock import Clock
from common.http1 import Request
from load_balancer.proxy import Admit
from rate_limiter.algorithms import Decision
from rate_limiter.breaker import GuardedStore
from rate_limiter.metrics import Metrics
from rate_limiter.policies import Policy, PolicySet, RequestInfo
from rate_limiter.stores import Check, MemoryStore

log = logging.getLogger("rate_limiter.admission")


@dataclass(frozen=True)
class Outcome:
    policy: Policy
    check: Check
    decision: Decision | None  # None: the store failed and the policy fails open


@dataclass(frozen=True)
class Verdict:
    admit: Admit
    delay: float = 0.0  # hold the request this long first (leaky-bucket queue)


class RateLimitAdmission:
    def __init__(self, policies: PolicySet, store: GuardedStore, *, clock: Clock,
                 metrics: Metrics | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        self.policies = policies
        self.store = store
        self.clock = clock
        self.metrics = metrics or Metrics(store.breaker)
        self.sleep = sleep
        self.fallback = MemoryStore(clock)  # for on_store_error = "local"

    def __call__(self, request: Request, client_ip: str) -> Admit:
        """The load balancer's hook: decide, wait out any queue delay, answer."""
        verdict = self.decide(RequestInfo.from_target(request.method, request.target,
                                                      request.headers, client_ip))
        if verdict.delay > 0:
            self.sleep(verdict.delay)
        return verdict.admit

    def decide(self, request: RequestInfo) -> Verdict:
        pairs = self.policies.checks(request)
        if not pairs:
            return Verdict(Admit(True))
        started = self.clock.monotonic()
        decisions = self.store.decide([check for _, check in pairs])
        if decisions is None:
            outcomes, denied = self._without_store(pairs)
        else:
            outcomes, denied = [Outcome(p, c, d) for (p, c), d in zip(pairs, decisions)], []
        self.metrics.observe_latency(self.clock.monotonic() - started)
        self._count(outcomes, request)
        if denied:
            wait = max(1, math.ceil(self.store.breaker.retry_after()))
            return Verdict(Admit(False, (("Retry-After", str(wait)),), 503,
                                 f"rate limit store unavailable (policy {denied[0].name} fails closed)"))
        enforced = [o for o in outcomes if not o.policy.shadow and o.decision is not None]
        refused = [o for o in enforced if not o.decision.allowed]
        if refused:
            worst = max(refused, key=lambda o: o.decision.retry_after)
            headers = _headers(enforced, worst)
            if math.isfinite(worst.decision.retry_after):
                headers.append(("Retry-After", str(max(1, math.ceil(worst.decision.retry_after)))))
            return Verdict(Admit(False, tuple(headers), 429,
                                 f"rate limit exceeded: policy {worst.policy.name} allows "
                                 f"{worst.decision.limit} per {_seconds(worst.check.algorithm.window)}"))
        if not enforced:
            return Verdict(Admit(True))
        tightest = min(enforced, key=lambda o: (o.decision.remaining, -o.decision.reset_after))
        return Verdict(Admit(True, tuple(_headers(enforced, tightest))),
                       max(o.decision.delay for o in enforced))

    def _without_store(self, pairs: list[tuple[Policy, Check]]) -> tuple[list[Outcome], list[Policy]]:
        """The store cannot answer: each policy's on_store_error decides."""
        outcomes, denied = [], []
        local = [(policy, check) for policy, check in pairs if policy.on_store_error == "local"]
        local_decisions = iter(self.fallback.decide([check for _, check in local]))
        for policy, check in pairs:
            self.metrics.count_store_error(policy.name)
            decision = next(local_decisions) if policy.on_store_error == "local" else None
            if policy.on_store_error == "deny" and not policy.shadow:
                denied.append(policy)
            outcomes.append(Outcome(policy, check, decision))
        return outcomes, denied

    def _count(self, outcomes: list[Outcome], request: RequestInfo) -> None:
        for outcome in outcomes:
            if outcome.decision is None:
                continue  # counted as a store error already
            name = outcome.policy.name
            if outcome.decision.allowed:
                self.metrics.count(name, "allowed")
            elif outcome.policy.shadow:
                self.metrics.count(name, "shadow_limited")
                log.info("shadow policy %s would limit %s %s (key %s)", name, request.method,
                         request.path, outcome.check.key)
            else:
                self.metrics.count(name, "limited")

    def close(self) -> None:
        self.store.close()


def _headers(enforced: list[Outcome], reported: Outcome) -> list[tuple[str, str]]:
    """RateLimit-Policy for every enforced policy; RateLimit and X-RateLimit-* for one."""
    policies = ", ".join(f'"{o.policy.name}";q={o.decision.limit};w={_seconds(o.check.algorithm.window)}'
                         for o in enforced)
    decision = reported.decision
    reset = str(math.ceil(decision.reset_after))
    return [("RateLimit-Policy", policies),
            ("RateLimit", f'"{reported.policy.name}";r={decision.remaining};t={reset}'),
            ("X-RateLimit-Limit", str(decision.limit)),
            ("X-RateLimit-Remaining", str(decision.remaining)),
            ("X-RateLimit-Reset", reset)]


def _seconds(value: float) -> int:
    """Header fields carry whole seconds; round up so a client never retries early."""
    return max(1, math.ceil(value - 1e-9))
