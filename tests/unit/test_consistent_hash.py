"""The consistent-hash ring: few keys move when servers come and go, shares stay even."""

from __future__ import annotations

from collections import Counter

import pytest

from common.http1 import Headers
from load_balancer.backends import Backend, Snapshot
from load_balancer.config import BackendConfig
from load_balancer.strategies import ConsistentHash, RequestInfo, create, request_key

KEYS = [RequestInfo(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}") for i in range(20_000)]


def make_backends(n: int) -> list[Backend]:
    return [Backend(BackendConfig(f"10.9.0.{i}", 6379)) for i in range(1, n + 1)]


def owners(strategy: ConsistentHash, servers: list[Backend]) -> dict[RequestInfo, Backend]:
    snapshot = Snapshot(tuple(servers))
    return {key: strategy.pick(snapshot, key)[0] for key in KEYS}


@pytest.mark.parametrize("n", [5, 10])
def test_removing_one_of_n_servers_remaps_about_one_nth_of_the_keys(n):
    servers = make_backends(n)
    strategy = ConsistentHash()
    before = owners(strategy, servers)
    gone = servers[n // 2]
    after = owners(strategy, [s for s in servers if s is not gone])
    moved = [key for key in KEYS if before[key] is not after[key]]
    fraction = len(moved) / len(KEYS)
    print(f"{n} servers, one removed: {fraction:.3f} of the keys moved (1/N = {1 / n:.3f})")
    assert 0.6 / n <= fraction <= 1.4 / n
    assert all(before[key] is gone for key in moved)  # only the removed server's keys move


def test_adding_a_server_takes_about_its_share_and_only_for_itself():
    servers = make_backends(9)
    strategy = ConsistentHash()
    before = owners(strategy, servers)
    (new,) = make_backends(10)[9:]
    after = owners(strategy, [*servers, new])
    moved = [key for key in KEYS if before[key] is not after[key]]
    assert 0.06 <= len(moved) / len(KEYS) <= 0.14
    assert all(after[key] is new for key in moved)


def test_a_modulo_hash_would_move_almost_every_key_instead():
    """What the ring is for: `hash(key) % N` reshuffles nearly everything when N changes."""
    def modulo(n: int) -> list[int]:
        return [hash(key.client_ip) % n for key in KEYS]
    moved = sum(a != b for a, b in zip(modulo(10), modulo(9))) / len(KEYS)
    assert moved > 0.8


def test_virtual_nodes_keep_the_shares_even():
    servers = make_backends(10)
    counts = Counter(owners(ConsistentHash(), servers).values())
    mean = len(KEYS) / len(servers)
    assert all(0.7 * mean <= counts[server] <= 1.3 * mean for server in servers)


def test_a_heavier_server_owns_more_of_the_ring():
    heavy, light = Backend(BackendConfig("10.9.0.1", 6379, 3)), Backend(BackendConfig("10.9.0.2", 6379))
    counts = Counter(owners(ConsistentHash(), [heavy, light]).values())
    assert 0.65 <= counts[heavy] / len(KEYS) <= 0.85


def test_the_same_key_always_reaches_the_same_server():
    strategy = ConsistentHash()
    snapshot = Snapshot(tuple(make_backends(4)))
    for key in KEYS[:50]:
        assert len({strategy.pick(snapshot, key)[0] for _ in range(5)}) == 1


def test_the_ring_is_rebuilt_only_when_the_servers_change():
    strategy = ConsistentHash()
    servers = make_backends(3)
    points, _ = strategy._ring(Snapshot(tuple(servers)))
    assert strategy._ring(Snapshot(tuple(servers)))[0] is points
    assert strategy._ring(Snapshot(tuple(servers[:2])))[0] is not points
    assert len(points) == 3 * ConsistentHash.VNODES


# --- what is hashed ---------------------------------------------------------------------------


def request(target: str = "/", **headers: str) -> RequestInfo:
    return RequestInfo("10.0.0.1", "GET", target, Headers((k.replace("_", "-"), v) for k, v in headers.items()))


@pytest.mark.parametrize("spec, same, different", [
    ("uri", request("/a?x=1"), request("/a?x=2")),
    ("header:X-User", request(X_User="alice"), request(X_User="bob")),
    ("cookie:session", request(Cookie="theme=dark; session=abc"), request(Cookie="session=xyz")),
])
def test_each_hash_key_reads_its_part_of_the_request(spec, same, different):
    key = request_key(spec)
    assert key(same) == key(same) and key(same) != key(different)


def test_the_ip_key_is_the_client_address():
    assert request_key("ip")(RequestInfo("192.0.2.8")) == "192.0.2.8"


def test_requests_without_the_key_are_spread_round_robin():
    strategy = create("consistent-hash", "header:X-User")
    servers = make_backends(3)
    chosen = Counter(strategy.pick(Snapshot(tuple(servers)), request())[0] for _ in range(30))
    assert chosen == {server: 10 for server in servers}


@pytest.mark.parametrize("spec", ["", "host", "header:", "cookie", "ip:x"])
def test_unknown_hash_keys_are_refused(spec):
    with pytest.raises(ValueError, match="expected one of ip, uri, header:NAME, cookie:NAME"):
        request_key(spec)
