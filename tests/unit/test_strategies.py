"""Balancing algorithms as pure functions of a snapshot: exact sequences and distributions."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from load_balancer.backends import Backend, Snapshot
from load_balancer.config import BackendConfig
from load_balancer.strategies import (STRATEGIES, IPHash, LeastConnections, RandomTwoChoices,
                                      RequestInfo, RoundRobin, SmoothWeightedRoundRobin, create)

REQUEST = RequestInfo("10.0.0.1")


def make_backends(*weights: int) -> list[Backend]:
    return [Backend(BackendConfig("10.1.0.1", 8000 + i, weight)) for i, weight in enumerate(weights)]


def picks(strategy, snapshot: Snapshot, n: int, request: RequestInfo = REQUEST) -> list[Backend]:
    """n picks, each request finishing before the next starts."""
    chosen = []
    for _ in range(n):
        backend, done = strategy.pick(snapshot, request)
        done()
        chosen.append(backend)
    return chosen


def test_every_algorithm_is_registered_by_its_config_name():
    assert set(STRATEGIES) == {"round-robin", "weighted-round-robin", "least-connections",
                               "ip-hash", "random-two-choices", "consistent-hash"}
    assert isinstance(create("least-connections"), LeastConnections)


# --- round-robin ------------------------------------------------------------------


def test_round_robin_is_exactly_even_and_in_order():
    a, b, c = make_backends(1, 5, 1)  # weights are ignored
    chosen = picks(RoundRobin(), Snapshot((a, b, c)), 300)
    assert chosen[:6] == [a, b, c, a, b, c]
    assert Counter(chosen) == {a: 100, b: 100, c: 100}


def test_round_robin_skips_a_backend_missing_from_the_snapshot():
    a, b, c = make_backends(1, 1, 1)
    strategy = RoundRobin()
    picks(strategy, Snapshot((a, b, c)), 2)
    assert set(picks(strategy, Snapshot((a, c)), 10)) == {a, c}


# --- smooth weighted round-robin -------------------------------------------------------


def test_weighted_round_robin_interleaves_like_nginx():
    a, b, c = make_backends(5, 1, 1)
    chosen = picks(SmoothWeightedRoundRobin(), Snapshot((a, b, c)), 14)
    names = {a: "a", b: "b", c: "c"}
    assert "".join(names[x] for x in chosen) == "aabacaa" * 2


def test_weighted_round_robin_shares_follow_the_weights_exactly():
    a, b, c = make_backends(3, 2, 1)
    assert Counter(picks(SmoothWeightedRoundRobin(), Snapshot((a, b, c)), 600)) == {a: 300, b: 200, c: 100}


def test_weighted_round_robin_never_sends_two_in_a_row_to_equal_weights():
    a, b = make_backends(2, 2)
    chosen = picks(SmoothWeightedRoundRobin(), Snapshot((a, b)), 20)
    assert all(x is not y for x, y in zip(chosen, chosen[1:]))


# --- least-connections ------------------------------------------------------------


def test_least_connections_prefers_the_server_with_fewer_requests_in_flight():
    a, b = make_backends(1, 1)
    strategy, snapshot = LeastConnections(), Snapshot((a, b))
    first, _ = strategy.pick(snapshot, REQUEST)          # stays in flight (a slow request)
    others = [strategy.pick(snapshot, REQUEST)[0] for _ in range(3)]
    assert first is a and others[0] is b
    assert Counter([first] + others) == {a: 2, b: 2}


def test_least_connections_done_makes_the_server_idle_again():
    a, b = make_backends(1, 1)
    strategy, snapshot = LeastConnections(), Snapshot((a, b))
    slow, _ = strategy.pick(snapshot, REQUEST)
    fast, done = strategy.pick(snapshot, REQUEST)
    done()
    assert slow is not fast
    assert strategy.pick(snapshot, REQUEST)[0] is fast


def test_least_connections_counts_in_flight_requests_per_unit_of_weight():
    a, b = make_backends(3, 1)
    strategy, snapshot = LeastConnections(), Snapshot((a, b))
    held = [strategy.pick(snapshot, REQUEST)[0] for _ in range(8)]  # none finishes
    assert Counter(held) == {a: 6, b: 2}


def test_least_connections_spreads_sequential_requests_evenly():
    a, b, c = make_backends(1, 1, 1)
    assert Counter(picks(LeastConnections(), Snapshot((a, b, c)), 30)) == {a: 10, b: 10, c: 10}


# --- random two choices -----------------------------------------------------------


def test_two_choices_takes_the_less_loaded_of_the_pair():
    a, b = make_backends(1, 1)
    strategy, snapshot = RandomTwoChoices(random.Random(7)), Snapshot((a, b))
    busy, _ = strategy.pick(snapshot, REQUEST)
    assert busy not in picks(strategy, snapshot, 10)


def test_two_choices_keeps_in_flight_counts_close():
    servers = make_backends(1, 1, 1, 1, 1)
    strategy = RandomTwoChoices(random.Random(42))
    held = Counter(strategy.pick(Snapshot(tuple(servers)), REQUEST)[0] for _ in range(500))
    assert max(held.values()) - min(held.values()) <= 3


def test_two_choices_with_one_server_returns_it():
    (only,) = make_backends(1)
    assert RandomTwoChoices().pick(Snapshot((only,)), REQUEST)[0] is only


# --- ip-hash ----------------------------------------------------------------------


CLIENTS = [RequestInfo(f"192.168.{i // 250}.{i % 250}") for i in range(1000)]


def test_ip_hash_sends_a_client_to_the_same_server_every_time():
    snapshot = Snapshot(tuple(make_backends(1, 1, 1)))
    for client in CLIENTS[:50]:
        assert len(set(picks(IPHash(), snapshot, 5, client))) == 1


def test_ip_hash_spreads_clients_across_servers():
    servers = make_backends(1, 1, 1, 1)
    counts = Counter(IPHash().pick(Snapshot(tuple(servers)), client)[0] for client in CLIENTS)
    assert all(200 <= counts[server] <= 300 for server in servers)


def test_ip_hash_gives_heavier_servers_more_clients():
    heavy, light = make_backends(3, 1)
    counts = Counter(IPHash().pick(Snapshot((heavy, light)), client)[0] for client in CLIENTS)
    assert 700 <= counts[heavy] <= 800


def test_ip_hash_moves_only_the_clients_of_a_server_that_goes_down():
    servers = make_backends(1, 1, 1, 1)
    strategy = IPHash()
    before = {c: strategy.pick(Snapshot(tuple(servers)), c)[0] for c in CLIENTS}
    gone = servers[2]
    after = {c: strategy.pick(Snapshot(tuple(servers)).excluding([gone]), c)[0] for c in CLIENTS}
    moved = {c for c in CLIENTS if before[c] is not after[c]}
    assert moved == {c for c in CLIENTS if before[c] is gone}
    # ...and they come back when it recovers.
    assert {c: strategy.pick(Snapshot(tuple(servers)), c)[0] for c in CLIENTS} == before


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_algorithm_only_picks_from_the_snapshot(name):
    a, b, c = make_backends(1, 2, 3)
    chosen = {create(name).pick(Snapshot((a, c)), client)[0] for client in CLIENTS[:100]}
    assert chosen <= {a, c}
