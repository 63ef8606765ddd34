"""maxmemory end to end: each policy over a real connection, read back through INFO.

Every test fills the server well past a small maxmemory and checks what Redis promises:
used_memory stays within the limit, the policy picks its victims (recently read keys
survive LRU, keys without a TTL survive the volatile policies), INFO counts them in
evicted_keys, and with noeviction writes get -OOM while reads keep working.
"""

from __future__ import annotations

import pytest
import redis

from common.clock import FakeClock
from redis_clone.server import RedisServer
from tests.conftest import make_config

LIMIT = 40_000  # bytes: ~600 short string keys (64 bytes each in the cost model)
POLICIES = ["allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru", "volatile-lfu",
            "volatile-random", "volatile-ttl"]


def limited(client, policy: str) -> None:
    client.config_set("maxmemory-policy", policy)
    client.config_set("maxmemory", LIMIT)


def memory_info(client) -> dict:
    return client.info("memory")


def fill(client, prefix: str, count: int, *, ttl: bool = False) -> None:
    pipe = client.pipeline(transaction=False)
    for i in range(count):
        pipe.set(f"{prefix}:{i}", "v" * 10, ex=1000 + i if ttl else None)
    pipe.execute()


@pytest.mark.parametrize("policy", POLICIES)
def test_filling_past_maxmemory_keeps_used_memory_within_it(client, policy):
    limited(client, policy)
    fill(client, "ttl", 1500, ttl=True)  # every key evictable under every policy
    info = memory_info(client)
    assert info["used_memory"] <= LIMIT
    assert info["maxmemory"] == LIMIT and info["maxmemory_policy"] == policy
    evicted = client.info("stats")["evicted_keys"]
    assert evicted > 0
    assert client.dbsize() == 1500 - evicted


@pytest.mark.parametrize("policy", ["volatile-lru", "volatile-lfu", "volatile-random",
                                    "volatile-ttl"])
def test_volatile_policies_spare_keys_without_ttl(client, policy):
    limited(client, policy)
    fill(client, "keep", 200)
    fill(client, "ttl", 1500, ttl=True)
    assert all(client.exists(f"keep:{i}") for i in range(200))
    assert client.info("stats")["evicted_keys"] > 0


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def timed_client(clock):
    """redis-py talking to our server on a fake clock: LRU idle time has a resolution
    of one second, so the test moves time instead of waiting for it."""
    srv = RedisServer(make_config(), clock)
    srv.start()
    conn = redis.Redis(port=srv.port, socket_timeout=10)
    yield conn
    conn.close()
    srv.stop()


def test_allkeys_lru_hot_set_survives_a_cold_scan(timed_client, clock):
    client = timed_client
    limited(client, "allkeys-lru")
    fill(client, "hot", 100)
    for second in range(20):  # a scan of 2000 cold keys, 100 a second
        clock.advance(1)
        pipe = client.pipeline(transaction=False)
        for j in range(100):
            pipe.get(f"hot:{j}")  # the hot set is read every second...
        for i in range(100):
            pipe.set(f"cold:{second}:{i}", "v" * 10)  # ... each cold key written once
        pipe.execute()
    survivors = sum(client.exists(f"hot:{i}") for i in range(100))
    assert survivors >= 95
    assert client.info("stats")["evicted_keys"] >= 1000


def test_noeviction_refuses_writes_but_serves_reads(client):
    client.set("before", "still here")
    limited(client, "noeviction")
    pipe = client.pipeline(transaction=False)
    for i in range(2000):
        pipe.set(f"k:{i}", "v" * 10)
    replies = pipe.execute(raise_on_error=False)
    refused = [reply for reply in replies if isinstance(reply, redis.exceptions.ResponseError)]
    assert refused and len(refused) + client.dbsize() - 1 == 2000
    assert str(refused[0]) == "command not allowed when used memory > 'maxmemory'."
    assert client.get("before") == b"still here"
    assert client.info("stats")["evicted_keys"] == 0
    client.delete("before", *[f"k:{i}" for i in range(2000)])  # DEL is not DENYOOM
    assert client.set("after", "fits again")


def test_volatile_policy_with_no_ttl_keys_answers_oom(client):
    limited(client, "volatile-lru")
    with pytest.raises(redis.exceptions.ResponseError, match="OOM|maxmemory"):
        fill(client, "k", 2000)


def test_evicted_keys_resets_with_config_resetstat(client):
    limited(client, "allkeys-random")
    fill(client, "k", 1500)
    assert client.info("stats")["evicted_keys"] > 0
    client.config_resetstat()
    assert client.info("stats")["evicted_keys"] == 0
