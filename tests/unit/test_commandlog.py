"""Per-command statistics, SLOWLOG, MONITOR lines and pub/sub delivery, without sockets:
a ServerState with a fake clock, commands run through the dispatcher."""

from __future__ import annotations

from common.clock import FakeClock
from common.resp import Push, encode
from redis_clone.commandlog import quote
from redis_clone.registry import execute
from redis_clone.state import CommandContext, ServerState


class RecordingOutput:
    """Stands in for a connection's ClientOutput: keeps what other threads pushed."""

    def __init__(self) -> None:
        self.pushed: list[bytes] = []
        self.shared = False

    def push(self, data: bytes, hard_limit: int) -> None:
        self.pushed.append(data)


def connect(state: ServerState, addr: str = "127.0.0.1:5000") -> CommandContext:
    client = state.clients.register(addr=addr, output=RecordingOutput())
    return CommandContext(state, client)


def make_state() -> ServerState:
    return ServerState(clock=FakeClock())


def test_quote_escapes_like_sdscatrepr():
    assert quote(b'a"b\\c\r\n\t\x07\x08\x00\xff z') == r'"a\"b\\c\r\n\t\a\b\x00\xff z"'


def test_commandstats_count_calls_and_failures():
    state = make_state()
    ctx = connect(state)
    execute(ctx, [b"SET", b"k", b"v"])
    execute(ctx, [b"LPUSH", b"k", b"x"])
    execute(ctx, [b"SET", b"k"])
    assert state.commandlog.commands["set"].calls == 1
    assert state.commandlog.commands["set"].rejected_calls == 1
    assert state.commandlog.commands["lpush"].failed_calls == 1
    assert state.commandlog.errors == {"WRONGTYPE": 1, "ERR": 1}


def test_slowlog_threshold_follows_config_set_at_once():
    state = make_state()
    ctx = connect(state)
    execute(ctx, [b"CONFIG", b"SET", b"slowlog-log-slower-than", b"0"])
    execute(ctx, [b"PING"])
    assert [entry[3] for entry in state.commandlog.slowlog_get(-1)] == [
        [b"PING"], [b"CONFIG", b"SET", b"slowlog-log-slower-than", b"0"]]
    execute(ctx, [b"CONFIG", b"SET", b"slowlog-log-slower-than", b"-1"])
    execute(ctx, [b"PING"])
    assert len(state.commandlog.slowlog) == 2


def test_monitor_line_has_time_db_address_and_quoted_arguments():
    state = make_state()
    watcher, worker = connect(state, "127.0.0.1:1"), connect(state, "127.0.0.1:2")
    execute(watcher, [b"MONITOR"])
    execute(worker, [b"SELECT", b"3"])
    execute(worker, [b"SET", b"k", b"a b"])
    execute(worker, [b"CONFIG", b"GET", b"hz"])  # admin commands are not shown
    assert watcher.client.output.pushed == [
        b'+1700000000.000000 [3 127.0.0.1:2] "SELECT" "3"\r\n',
        b'+1700000000.000000 [3 127.0.0.1:2] "SET" "k" "a b"\r\n',
    ]


def test_publish_encodes_once_per_protocol_and_counts_deliveries():
    state = make_state()
    resp2, resp3, pattern = connect(state), connect(state), connect(state)
    resp3.client.protocol = 3
    execute(resp2, [b"SUBSCRIBE", b"news"])
    execute(resp3, [b"SUBSCRIBE", b"news"])
    execute(pattern, [b"PSUBSCRIBE", b"n*"])
    assert execute(connect(state), [b"PUBLISH", b"news", b"hi"]) == 3
    assert resp2.client.output.pushed == [encode(Push([b"message", b"news", b"hi"]), 2)]
    assert resp3.client.output.pushed == [b">3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n"]
    assert pattern.client.output.pushed == [encode(Push([b"pmessage", b"n*", b"news", b"hi"]), 2)]
    state.pubsub.forget(resp2.client)
    assert state.pubsub.subscriber_count(b"news") == 1
