"""RDB files cross between our server and real Redis 7.0, in both directions.

The same dataset (every type, small values in compact encodings and large ones in plain
encodings, LZF-worthy strings, keys with and without expiry, several databases) is
written through redis-py into one server, saved, and loaded by the other; then both are
read back with GET / LRANGE / HGETALL / SMEMBERS / ZRANGE WITHSCORES / PEXPIRETIME / PTTL
and must agree. `redis-check-rdb` must accept what we write. Real Redis loads our files
with `sanitize-dump-payload yes`, so it validates every listpack and intset deeply.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time

import pytest
import redis

from redis_clone.server import RedisServer
from tests.conftest import free_port, make_config

REDIS_SERVER = shutil.which("redis-server")
CHECK_RDB = shutil.which("redis-check-rdb")
pytestmark = pytest.mark.skipif(REDIS_SERVER is None,
                                reason="redis-server is not installed (apt-get install redis-server)")

DEADLINE = 15.0
EXPIRES_AT = int(time.time() * 1000) + 3_600_000  # an hour from now: PEXPIREAT, exactly comparable


def fill(client: redis.Redis) -> None:
    """The dataset, written through the ordinary API so either server can hold it."""
    rng = random.Random(5)
    db0 = client
    db0.mset({"str": "hello", "int": 12345, "int64": 9223372036854775807, "neg": -1,
              "lookalike": "007", "empty": "", "compressible": "abc" * 400,
              "binary": bytes(range(256)), "random": rng.randbytes(20000)})
    db0.rpush("list", "a", 1, -2, "x" * 100)
    db0.rpush("biglist", *(f"element-{i}" for i in range(10_000)))
    db0.rpush("hugeelement", "small", "y" * 20000, "small")
    db0.hset("hash", mapping={"f": "v", "n": 7})
    db0.hset("bighash", mapping={f"field-{i}": i for i in range(1000)})
    db0.hset("longvalue", mapping={"f": "z" * 100})
    db0.sadd("intset", 1, 2, 3, -70000, 4_000_000_000)
    db0.sadd("bigintset", *range(1000))
    db0.sadd("strset", "a", "b", "007")
    db0.zadd("zset", {"a": 1, "b": 2.5, "c": -3, "d": float("inf"), "e": 0.1})
    db0.zadd("bigzset", {f"member-{i}": i / 7 for i in range(500)})
    db0.zadd("longmember", {"m" * 100: 1})
    for key in ("str", "biglist", "hash", "bigintset", "zset", "bigzset"):
        db0.pexpireat(key, EXPIRES_AT)
    db0.set("ttl-only", "v", pxat=EXPIRES_AT)
    for db, count in ((1, 10), (15, 3)):
        db0.execute_command("SELECT", db)
        db0.mset({f"db{db}-key-{i}": i for i in range(count)})
        db0.pexpireat(f"db{db}-key-0", EXPIRES_AT)
        db0.rpush(f"db{db}-list", "x")
    db0.execute_command("SELECT", 0)


READERS = {
    b"string": lambda c, k: c.get(k),
    b"list": lambda c, k: c.lrange(k, 0, -1),
    b"hash": lambda c, k: c.hgetall(k),
    b"set": lambda c, k: c.smembers(k),
    b"zset": lambda c, k: c.zrange(k, 0, -1, withscores=True),
}


def contents(port: int) -> dict[tuple[int, bytes], tuple[bytes, object, int]]:
    """Every key of every database: (db, key) -> (type, value, PEXPIRETIME)."""
    found = {}
    for db in range(16):
        client = redis.Redis(port=port, db=db, socket_timeout=DEADLINE)
        for key in client.keys("*"):
            kind = client.type(key)
            found[(db, key)] = (kind, READERS[kind](client, key), client.pexpiretime(key))
            ttl = client.pttl(key)
            assert ttl == -1 if found[(db, key)][2] == -1 else 3_000_000 < ttl <= 3_600_000, key
        client.close()
    return found


def wait_listening(port: int, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + DEADLINE
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert proc is None or proc.poll() is None, "redis-server exited"
            assert time.monotonic() < deadline, "the server did not start listening"
            time.sleep(0.02)


@pytest.fixture
def real_redis(tmp_path):
    """Start real redis-server on a file in tmp_path: returns its port."""
    started: list[subprocess.Popen] = []

    def start(*extra: str) -> int:
        port = free_port()
        started.append(subprocess.Popen(
            [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(tmp_path), "--dbfilename", "dump.rdb", *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_listening(port, started[-1])
        return port

    yield start
    for proc in started:
        proc.kill()
        proc.wait()


@pytest.fixture
def ours(tmp_path):
    servers: list[RedisServer] = []

    def start(load: bool = False) -> int:
        servers.append(RedisServer(make_config(dir=str(tmp_path))))
        if load:
            servers[-1].state.persistence.load_at_startup()
        servers[-1].start()
        return servers[-1].port

    yield start
    for srv in servers:
        srv.stop()


def test_real_redis_loads_what_we_save(ours, real_redis, tmp_path):
    port = ours()
    client = redis.Redis(port=port, socket_timeout=DEADLINE)
    fill(client)
    expected = contents(port)
    assert client.save()
    if CHECK_RDB:
        check = subprocess.run([CHECK_RDB, str(tmp_path / "dump.rdb")], capture_output=True, text=True)
        assert check.returncode == 0 and "RDB looks OK" in check.stdout, check.stdout
    loaded = contents(real_redis("--sanitize-dump-payload", "yes"))
    assert loaded == expected
    assert len(loaded) == 37  # 22 keys in db 0, 11 in db 1, 4 in db 15


def test_we_load_what_real_redis_saves(ours, real_redis, tmp_path):
    # list-compress-depth 1 makes Redis store inner quicklist nodes LZF-compressed.
    port = real_redis("--list-compress-depth", "1")
    client = redis.Redis(port=port, socket_timeout=DEADLINE)
    fill(client)
    expected = contents(port)
    assert client.save()
    loaded = contents(ours(load=True))
    assert loaded == expected
    assert len(loaded) == 37  # 22 keys in db 0, 11 in db 1, 4 in db 15
