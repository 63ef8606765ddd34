"""Session persistence: opaque cookies and the source-IP stick table, as functions of snapshots."""

from __future__ import annotations

import re

from common.clock import FakeClock
from common.http1 import Headers
from load_balancer.backends import Backend, Snapshot
from load_balancer.config import BackendConfig, PoolConfig, StickyConfig
from load_balancer.serverpool import ServerPool
from load_balancer.sticky import CookiePersistence, SourceIPPersistence
from load_balancer.strategies import RequestInfo

SECRET = b"0123456789abcdef0123456789abcdef"


def make_backends(n: int) -> list[Backend]:
    return [Backend(BackendConfig("10.0.0.1", 8000 + i)) for i in range(n)]


def with_cookie(value: str, client: str = "192.0.2.1") -> RequestInfo:
    return RequestInfo(client, headers=Headers([("Cookie", f"theme=dark; LB_SERVER={value}")]))


# --- cookie -------------------------------------------------------------------------------


def test_a_cookie_token_is_opaque_and_url_safe():
    (backend,) = make_backends(1)
    token = CookiePersistence("LB_SERVER", SECRET, "web").token(backend)
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", token)
    assert "10.0.0.1" not in token and "8000" not in token


def test_tokens_depend_on_the_secret_and_the_pool():
    (backend,) = make_backends(1)
    token = CookiePersistence("LB_SERVER", SECRET, "web").token(backend)
    assert CookiePersistence("LB_SERVER", SECRET, "web").token(backend) == token  # stable
    assert CookiePersistence("LB_SERVER", b"another secret, just as long", "web").token(backend) != token
    assert CookiePersistence("LB_SERVER", SECRET, "api").token(backend) != token


def test_a_valid_cookie_names_its_server_while_it_is_up():
    a, b = make_backends(2)
    cookies = CookiePersistence("LB_SERVER", SECRET, "web")
    assert cookies.server_for(with_cookie(cookies.token(b)), Snapshot((a, b))) is b
    assert cookies.server_for(with_cookie(cookies.token(b)), Snapshot((a,))) is None  # b is down


def test_a_forged_or_missing_cookie_names_no_server():
    a, b = make_backends(2)
    cookies = CookiePersistence("LB_SERVER", SECRET, "web")
    assert cookies.server_for(with_cookie("10.0.0.1:8001"), Snapshot((a, b))) is None
    assert cookies.server_for(RequestInfo("192.0.2.1"), Snapshot((a, b))) is None


def cookie_of(pick) -> str:
    """The token in a pick's `Set-Cookie: LB_SERVER=<token>; Path=/...`."""
    (name, value), = pick.headers
    assert name == "Set-Cookie"
    return value.split(";")[0].removeprefix("LB_SERVER=")


def cookie_pool(n: int) -> ServerPool:
    configs = tuple(BackendConfig("10.0.0.1", 8000 + i) for i in range(n))
    return ServerPool(PoolConfig("web", configs, sticky=StickyConfig("cookie")), FakeClock(), secret=SECRET)


def test_a_new_client_gets_a_cookie_and_then_stays_without_a_new_one():
    pool = cookie_pool(3)
    first = pool.pick(pool.backends.current(), RequestInfo("192.0.2.1"))
    assert first.headers[0][1].endswith("; Path=/; HttpOnly; SameSite=Lax")
    token = cookie_of(first)
    for _ in range(10):
        again = pool.pick(pool.backends.current(), with_cookie(token))
        assert again.backend is first.backend and again.headers == ()


def test_when_its_server_is_down_the_client_moves_and_gets_a_new_cookie():
    pool = cookie_pool(3)
    first = pool.pick(pool.backends.current(), RequestInfo("192.0.2.1"))
    pool.backends.set_up(first.backend, False, "test")
    moved = pool.pick(pool.backends.current(), with_cookie(cookie_of(first)))
    assert moved.backend is not first.backend
    assert cookie_of(moved) == pool.persistence.token(moved.backend)


def test_pinned_requests_count_as_in_flight_for_least_connections():
    configs = tuple(BackendConfig("10.0.0.1", 8000 + i) for i in range(2))
    pool = ServerPool(PoolConfig("web", configs, "least-connections", sticky=StickyConfig("cookie")),
                      FakeClock(), secret=SECRET)
    a, b = pool.backends.backends
    pinned = with_cookie(pool.persistence.token(a))
    for _ in range(3):
        assert pool.pick(pool.backends.current(), pinned).backend is a  # three held on a
    assert [pool.pick(pool.backends.current(), RequestInfo("192.0.2.9")).backend
            for _ in range(2)] == [b, b]


# --- source IP ------------------------------------------------------------------------------


def test_a_client_stays_on_the_server_it_was_stuck_to():
    a, b = make_backends(2)
    table = SourceIPPersistence(timeout=60, clock=FakeClock())
    client = RequestInfo("192.0.2.1")
    assert table.server_for(client, Snapshot((a, b))) is None
    assert table.stick(client, b) is None  # no header to send
    assert table.server_for(client, Snapshot((a, b))) is b
    assert table.server_for(RequestInfo("192.0.2.2"), Snapshot((a, b))) is None


def test_a_client_silent_longer_than_the_timeout_is_forgotten():
    (a,) = make_backends(1)
    clock = FakeClock()
    table = SourceIPPersistence(timeout=60, clock=clock)
    client = RequestInfo("192.0.2.1")
    table.stick(client, a)
    clock.advance(59)
    assert table.server_for(client, Snapshot((a,))) is a  # and that use renews the entry
    clock.advance(59)
    assert table.server_for(client, Snapshot((a,))) is a
    clock.advance(61)
    assert table.server_for(client, Snapshot((a,))) is None


def test_the_stick_table_drops_idle_and_least_recent_clients_first():
    (a,) = make_backends(1)
    clock = FakeClock()
    table = SourceIPPersistence(timeout=60, clock=clock, max_clients=3)
    for i in range(3):
        table.stick(RequestInfo(f"192.0.2.{i}"), a)
    table.server_for(RequestInfo("192.0.2.0"), Snapshot((a,)))  # .0 is now the most recent
    table.stick(RequestInfo("192.0.2.9"), a)
    assert len(table) == 3
    assert table.server_for(RequestInfo("192.0.2.1"), Snapshot((a,))) is None  # evicted
    clock.advance(61)
    table.stick(RequestInfo("192.0.2.10"), a)
    assert len(table) == 1  # every other entry had expired


def test_a_client_whose_server_is_down_is_balanced_and_stuck_again():
    configs = tuple(BackendConfig("10.0.0.1", 8000 + i) for i in range(3))
    pool = ServerPool(PoolConfig("tcp", configs, sticky=StickyConfig("source-ip")), FakeClock(),
                      secret=SECRET)
    client = RequestInfo("192.0.2.1")
    first = pool.pick(pool.backends.current(), client).backend
    assert {pool.pick(pool.backends.current(), client).backend for _ in range(5)} == {first}
    pool.backends.set_up(first, False, "test")
    second = pool.pick(pool.backends.current(), client).backend
    pool.backends.set_up(first, True, "test")
    assert second is not first
    assert {pool.pick(pool.backends.current(), client).backend for _ in range(5)} == {second}
