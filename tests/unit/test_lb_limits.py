"""The balancer's resource limits as settings: defaults, TOML keys, flags, the slot counter.

Their behaviour on the wire (408, 431, 503, 504, 413) is tested end to end in
tests/integration/test_load_balancer_limits.py.
"""

from __future__ import annotations

import pytest

from common.http1 import REASONS, RequestParser
from load_balancer.__main__ import build_config, parse_args
from load_balancer.balancer import ConnectionSlots
from load_balancer.config import ConfigError, from_mapping

ONE_BACKEND = {"backend": [{"address": "127.0.0.1:9001"}]}


def flags(*argv: str):
    return build_config(parse_args(["--backend", "127.0.0.1:9001", *argv]))


def test_limits_default_to_a_ten_second_head_and_1024_connections_and_no_body_cap():
    config = from_mapping(ONE_BACKEND)
    assert config.timeouts.header == 10.0
    assert (config.max_connections, config.max_body_bytes, config.max_header_bytes) == (1024, None, 32768)


def test_limits_come_from_their_toml_keys():
    config = from_mapping({**ONE_BACKEND, "timeouts": {"header": 2.5},
                           "limits": {"max_connections": 7, "max_body_bytes": 100}})
    assert (config.timeouts.header, config.max_connections, config.max_body_bytes) == (2.5, 7, 100)


def test_zero_max_connections_means_no_cap():
    assert from_mapping({**ONE_BACKEND, "limits": {"max_connections": 0}}).max_connections is None


def test_limit_flags_become_the_settings_they_stand_for():
    config = flags("--header-timeout", "3", "--max-connections", "5", "--max-body-bytes", "64")
    assert (config.timeouts.header, config.max_connections, config.max_body_bytes) == (3.0, 5, 64)


@pytest.mark.parametrize("raw, message", [
    ({"timeouts": {"header": 0}}, "timeouts.header: expected a positive number of seconds"),
    ({"limits": {"max_connections": -1}}, "limits.max_connections"),
    ({"limits": {"max_body_bytes": "big"}}, "limits.max_body_bytes"),
])
def test_bad_limits_are_named(raw, message):
    with pytest.raises(ConfigError, match=message):
        from_mapping({**ONE_BACKEND, **raw})


def test_connection_slots_refuse_past_the_cap_and_count_refusals():
    slots = ConnectionSlots()
    assert slots.take(2) and slots.take(2)
    assert not slots.take(2)
    slots.give_back()
    assert slots.take(2)
    assert (slots.open, slots.refused) == (2, 1)


def test_connection_slots_without_a_cap_never_refuse():
    slots = ConnectionSlots()
    assert all(slots.take(None) for _ in range(5000))
    assert slots.refused == 0


def test_a_parser_reports_the_bytes_of_an_unfinished_head():
    parser = RequestParser()
    parser.feed(b"GET / HTTP/1.1\r\nHo")
    parser.next_event()
    assert parser.buffered == len(b"GET / HTTP/1.1\r\nHo")
    assert REASONS[408] == "Request Timeout"
