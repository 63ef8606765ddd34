"""Many clients at once: 200 concurrent connections run a mixed workload for a few
seconds; nothing fails, and afterwards the connection count and the server's threads
are back where they started."""

from __future__ import annotations

import random
import threading
import time

import psutil
import pytest

redis = pytest.importorskip("redis")

CLIENTS = 200
SECONDS = 3.0
DEADLINE = 15.0


def workload(port: int, number: int, stop: threading.Event, errors: list, ready: threading.Barrier) -> None:
    rng = random.Random(number)
    conn = redis.Redis(port=port, socket_timeout=20)
    try:
        conn.ping()
        ready.wait()
        while not stop.is_set():
            key = f"key:{rng.randrange(500)}"
            action = rng.randrange(8)
            if action == 0:
                conn.set(key, number)
            elif action == 1:
                conn.get(key)
            elif action == 2:
                conn.incr(f"counter:{number % 10}")
            elif action == 3:
                conn.lpush(f"list:{number % 20}", number)
                conn.ltrim(f"list:{number % 20}", 0, 50)
            elif action == 4:
                conn.hset(f"hash:{number % 20}", key, number)
            elif action == 5:
                conn.publish("chatter", key)
            elif action == 6:
                pipe = conn.pipeline(transaction=True)
                pipe.set(key, "x").expire(key, 5).get(key)
                assert pipe.execute()[2] == b"x"
            else:
                conn.client_list()
    except Exception as err:  # collected and reported by the test
        errors.append(f"client {number}: {err!r}")
        ready.abort()
    finally:
        conn.close()


def test_200_concurrent_clients_mixed_workload_without_errors_or_leaks(server, client):
    process = psutil.Process()
    client.ping()
    baseline_clients = client.info("clients")["connected_clients"]
    baseline_threads = process.num_threads()
    listener_pool = redis.Redis(port=server.port, socket_timeout=20)  # its own pool, closed below
    listener = listener_pool.pubsub()
    listener.subscribe("chatter")
    stop, errors = threading.Event(), []
    ready = threading.Barrier(CLIENTS + 1)
    threads = [threading.Thread(target=workload, args=(server.port, n, stop, errors, ready))
               for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    ready.wait(timeout=DEADLINE)
    assert client.info("clients")["connected_clients"] >= CLIENTS
    time.sleep(SECONDS)  # the load itself runs for a fixed time, not a wait for an event
    stop.set()
    for thread in threads:
        thread.join(DEADLINE)
    listener.close()
    listener_pool.close()
    assert not errors, errors[:5]
    assert client.info("stats")["total_commands_processed"] > CLIENTS

    end = time.monotonic() + DEADLINE
    while (client.info("clients")["connected_clients"] != baseline_clients
           or process.num_threads() > baseline_threads):
        assert time.monotonic() < end, (client.info("clients")["connected_clients"], baseline_clients,
                                        process.num_threads(), baseline_threads)
        time.sleep(0.05)
