"""Policies as functions of a request head: routes, keys, tiers, costs."""

from __future__ import annotations

import pytest

from common.http1 import Headers
from rate_limiter.algorithms import Limit, create
from rate_limiter.policies import Policy, PolicySet, RequestInfo, Route, Tiers, extractor

TEN_PER_SECOND = create("token-bucket", Limit(10, 1.0))


def request(path: str = "/", method: str = "GET", peer: str = "203.0.113.9", **headers: str) -> RequestInfo:
    fields = Headers((name.replace("_", "-"), value) for name, value in headers.items())
    return RequestInfo.from_target(method, path, fields, peer)


# --- routes ---------------------------------------------------------------------------------

@pytest.mark.parametrize("template, path, matches", [
    ("/login", "/login", True),
    ("/login", "/login/x", False),
    ("/users/{id}", "/users/42", True),
    ("/users/{id}", "/users/42/posts", False),
    ("/users/{id}/posts/{post}", "/users/1/posts/2", True),
    ("/static/*", "/static/css/a.css", True),
    ("/static/*", "/static", True),
    ("/static/*", "/staticfoo", False),
    ("/a.b", "/aXb", False),  # the dot is literal
])
def test_route_templates(template, path, matches):
    assert Route(template).matches(request(path)) is matches


def test_a_route_may_name_a_method_and_ignores_the_query_string():
    route = Route.parse("POST /search")
    assert route.matches(request("/search?q=x", method="POST"))
    assert not route.matches(request("/search", method="GET"))


def test_a_route_must_be_a_path():
    with pytest.raises(ValueError, match="must start with '/'"):
        Route.parse("GET search")


# --- keys -----------------------------------------------------------------------------------

def test_keys_combine_the_extractors_in_order():
    policy = Policy("api", TEN_PER_SECOND, key=("ip", "endpoint", "header:X-Tenant"),
                    route=Route("/users/{id}"))
    check = policy.check(request("/users/7", X_Tenant="acme"), "default", ())
    assert check.key == "api:203.0.113.9:GET /users/{id}:acme"  # the template, not /users/7


def test_endpoint_without_a_route_is_the_raw_path():
    policy = Policy("e", TEN_PER_SECOND, key=("endpoint",))
    assert policy.check(request("/a/b?x=1", method="PUT"), "default", ()).key == "e:PUT /a/b"


def test_a_missing_header_is_one_shared_key_not_a_way_around_the_limit():
    policy = Policy("k", TEN_PER_SECOND, key=("header:X-API-Key",))
    assert policy.check(request(), "default", ()).key == "k:"


def test_global_key_puts_everyone_in_one_bucket():
    policy = Policy("g", TEN_PER_SECOND, key=("global",))
    one, other = (policy.check(request(peer=peer), "default", ()) for peer in ("1.1.1.1", "2.2.2.2"))
    assert one.key == other.key == "g:*"


@pytest.mark.parametrize("name", ["ipv4", "header:", "cookie"])
def test_unknown_keys_are_refused_with_the_choices(name):
    with pytest.raises(ValueError, match="header:<Name>"):
        extractor(name)


# --- policies, tiers, costs --------------------------------------------------------------

def test_a_policy_with_a_route_applies_only_to_matching_requests():
    login = Policy("login", TEN_PER_SECOND, route=Route.parse("POST /login"))
    assert login.check(request("/login", method="POST"), "default", ()) is not None
    assert login.check(request("/login"), "default", ()) is None


def test_routes_can_cost_more():
    policy = Policy("units", TEN_PER_SECOND, cost=1, costs=((Route.parse("POST /search"), 5),))
    assert policy.check(request("/search", method="POST"), "default", ()).cost == 5
    assert policy.check(request("/search"), "default", ()).cost == 1


def test_tiers_choose_the_limit_and_keep_separate_counts():
    pro = create("token-bucket", Limit(100, 1.0))
    policy = Policy("api", TEN_PER_SECOND, key=("header:X-API-Key",),
                    tier_limits={"pro": pro, "internal": None})
    policies = PolicySet((policy,), Tiers("X-API-Key", {"k-pro": "pro", "k-ops": "internal"}, "free"))
    [(_, paid)] = policies.checks(request(X_API_Key="k-pro"))
    [(_, free)] = policies.checks(request(X_API_Key="someone"))
    assert (paid.algorithm, paid.key) == (pro, "api:pro:k-pro")
    assert (free.algorithm, free.key) == (TEN_PER_SECOND, "api:free:someone")
    assert policies.checks(request(X_API_Key="k-ops")) == []  # unlimited tier


def test_every_applicable_policy_yields_a_check_in_config_order():
    policies = PolicySet((Policy("per-ip", TEN_PER_SECOND),
                          Policy("login", TEN_PER_SECOND, route=Route("/login")),
                          Policy("everyone", TEN_PER_SECOND, key=("global",))))
    assert [p.name for p, _ in policies.checks(request("/login"))] == ["per-ip", "login", "everyone"]
    assert [p.name for p, _ in policies.checks(request("/home"))] == ["per-ip", "everyone"]
