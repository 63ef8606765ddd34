"""Routing rules as functions of a request head; first match wins, the rest go to the default."""

from __future__ import annotations

import re

import pytest

from common.http1 import Headers, Request
from common.settings import ConfigError
from load_balancer.config import from_mapping
from load_balancer.routing import Route, Router


def request(method: str = "GET", target: str = "/", **headers: str) -> Request:
    return Request(method, target, Headers((k.replace("_", "-"), v) for k, v in headers.items()))


@pytest.mark.parametrize("route, head, matches", [
    (Route("api", path_prefix="/api/"), request(target="/api/users?page=2"), True),
    (Route("api", path_prefix="/api/"), request(target="/apiary"), False),
    (Route("api", path_prefix="/api/"), request(target="/?next=/api/"), False),  # the query is no path
    (Route("v", path_regex=re.compile(r"^/v\d+/")), request(target="/v2/items"), True),
    (Route("v", path_regex=re.compile(r"^/v\d+/")), request(target="/vx/items"), False),
    (Route("w", methods=frozenset({"POST", "PUT"})), request("PUT"), True),
    (Route("w", methods=frozenset({"POST", "PUT"})), request("GET"), False),
    (Route("h", host="api.example.com"), request(Host="API.example.com:8080"), True),
    (Route("h", host="api.example.com"), request(Host="www.example.com"), False),
    (Route("h", host="*.example.com"), request(Host="eu.api.example.com"), True),
    (Route("h", host="*.example.com"), request(Host="example.com"), False),
    (Route("h", host="[::1]"), request(Host="[::1]:8080"), True),
    (Route("c", headers=(("X-Canary", re.compile("1|yes")),)), request(X_Canary="yes"), True),
    (Route("c", headers=(("X-Canary", re.compile("1|yes")),)), request(X_Canary="yes please"), False),
    (Route("c", headers=(("X-Canary", re.compile(".*")),)), request(), False),  # must be present
    (Route("all"), request("DELETE", "/anything"), True),
])
def test_a_route_matches_when_every_condition_it_sets_holds(route, head, matches):
    assert route.matches(head) is matches


def test_conditions_combine_with_and():
    route = Route("api", path_prefix="/api/", methods=frozenset({"POST"}))
    assert route.matches(request("POST", "/api/orders"))
    assert not route.matches(request("GET", "/api/orders"))
    assert not route.matches(request("POST", "/static/app.js"))


def test_the_first_matching_route_wins_and_the_rest_go_to_the_default():
    router = Router((Route("writes", methods=frozenset({"POST"})), Route("api", path_prefix="/api/")),
                    "web", {"writes": "W", "api": "A", "web": "D"})
    assert router.pool_for(request("POST", "/api/x")) == "W"
    assert router.pool_for(request("GET", "/api/x")) == "A"
    assert router.pool_for(request("GET", "/index.html")) == "D"


# --- from the config file --------------------------------------------------------------------

POOLS = {"backend": [{"address": "127.0.0.1:9001"}],
         "pool": [{"name": "api", "backend": [{"address": "127.0.0.1:9101"}]}]}


def test_routes_are_read_in_order_with_their_conditions():
    config = from_mapping({**POOLS, "route": [
        {"pool": "api", "path_prefix": "/api/", "methods": ["post", "PUT"]},
        {"pool": "default", "host": "Static.Example.com", "headers": {"X-Canary": "1"}}]})
    api, static = config.routes
    assert (api.pool, api.path_prefix, api.methods) == ("api", "/api/", frozenset({"POST", "PUT"}))
    assert static.host == "static.example.com" and static.headers[0][0] == "X-Canary"


@pytest.mark.parametrize("route, message", [
    ({"pool": "nope"}, "route[1].pool: no pool is named 'nope' (pools: default, api)"),
    ({"path_prefix": "/x"}, "route[1].pool: required"),
    ({"pool": "api", "path_prefix": "api"}, "route[1].path_prefix: must start with '/'"),
    ({"pool": "api", "path_regex": "("}, "route[1].path_regex: not a valid regular expression"),
    ({"pool": "api", "headers": {"X-A": "["}}, "route[1].headers.X-A: not a valid regular expression"),
    ({"pool": "api", "method": "GET"}, "route[1].method: unknown setting"),
])
def test_bad_routes_name_their_field(route, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        from_mapping({**POOLS, "route": [route]})


def test_routes_need_http_mode():
    with pytest.raises(ConfigError, match='route: routing rules read HTTP requests; mode = "tcp"'):
        from_mapping({**POOLS, "mode": "tcp", "route": [{"pool": "api"}]})
