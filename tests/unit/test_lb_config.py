"""Load balancer configuration: TOML and flags into one validated Config."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from load_balancer.config import (BackendConfig, Config, ConfigError, HealthConfig, Timeouts,
                                  from_mapping, load, parse_backend_flag)

DOC = Path(__file__).resolve().parents[2] / "docs" / "load-balancer.md"
ONE_BACKEND = {"backend": [{"address": "127.0.0.1:9001"}]}


def test_the_documented_example_is_valid_and_shows_the_defaults(tmp_path):
    example = re.search(r"```toml\n(.*?)```", DOC.read_text(), re.S).group(1)
    path = tmp_path / "lb.toml"
    path.write_text(example)
    config = load(str(path))
    assert config.backends == (BackendConfig("127.0.0.1", 9001),)
    assert config.timeouts == Timeouts()
    assert config.health == HealthConfig(path="/health")
    assert (config.algorithm, config.retries, config.pool_size) == ("round-robin", 2, 32)


def test_flags_override_one_setting_of_a_table_and_keep_the_rest(tmp_path):
    path = tmp_path / "lb.toml"
    path.write_text('[[backend]]\naddress = "127.0.0.1:9001"\n[health]\npath = "/up"\nfall = 5\n')
    flags = ["127.0.0.1:9002,weight=3", "127.0.0.1:9003,backup"]
    config = load(str(path), {"health": {"interval": 0.5},
                              "backend": [parse_backend_flag(flag) for flag in flags]})
    assert (config.health.path, config.health.fall, config.health.interval) == ("/up", 5, 0.5)
    assert config.backends == (BackendConfig("127.0.0.1", 9002, weight=3),
                               BackendConfig("127.0.0.1", 9003, backup=True))


def test_ipv6_addresses_are_written_in_brackets():
    config = from_mapping({"listen": "[::1]:0", "backend": [{"address": "[::1]:9001"}]})
    assert (config.listen_host, config.backends[0].host) == ("::1", "::1")
    assert config.backends[0].address == "[::1]:9001"


def test_a_zero_max_body_means_unlimited():
    assert from_mapping(ONE_BACKEND).max_body_bytes is None
    assert from_mapping({**ONE_BACKEND, "limits": {"max_body_bytes": 10}}).max_body_bytes == 10


@pytest.mark.parametrize("raw, message", [
    ({}, "backend: at least one backend is required"),
    ({"backend": [{"address": "127.0.0.1:1", "backup": True}]},
     "backend: at least one backend must not be a backup"),
    ({"backend": [{"address": "127.0.0.1:1"}, {"address": "127.0.0.1:1"}]},
     "backend[2].address: 127.0.0.1:1 is listed twice"),
    ({"backend": [{"weight": 2}]}, "backend[1].address: required"),
    ({"backend": [{"address": "localhost"}]}, "backend[1].address: expected host:port, got 'localhost'"),
    ({"backend": [{"address": "h:0"}]}, "backend[1].address: port out of range"),
    ({"backend": [{"address": "h:1", "weight": "3"}]}, "backend[1].weight: expected an integer, got '3'"),
    ({"backend": [{"address": "h:1", "backup": "yes"}]}, "backend[1].backup: expected true or false"),
    ({**ONE_BACKEND, "algorithm": "fastest"}, "algorithm: expected one of round-robin"),
    ({**ONE_BACKEND, "health": {"interval": 0}}, "health.interval: expected a positive number of seconds"),
    ({**ONE_BACKEND, "health": {"path": "health"}}, "health.path: must start with '/'"),
    ({**ONE_BACKEND, "health": {"expect": "200-99"}}, "health.expect: expected a status or range"),
    ({**ONE_BACKEND, "health": {"rise": 0}}, "health.rise: must be at least 1, got 0"),
    ({**ONE_BACKEND, "timeouts": {"read": -1}}, "timeouts.read: expected a positive number"),
    ({**ONE_BACKEND, "timeouts": {"raed": 1}}, "timeouts.raed: unknown setting"),
    ({**ONE_BACKEND, "health": 3}, "health: expected a table"),
    ({**ONE_BACKEND, "listne": "x"}, "listne: unknown setting"),
])
def test_bad_settings_name_their_field(raw, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        from_mapping(raw)


@pytest.mark.parametrize("flag, message", [
    ("127.0.0.1:1,weight=x", "weight must be an integer"),
    ("127.0.0.1:1,heavy", "unknown option 'heavy'"),
])
def test_bad_backend_flags_are_named(flag, message):
    with pytest.raises(ConfigError, match=re.escape(f"--backend {flag}: {message}")):
        parse_backend_flag(flag)


def test_unreadable_or_invalid_files_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="config: cannot read"):
        load(str(tmp_path / "missing.toml"))
    bad = tmp_path / "bad.toml"
    bad.write_text("listen = \n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load(str(bad))


def test_config_is_frozen():
    config = from_mapping(ONE_BACKEND)
    assert isinstance(config, Config)
    with pytest.raises(AttributeError):
        config.retries = 5  # type: ignore[misc]
