"""Rate limiter configuration: limits, quick flags, TOML, and errors that name the field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from common.settings import ConfigError
from rate_limiter.__main__ import build_config, main, parse_args
from rate_limiter.algorithms import GCRA, LeakyBucket, Limit, TokenBucket
from rate_limiter.config import BreakerConfig, from_mapping, load, parse_limit

DOC = Path(__file__).resolve().parents[2] / "docs" / "rate-limiter.md"
UPSTREAM = {"upstream": "127.0.0.1:9001"}


def config_with(**policy):
    return from_mapping({**UPSTREAM, "policy": [{"name": "p", "limit": "10/second", **policy}]})


@pytest.mark.parametrize("text, rate, period", [
    ("10/second", 10, 1), ("5/minute", 5, 60), ("1000/hour", 1000, 3600), ("1/day", 1, 86400),
    ("100/10s", 100, 10), ("3/0.5s", 3, 0.5), (" 7 / minute ", 7, 60),
])
def test_limits_are_written_n_per_unit_or_n_per_seconds(text, rate, period):
    assert parse_limit(text, "limit") == Limit(rate, period)


@pytest.mark.parametrize("text", ["10/week", "0/second", "ten/second", "10/0s", "10", "10/s", "-1/second"])
def test_bad_limits_say_what_is_expected(text):
    with pytest.raises(ConfigError, match=r"^limit: "):
        parse_limit(text, "limit")


def test_the_quick_flags_from_the_issue_make_one_policy():
    args = parse_args("--listen 127.0.0.1:8090 --upstream 127.0.0.1:9001 --redis redis://127.0.0.1:6379 "
                      "--limit 10/second --burst 20 --algorithm token-bucket --key ip".split())
    config = build_config(args)
    assert (config.listen, config.upstream) == (("127.0.0.1", 8090), ("127.0.0.1", 9001))
    assert config.rate_limit.store == "redis://127.0.0.1:6379"
    [policy] = config.rate_limit.policies.policies
    assert (policy.name, policy.key) == ("default", ("ip",))
    assert isinstance(policy.algorithm, TokenBucket)
    assert policy.algorithm.limit == Limit(10, 1.0, 20)


def test_without_redis_the_store_is_in_memory():
    config = build_config(parse_args(["--upstream", "127.0.0.1:9001", "--limit", "5/minute"]))
    assert config.rate_limit.store == "memory://"


def test_repeated_key_flags_combine():
    args = parse_args(["--upstream", "h:1", "--limit", "1/second", "--key", "ip", "--key", "endpoint"])
    assert build_config(args).rate_limit.policies.policies[0].key == ("ip", "endpoint")


def test_flags_replace_the_files_policies(tmp_path):
    path = tmp_path / "limits.toml"
    path.write_text('upstream = "127.0.0.1:9001"\n[[policy]]\nname = "file"\nlimit = "1/second"\n')
    args = parse_args(["--config", str(path), "--limit", "2/second", "--algorithm", "gcra"])
    [policy] = build_config(args).rate_limit.policies.policies
    assert (policy.name, type(policy.algorithm)) == ("default", GCRA)


def test_a_full_toml_file(tmp_path):
    path = tmp_path / "limits.toml"
    path.write_text('''
listen = "0.0.0.0:8090"
upstream = "127.0.0.1:9001"
admin = "127.0.0.1:9090"
store = "redis://:pw@127.0.0.1:6379/2"
trusted_proxies = ["10.0.0.0/8", "127.0.0.1"]

[breaker]
timeout = 0.05
failure_threshold = 2
reset_timeout = 1

[tiers]
header = "X-API-Key"
default = "free"
keys = { "k-1" = "pro" }

[[policy]]
name = "per-client"
key = ["header:X-API-Key", "ip"]
limit = "10/second"
burst = 20
on_store_error = "local"
tiers = { pro = { limit = "100/second", burst = 200 }, free = "5/second" }
costs = { "POST /search" = 5 }

[[policy]]
name = "uploads"
match = "POST /upload"
algorithm = "leaky-bucket"
mode = "queue"
delay = 2
limit = "2/second"
burst = 10
''')
    config = load(str(path)).rate_limit
    assert config.admin == ("127.0.0.1", 9090)
    assert config.breaker == BreakerConfig(0.05, 2, 1.0)
    assert [str(n) for n in config.policies.trusted_proxies] == ["10.0.0.0/8", "127.0.0.1/32"]
    per_client, uploads = config.policies.policies
    assert per_client.tier_limits["pro"].limit == Limit(100, 1.0, 200)
    assert per_client.tier_limits["free"].limit == Limit(5, 1.0)
    assert isinstance(uploads.algorithm, LeakyBucket)
    assert (uploads.algorithm.mode, uploads.algorithm.delay_after) == ("queue", 2)
    assert uploads.route.methods == {"POST"}


def test_dry_run_makes_every_policy_shadow():
    config = from_mapping({**UPSTREAM, "dry_run": True, "policy": [{"name": "p", "limit": "1/second"}]})
    assert config.rate_limit.policies.policies[0].shadow


@pytest.mark.parametrize("policy, message", [
    ({"limit": "10/week"}, "policy[1].limit: expected N/second|minute|hour|day or N/<seconds>s"),
    ({"algorithm": "leaky"}, "policy[1].algorithm: expected one of token-bucket"),
    ({"algorithm": "fixed-window", "burst": 5}, "policy[1].burst: fixed-window has no burst"),
    ({"key": "cookie"}, "policy[1].key: unknown key 'cookie'"),
    ({"key": 7}, "policy[1].key: expected a string or an array of strings"),
    ({"match": "login"}, "policy[1].match: a path must start with '/'"),
    ({"cost": 11}, "policy[1].cost: a cost of 11 can never fit in a quota of 10"),
    ({"costs": {"/x": 0}}, "policy[1].costs./x: expected a cost of at least 1"),
    ({"tiers": {"gold": "1/second"}}, "policy[1].tiers.gold: unknown tier"),
    ({"tiers": {"default": "1/fortnight"}}, "policy[1].tiers.default.limit: expected N/second"),
    ({"on_store_error": "retry"}, "policy[1].on_store_error: expected one of allow, deny, local"),
    ({"mode": "queue"}, "policy[1].mode: unknown setting"),  # mode is leaky-bucket's
    ({"name": "a b"}, "policy[1].name: expected letters, digits"),
    ({"limt": "1/second"}, "policy[1].limt: unknown setting"),
])
def test_each_bad_policy_setting_is_named(policy, message):
    with pytest.raises(ConfigError, match="^" + re.escape(message)):
        config_with(**policy)


@pytest.mark.parametrize("raw, message", [
    ({}, "upstream: required"),
    ({**UPSTREAM}, "policy: at least one [[policy]] is required"),
    ({**UPSTREAM, "store": "mysql://x"}, "store: unknown store"),
    ({**UPSTREAM, "store": "redis://h/zero"}, "store: the path of"),
    ({**UPSTREAM, "trusted_proxies": ["10.0.0.0/33"]}, "trusted_proxies: expected an address or network"),
    ({**UPSTREAM, "breaker": {"timeout": 0}}, "breaker.timeout: expected a positive number"),
    ({**UPSTREAM, "policy": [{"name": "a", "limit": "1/second"}, {"name": "a", "limit": "1/second"}]},
     "policy[2].name: 'a' is used twice"),
])
def test_each_bad_top_level_setting_is_named(raw, message):
    with pytest.raises(ConfigError, match="^" + re.escape(message)):
        from_mapping(raw)


def test_a_bad_config_prints_one_line_and_exits_2(capsys):
    assert main(["--upstream", "127.0.0.1:9001", "--limit", "10/week"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("rate_limiter: config error: policy[1].limit: expected N/second")


def test_policy_flags_without_a_limit_are_an_error(capsys):
    assert main(["--upstream", "127.0.0.1:9001", "--burst", "5"]) == 2
    assert "--burst: needs --limit" in capsys.readouterr().err


def test_the_documented_example_is_valid(tmp_path):
    example = re.search(r"```toml\n(.*?)```", DOC.read_text(), re.S).group(1)
    path = tmp_path / "limits.toml"
    path.write_text(example)
    assert load(str(path)).rate_limit.policies.policies


def test_the_load_balancer_reads_a_rate_limit_section_with_the_same_rules():
    from load_balancer.config import from_mapping as balancer_config

    raw = {"backend": [{"address": "127.0.0.1:9001"}],
           "rate_limit": {"store": "memory://", "policy": [{"name": "p", "limit": "5/second"}]}}
    [policy] = balancer_config(raw).rate_limit.policies.policies
    assert policy.algorithm.limit == Limit(5, 1.0)
    assert balancer_config({"backend": raw["backend"]}).rate_limit is None
    with pytest.raises(ConfigError, match=re.escape("rate_limit.policy[1].limit: expected N/second")):
        balancer_config({**raw, "rate_limit": {"policy": [{"name": "p", "limit": "5/week"}]}})
    with pytest.raises(ConfigError, match=re.escape("rate_limit.stor: unknown setting")):
        balancer_config({**raw, "rate_limit": {**raw["rate_limit"], "stor": "x"}})


def test_store_timeout_flag_sets_the_breaker_timeout_and_keeps_its_other_settings(tmp_path):
    path = tmp_path / "limits.toml"
    path.write_text('upstream = "127.0.0.1:9001"\n[breaker]\nfailure_threshold = 7\n'
                    '[[policy]]\nname = "p"\nlimit = "5/second"\n')
    config = build_config(parse_args(["--config", str(path), "--store-timeout", "2.5"]))
    assert config.rate_limit.breaker.timeout == 2.5
    assert config.rate_limit.breaker.failure_threshold == 7
