"""Pub/Sub end to end: redis-py's PubSub, patterns, RESP2 subscribed mode, RESP3 push
frames, and a slow subscriber cut off at its output buffer limit."""

from __future__ import annotations

import socket
import time

import pytest

from common.resp import Push
from tests.conftest import RawConnection
from tests.integration.helpers import wait_until

redis = pytest.importorskip("redis")

DEADLINE = 10.0



@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def pubsub_pair(server, request):
    publisher = redis.Redis(port=server.port, protocol=request.param, socket_timeout=10)
    subscriber = publisher.pubsub()
    yield publisher, subscriber
    subscriber.close()
    publisher.close()


def next_message(pubsub):
    return wait_until(lambda: pubsub.get_message(timeout=0.1))


def test_subscriber_receives_what_is_published_to_its_channel(pubsub_pair):
    publisher, subscriber = pubsub_pair
    subscriber.subscribe("news")
    assert next_message(subscriber) == {"type": "subscribe", "pattern": None, "channel": b"news", "data": 1}
    assert publisher.publish("news", "hello") == 1
    assert next_message(subscriber) == {"type": "message", "pattern": None, "channel": b"news",
                                        "data": b"hello"}
    assert publisher.publish("other", "nobody") == 0


def test_pattern_subscriber_gets_pmessage_and_channel_subscriber_message(pubsub_pair):
    publisher, subscriber = pubsub_pair
    subscriber.subscribe("news.tech")
    subscriber.psubscribe("news.*")
    next_message(subscriber), next_message(subscriber)
    assert publisher.publish("news.tech", "x") == 2  # one client, two deliveries
    assert next_message(subscriber)["type"] == "message"
    assert next_message(subscriber) == {"type": "pmessage", "pattern": b"news.*",
                                        "channel": b"news.tech", "data": b"x"}
    assert publisher.publish("news.sport", "y") == 1


def test_pubsub_introspection_counts_channels_subscribers_and_patterns(pubsub_pair):
    publisher, subscriber = pubsub_pair
    subscriber.subscribe("a", "b")
    subscriber.psubscribe("p*", "q*")
    for _ in range(4):
        next_message(subscriber)
    assert sorted(publisher.pubsub_channels()) == [b"a", b"b"]
    assert publisher.pubsub_channels("a*") == [b"a"]
    assert publisher.pubsub_numsub("a", "zzz") == [(b"a", 1), (b"zzz", 0)]
    assert publisher.pubsub_numpat() == 2
    subscriber.unsubscribe("a")
    subscriber.punsubscribe()
    for _ in range(3):
        next_message(subscriber)
    assert publisher.pubsub_channels() == [b"b"]
    assert publisher.pubsub_numpat() == 0


def test_subscribe_replies_once_per_channel_with_running_count(raw):
    conn = raw()
    conn.send(b"SUBSCRIBE a b a\r\n")
    assert [conn.read() for _ in range(3)] == [[b"subscribe", b"a", 1], [b"subscribe", b"b", 2],
                                               [b"subscribe", b"a", 2]]
    assert conn.command("UNSUBSCRIBE", "nope") == [b"unsubscribe", b"nope", 2]


def test_unsubscribe_with_nothing_subscribed_replies_with_null_channel(raw):
    conn = raw()
    assert conn.command("UNSUBSCRIBE") == [b"unsubscribe", None, 0]
    assert conn.command("PUNSUBSCRIBE") == [b"punsubscribe", None, 0]


def test_resp2_subscribed_mode_allows_only_pubsub_commands_ping_quit_reset(raw):
    conn = raw()
    conn.command("SUBSCRIBE", "a")
    assert conn.command("GET", "x") == (
        "ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET "
        "are allowed in this context")
    assert conn.command("CLIENT", "LIST").startswith("ERR Can't execute 'client|list'")
    assert conn.command("PING") == [b"pong", b""]  # PING in subscribed mode is an array
    assert conn.command("PING", "hi") == [b"pong", b"hi"]
    assert conn.command("RESET") == "RESET"
    assert conn.command("GET", "x") is None  # RESET left subscribed mode


def test_resp3_subscriber_gets_push_frames_and_may_run_any_command(server, raw):
    conn = raw()
    conn.command("HELLO", "3")
    assert conn.command("SUBSCRIBE", "ch") == Push([b"subscribe", b"ch", 1])
    assert conn.command("SET", "k", "v") == "OK"
    publisher = raw()
    assert publisher.command("PUBLISH", "ch", "msg") == 1
    frame = conn.read()
    assert type(frame) is Push and frame == [b"message", b"ch", b"msg"]


def test_disconnected_subscriber_is_forgotten(client, raw):
    conn = raw()
    conn.command("SUBSCRIBE", "gone")
    conn.command("PSUBSCRIBE", "g*")
    assert client.pubsub_numsub("gone") == [(b"gone", 1)]
    conn.close()
    wait_until(lambda: client.pubsub_numsub("gone") == [(b"gone", 0)] and client.pubsub_numpat() == 0)


def test_client_list_shows_subscriptions_and_pubsub_flag(client, raw):
    conn = raw()
    conn.command("SUBSCRIBE", "a")
    conn.command("PSUBSCRIBE", "b*")
    line = [c for c in client.client_list() if c["cmd"] == "psubscribe"][0]
    assert (line["flags"], line["sub"], line["psub"]) == ("P", "1", "1")
    assert [c["cmd"] for c in client.client_list(_type="pubsub")] == ["psubscribe"]


def test_slow_subscriber_is_disconnected_at_the_hard_output_limit(server, client):
    client.config_set("client-output-buffer-limit", "pubsub 262144 0 0")
    slow = socket.create_connection(("127.0.0.1", server.port))
    slow.sendall(b"SUBSCRIBE firehose\r\n")
    wait_until(lambda: client.pubsub_numsub("firehose") == [(b"firehose", 1)])
    message = b"x" * 65536
    started = time.monotonic()
    # The subscriber never reads: its kernel buffers fill, then its pending output
    # passes 256 KiB and the server drops it, without the publisher ever waiting.
    for _ in range(400):
        if client.publish("firehose", message) == 0:
            break
    assert client.pubsub_numsub("firehose") == [(b"firehose", 0)]
    assert time.monotonic() - started < DEADLINE
    slow.settimeout(DEADLINE)
    received = b""
    while chunk := slow.recv(65536):  # what the kernel held, then EOF: it was cut off
        received += chunk
    assert len(received) < 400 * len(message)
    slow.close()
    info = client.info("clients")
    assert info["client_recent_max_output_buffer"] == 0  # its buffer went with it


def test_subscriber_over_soft_limit_for_its_seconds_is_disconnected_by_the_cron(server, client):
    client.config_set("client-output-buffer-limit", "pubsub 0 65536 0")
    slow = RawConnection(server.port)
    slow.send(b"SUBSCRIBE soft\r\n")
    wait_until(lambda: client.pubsub_numsub("soft") == [(b"soft", 1)])
    for _ in range(200):
        if client.publish("soft", b"y" * 65536) == 0:
            break
    wait_until(lambda: client.pubsub_numsub("soft") == [(b"soft", 0)])
    slow.close()
