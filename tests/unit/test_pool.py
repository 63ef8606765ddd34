"""The keep-alive pool's bookkeeping, with stand-in connections and a FakeClock."""

from __future__ import annotations

import pytest

from common.clock import FakeClock
from load_balancer.backends import Backend
from load_balancer.config import BackendConfig
from load_balancer.pool import ConnectionPool


class FakeConnection:
    def __init__(self, backend: Backend, name: str) -> None:
        self.backend = backend
        self.name = name
        self.reused = False
        self.idle_since = 0.0
        self.closed = False
        self.stale = False

    def looks_closed(self) -> bool:
        return self.stale

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def setup(monkeypatch):
    clock = FakeClock()
    pool = ConnectionPool(clock, connect_timeout=1, read_timeout=1, idle_timeout=4.0, max_idle=2)
    backend = Backend(BackendConfig("127.0.0.1", 9001))
    opened: list[FakeConnection] = []

    def connect(target: Backend) -> FakeConnection:
        opened.append(FakeConnection(target, f"new{len(opened)}"))
        return opened[-1]

    monkeypatch.setattr(pool, "connect", connect)
    return pool, clock, backend, opened


def test_a_released_connection_is_reused_newest_first(setup):
    pool, clock, backend, _ = setup
    older, newer = FakeConnection(backend, "older"), FakeConnection(backend, "newer")
    pool.release(older)
    clock.advance(1)
    pool.release(newer)
    conn = pool.acquire(backend)
    assert conn is newer and conn.reused


def test_an_empty_pool_connects(setup):
    pool, _, backend, opened = setup
    conn = pool.acquire(backend)
    assert conn is opened[0] and not conn.reused


def test_connections_idle_longer_than_the_timeout_are_closed_unused(setup):
    pool, clock, backend, opened = setup
    old = FakeConnection(backend, "old")
    pool.release(old)
    clock.advance(4.0)
    assert pool.acquire(backend) is opened[0]
    assert old.closed


def test_a_connection_the_backend_closed_while_idle_is_discarded(setup):
    pool, _, backend, _ = setup
    good, dead = FakeConnection(backend, "good"), FakeConnection(backend, "dead")
    dead.stale = True
    pool.release(good)
    pool.release(dead)
    assert pool.acquire(backend) is good and dead.closed


def test_only_max_idle_connections_are_kept_per_backend(setup):
    pool, _, backend, _ = setup
    conns = [FakeConnection(backend, str(i)) for i in range(3)]
    for conn in conns:
        pool.release(conn)
    assert [c.closed for c in conns] == [True, False, False]


def test_connections_are_kept_per_backend(setup):
    pool, _, backend, opened = setup
    other = Backend(BackendConfig("127.0.0.1", 9002))
    pool.release(FakeConnection(other, "other"))
    assert pool.acquire(backend) is opened[0]


def test_after_close_all_released_connections_are_closed(setup):
    pool, _, backend, _ = setup
    idle, late = FakeConnection(backend, "idle"), FakeConnection(backend, "late")
    pool.release(idle)
    pool.close_all()
    pool.release(late)
    assert idle.closed and late.closed
