"""Load balancer configuration: TOML and flags into one validated Config."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from load_balancer.__main__ import build_config, parse_args
from load_balancer.config import (BackendConfig, Config, ConfigError, HealthConfig, StickyConfig,
                                  Timeouts, from_mapping, load, parse_backend_flag)

DOC = Path(__file__).resolve().parents[2] / "docs" / "load-balancer.md"
ONE_BACKEND = {"backend": [{"address": "127.0.0.1:9001"}]}


def test_the_documented_example_is_valid_and_shows_the_defaults(tmp_path):
    example = re.search(r"## Configuration.*?```toml\n(.*?)```", DOC.read_text(), re.S).group(1)
    path = tmp_path / "lb.toml"
    path.write_text(example)
    config = load(str(path))
    pool = config.pool("default")
    assert pool.backends == (BackendConfig("127.0.0.1", 9001),)
    assert config.timeouts == Timeouts()
    assert pool.health == HealthConfig(path="/health")
    assert (pool.algorithm, config.retries, config.pool_size) == ("round-robin", 2, 32)


@pytest.mark.parametrize("example", re.findall(r"```toml\n(.*?)```", DOC.read_text(), re.S))
def test_every_toml_example_in_the_docs_is_valid(example):
    from_mapping(tomllib.loads(example))


def test_flags_override_one_setting_of_a_table_and_keep_the_rest(tmp_path):
    path = tmp_path / "lb.toml"
    path.write_text('[[backend]]\naddress = "127.0.0.1:9001"\n[health]\npath = "/up"\nfall = 5\n')
    flags = ["127.0.0.1:9002,weight=3", "127.0.0.1:9003,backup"]
    config = load(str(path), {"health": {"interval": 0.5},
                              "backend": [parse_backend_flag(flag) for flag in flags]})
    health = config.pool("default").health
    assert (health.path, health.fall, health.interval) == ("/up", 5, 0.5)
    assert config.pool("default").backends == (BackendConfig("127.0.0.1", 9002, weight=3),
                                               BackendConfig("127.0.0.1", 9003, backup=True))


def test_ipv6_addresses_are_written_in_brackets():
    config = from_mapping({"listen": "[::1]:0", "backend": [{"address": "[::1]:9001"}]})
    [backend] = config.pool("default").backends
    assert (config.listen_host, backend.host, backend.address) == ("::1", "::1", "[::1]:9001")


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
    # pools and routes
    ({"pool": [{"name": "api", "backend": [{"address": "h:1"}]}]},
     "default_pool: required when there are no top-level [[backend]]s; name one of the pools: api"),
    ({**ONE_BACKEND, "default_pool": "api"}, "default_pool: no pool is named 'api' (pools: default)"),
    ({"algorithm": "ip-hash", "pool": [{"name": "api", "backend": [{"address": "h:1"}]}]},
     "algorithm: set for the top-level pool, which has no [[backend]]"),
    ({**ONE_BACKEND, "pool": [{"name": "default", "backend": [{"address": "h:2"}]}]},
     "pool[1].name: 'default' is used twice (the top-level [[backend]]s are the pool 'default')"),
    ({**ONE_BACKEND, "pool": [{"name": "a b", "backend": [{"address": "h:2"}]}]}, "pool[1].name: expected letters"),
    ({**ONE_BACKEND, "pool": [{"name": "api", "backend": [{"address": "h:2", "weight": 0}]}]},
     "pool[1].backend[1].weight: must be at least 1, got 0"),
    ({**ONE_BACKEND, "pool": [{"name": "api"}]}, "pool[1].backend: at least one backend is required"),
    # the advanced settings of a pool
    ({**ONE_BACKEND, "hash_key": "uri"}, 'hash_key: only algorithm = "consistent-hash" hashes a key'),
    ({**ONE_BACKEND, "algorithm": "consistent-hash", "hash_key": "host"}, "hash_key: expected one of ip, uri"),
    ({**ONE_BACKEND, "mode": "tcp", "algorithm": "consistent-hash", "hash_key": "uri"},
     'hash_key: mode = "tcp" sees no HTTP request, so only ip can be hashed'),
    ({**ONE_BACKEND, "slow_start": 30}, "slow_start: round-robin ignores weights"),
    ({**ONE_BACKEND, "algorithm": "least-connections", "slow_start": -1}, "slow_start: expected a positive"),
    ({**ONE_BACKEND, "sticky": {"mode": "session"}}, "sticky.mode: expected one of cookie, source-ip"),
    ({**ONE_BACKEND, "sticky": {}}, "sticky.mode: required"),
    ({**ONE_BACKEND, "sticky": {"mode": "cookie", "cookie": "a=b"}}, "sticky.cookie: expected a cookie name"),
    ({**ONE_BACKEND, "mode": "tcp", "sticky": {"mode": "cookie"}}, 'sticky.mode: mode = "tcp" has no cookies'),
    ({**ONE_BACKEND, "health": {"check": "ping"}}, "health.check: expected one of http, connect, redis"),
    ({**ONE_BACKEND, "health": {"check": "redis", "path": "/h"}}, "health.path: only http checks have a path"),
    ({**ONE_BACKEND, "mode": "udp"}, "mode: expected one of http, tcp"),
    ({**ONE_BACKEND, "admin": "8081"}, "admin: expected host:port"),
    ({**ONE_BACKEND, "trusted_proxies": ["10.0.0.0/33"]}, "trusted_proxies: expected an address or network"),
    ({**ONE_BACKEND, "cookie_secret": "short"}, "cookie_secret: at least 16 characters"),
    ({**ONE_BACKEND, "alerts": {"webhook": "ftp://x/"}}, "alerts.webhook: expected an http:// or https:// URL"),
    ({**ONE_BACKEND, "alerts": {"flap_changes": 1}}, "alerts.flap_changes: must be at least 2"),
    ({**ONE_BACKEND, "mode": "tcp", "rate_limit": {}}, 'rate_limit: limits count HTTP requests; it needs mode = "http"'),
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


def test_pools_routes_and_the_advanced_settings_are_read_whole():
    config = from_mapping({
        **ONE_BACKEND, "algorithm": "consistent-hash", "hash_key": "cookie:session",
        "sticky": {"mode": "source-ip", "timeout": 600}, "trusted_proxies": "10.0.0.0/8",
        "cookie_secret": "correct horse battery staple", "admin": "127.0.0.1:0",
        "alerts": {"command": "notify --team web", "webhook": "http://127.0.0.1:9/hook"},
        "pool": [{"name": "api", "algorithm": "least-connections", "slow_start": 30,
                  "backend": [{"address": "127.0.0.1:9101"}], "health": {"check": "connect"}}]})
    default, api = config.pools
    assert (default.name, default.algorithm, default.hash_key) == ("default", "consistent-hash", "cookie:session")
    assert default.sticky == StickyConfig("source-ip", timeout=600.0)
    assert (api.slow_start, api.health.check, api.health.active) == (30.0, "connect", True)
    assert config.alerts.command == ("notify", "--team", "web")  # a string is split like a shell does
    assert [str(network) for network in config.trusted_proxies] == ["10.0.0.0/8"]
    assert (config.admin, config.default_pool, config.mode) == (("127.0.0.1", 0), "default", "http")


def test_http_checks_without_a_path_leave_only_passive_checks():
    assert not from_mapping(ONE_BACKEND).pool("default").health.active


# --- the quick flags ----------------------------------------------------------------------------


def flags(*argv: str) -> Config:
    return build_config(parse_args(["--backend", "127.0.0.1:9001", *argv]))


def test_the_quick_flags_become_the_settings_they_stand_for():
    config = flags("--mode", "tcp", "--algorithm", "least-connections", "--sticky", "source-ip",
                   "--slow-start", "20", "--admin", "127.0.0.1:8081", "--health-check", "redis")
    pool = config.pool("default")
    assert (config.mode, config.admin) == ("tcp", ("127.0.0.1", 8081))
    assert (pool.algorithm, pool.sticky, pool.slow_start) == ("least-connections", StickyConfig("source-ip"), 20.0)
    assert (pool.health.check, pool.health.path) == ("redis", None)


def test_consistent_hash_takes_its_key_from_a_flag():
    pool = flags("--algorithm", "consistent-hash", "--hash-key", "header:X-User").pool("default")
    assert (pool.algorithm, pool.hash_key) == ("consistent-hash", "header:X-User")


def test_health_check_flag_takes_a_path_or_a_kind(tmp_path):
    path = tmp_path / "lb.toml"
    path.write_text('[[backend]]\naddress = "127.0.0.1:9001"\n[health]\npath = "/up"\n')
    health = build_config(parse_args(["--config", str(path), "--health-check", "connect"])).pool("default").health
    assert (health.check, health.path) == ("connect", None)  # the flag's kind replaces the file's path
    assert flags("--health-check", "/ready").pool("default").health.path == "/ready"
    with pytest.raises(ConfigError, match="--health-check: expected a path starting with '/', connect or redis"):
        flags("--health-check", "ping")
