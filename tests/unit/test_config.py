"""The configuration table, without sockets: parsing, validation, CONFIG GET/SET rules,
redis.conf loading and CONFIG REWRITE. Expected texts and values are Redis 7.0.15's."""

from __future__ import annotations

import os

import pytest

from redis_clone import errors
from redis_clone.config import Config, ConfigError, UnknownParameter, format_memory, memtoull


@pytest.fixture
def config():
    return Config()


def refusal(config: Config, *pairs: str, **options) -> tuple[str, str]:
    """The (name, reason) CONFIG SET would report for name value [name value ...]."""
    with pytest.raises(ConfigError) as caught:
        config.set_many(list(zip(pairs[0::2], pairs[1::2])), **options)
    return caught.value.name, caught.value.reason


# --- the table --------------------------------------------------------------------

def test_config_get_star_lists_the_192_names_of_redis_7_0(config):
    names = config.names()
    assert len(names) == len(set(names)) == 192
    assert {"maxmemory", "slave-read-only", "replica-read-only", "tls-port", "save"} <= set(names)


def test_hidden_parameters_are_not_listed_but_can_be_read_by_exact_name(config):
    assert "key-load-delay" not in config.names()
    assert config.matching(["key-*"]) == {}
    assert config.matching(["key-load-delay"]) == {"key-load-delay": "0"}


def test_defaults_are_printed_as_redis_prints_them(config):
    assert config.matching(["maxmemory", "proto-max-bulk-len", "client-output-buffer-limit",
                            "oom-score-adj-values", "unixsocketperm", "latency-tracking-info-percentiles"]) == {
        "maxmemory": "0",
        "proto-max-bulk-len": "536870912",
        "client-output-buffer-limit": "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        "oom-score-adj-values": "0 200 800",
        "unixsocketperm": "0",
        "latency-tracking-info-percentiles": "50 99 99.9",
    }


def test_dir_defaults_to_the_working_directory(config):
    assert config.get("dir") == os.getcwd()


# --- CONFIG GET ------------------------------------------------------------------

def test_config_get_matches_globs_case_insensitively(config):
    assert config.matching(["MAXMEMORY-P*"]) == {"maxmemory-policy": "noeviction"}


def test_config_get_keeps_the_spelling_of_an_exact_name_and_reports_it_once(config):
    assert config.matching(["HZ", "hz", "h?"]) == {"HZ": "10"}


def test_an_alias_is_a_name_of_its_own_with_the_same_value(config):
    config.set("replica-read-only", "no")
    assert config.matching(["slave-read-only", "replica-read-only"]) == {
        "slave-read-only": "no", "replica-read-only": "no"}


def test_config_get_of_an_unknown_name_finds_nothing(config):
    assert config.matching(["nosuch", "nosuch*"]) == {}


# --- values ----------------------------------------------------------------------

@pytest.mark.parametrize("name,value,stored", [
    ("appendonly", "YES", "yes"),
    ("loglevel", "WARNING", "warning"),
    ("oom-score-adj", "relative", "yes"),  # a synonym reads back as the first name
    ("maxmemory", "1gb", "1073741824"),
    ("maxmemory", "1G", "1000000000"),
    ("maxmemory", "kb", "0"),  # memtoull: no digits is 0
    ("maxmemory", "", "0"),
    ("maxmemory-clients", "10%", "10%"),
    ("hz", "1000", "500"),  # accepted, then kept within 1..500
    ("hz", "0", "1"),
    ("repl-backlog-size", "1", "16384"),
    ("notify-keyspace-events", "AKEn", "AKE"),
    ("notify-keyspace-events", "gK$", "g$K"),
    ("notify-keyspace-events", "g$lshzxetd", "A"),
    ("save", "100 10 200 20", "100 10 200 20"),
    ("save", "", ""),
    ("client-output-buffer-limit", "replica 1mb 2mb 10",
     "normal 0 0 0 slave 1048576 2097152 10 pubsub 33554432 8388608 60"),
    ("latency-tracking-info-percentiles", "50 99.50 100", "50 99.5 100"),
    ("shutdown-on-sigint", "force nosave now", "nosave now force"),
    ("shutdown-on-sigint", "default now", "now"),
    ("list-max-listpack-size", "-5", "-5"),
])
def test_values_are_stored_in_canonical_form(config, name, value, stored):
    config.set(name, value)
    assert config.get(name) == stored


@pytest.mark.parametrize("name,value,reason", [
    ("appendonly", "maybe", errors.CONFIG_YES_NO),
    ("hz", "abc", errors.CONFIG_NOT_INTEGER),
    ("hz", "+5", errors.CONFIG_NOT_INTEGER),
    ("hz", "05", errors.CONFIG_NOT_INTEGER),
    ("hz", "-1", "argument must be between 0 and 2147483647 inclusive"),
    ("maxclients", "-1", "argument must be between 1 and 4294967295 inclusive"),  # unsigned wrap
    ("hash-max-listpack-entries", "-1", "argument must be between 0 and 9223372036854775807 inclusive"),
    ("maxmemory", "-1", errors.CONFIG_NOT_MEMORY),
    ("maxmemory", " 1", errors.CONFIG_NOT_MEMORY),
    ("maxmemory", "1.5mb", errors.CONFIG_NOT_MEMORY),
    ("maxmemory-clients", "101%", "percentage argument must be less or equal to 100"),
    ("maxmemory-clients", "-5", errors.CONFIG_NOT_MEMORY_OR_PERCENT),
    ("loglevel", "nothing", "argument(s) must be one of the following: debug, verbose, notice, warning"),
    ("save", "0 10", errors.CONFIG_SAVE),
    ("save", "10", errors.CONFIG_SAVE),
    ("save", "10  5", errors.CONFIG_SAVE),
    ("client-output-buffer-limit", "master 1 2 3", errors.CONFIG_OBUF_CLASS),
    ("client-output-buffer-limit", "normal 1 2", errors.CONFIG_OBUF_ARGS),
    ("client-output-buffer-limit", "normal 1 2 -3", errors.CONFIG_OBUF_VALUE),
    ("oom-score-adj-values", "1 2", errors.CONFIG_WRONG_ARGS),
    ("oom-score-adj-values", "1 2 3000", errors.CONFIG_OOM_VALUES),
    ("notify-keyspace-events", "Z", errors.CONFIG_KEYSPACE_EVENTS),
    ("latency-tracking-info-percentiles", "101", errors.CONFIG_PERCENTILES_RANGE),
    ("latency-tracking-info-percentiles", "abc", errors.CONFIG_PERCENTILES),
    ("shutdown-on-sigint", "save nosave", errors.CONFIG_SHUTDOWN_SAVE_NOSAVE),
    ("proc-title-template", "{foo}", errors.CONFIG_PROC_TITLE),
    ("cluster-announce-hostname", "a_b", errors.CONFIG_HOSTNAME_CHARS),
    ("activedefrag", "yes", errors.CONFIG_NO_DEFRAG),
    ("tls-port", "6380", errors.CONFIG_NO_TLS),
])
def test_bad_values_are_refused_with_redis_reason(config, name, value, reason):
    before = config.get(name)
    assert refusal(config, name, value) == (name, reason)
    assert config.get(name) == before


def test_a_value_error_names_the_parameter_in_lowercase(config):
    assert refusal(config, "SLAVE-READ-ONLY", "maybe") == ("slave-read-only", errors.CONFIG_YES_NO)


# --- CONFIG SET rules --------------------------------------------------------------

def test_unknown_parameter_is_reported_as_typed(config):
    with pytest.raises(UnknownParameter) as caught:
        config.set_many([("hz", "5"), ("FOO", "bar")])
    assert caught.value.name == "FOO"


def test_immutable_and_protected_parameters_are_refused_at_run_time(config):
    assert refusal(config, "DATABASES", "1") == ("DATABASES", errors.CONFIG_IMMUTABLE)
    assert refusal(config, "dir", "/tmp") == ("dir", errors.CONFIG_PROTECTED)
    assert refusal(config, "dbfilename", "x.rdb") == ("dbfilename", errors.CONFIG_PROTECTED)


def test_protected_parameters_can_be_set_when_allowed(config, tmp_path):
    config.set_many([("dir", str(tmp_path)), ("dbfilename", "x.rdb")], allow_protected=True)
    assert config.get("dir") == str(tmp_path)
    assert refusal(config, "dbfilename", "a/b", allow_protected=True) == (
        "dbfilename", errors.CONFIG_DBFILENAME_PATH)


def test_dir_must_be_an_existing_directory(config, tmp_path):
    missing = str(tmp_path / "missing")
    assert refusal(config, "dir", missing, allow_protected=True) == ("dir", "No such file or directory")


def test_startup_may_set_immutable_parameters(config):
    config.set("databases", "4", startup=True)
    assert config.get_int("databases") == 4


def test_the_same_parameter_twice_is_a_duplicate_but_an_alias_is_not(config):
    assert refusal(config, "hz", "7", "HZ", "8") == ("HZ", errors.CONFIG_DUPLICATE)
    config.set_many([("slave-read-only", "yes"), ("replica-read-only", "no")])
    assert config.get("replica-read-only") == "no"


def test_name_errors_come_before_value_errors(config):
    assert refusal(config, "hz", "abc", "databases", "2") == ("databases", errors.CONFIG_IMMUTABLE)


def test_config_set_of_several_parameters_is_all_or_nothing(config):
    assert refusal(config, "hz", "5", "maxmemory", "abc") == ("maxmemory", errors.CONFIG_NOT_MEMORY)
    assert config.get("hz") == "10"
    config.set_many([("hz", "5"), ("maxmemory", "1mb")])
    assert (config.get("hz"), config.get("maxmemory")) == ("5", "1048576")


# --- helpers -----------------------------------------------------------------------

@pytest.mark.parametrize("text,value", [("100mb", 104857600), ("1K", 1000), ("7", 7), ("0b", 0),
                                        ("-1", None), ("+1", None), ("1x", None)])
def test_memtoull_reads_sizes_with_units(text, value):
    assert memtoull(text) == value


@pytest.mark.parametrize("value,text", [(0, "0"), (1024, "1kb"), (3 * 1024**2, "3mb"),
                                        (2 * 1024**3, "2gb"), (1000, "1000")])
def test_rewrite_writes_sizes_with_the_largest_exact_unit(value, text):
    assert format_memory(value) == text


# --- redis.conf and --options --------------------------------------------------------

def test_config_file_lines_are_applied_with_quotes_and_comments(config):
    config.load_text('# a comment\n\nhz 20\ndbfilename "my dump.rdb"\nslave-read-only no\n')
    assert (config.get("hz"), config.get("dbfilename"), config.get("replica-read-only")) == (
        "20", "my dump.rdb", "no")


def test_several_save_lines_add_up_and_replace_the_default(config):
    config.load_text("save 900 1\nsave 300 10\n")
    assert config.get("save") == "900 1 300 10"


def test_command_line_options_override_the_file(config):
    config.load_text("hz 20\n")
    config.load_args(["--hz", "30", "--save", "60", "1000"])
    assert (config.get("hz"), config.get("save")) == ("30", "60 1000")


def test_a_bad_config_line_is_reported_with_its_location_and_reason(config):
    with pytest.raises(ConfigError) as caught:
        config.load_text("hz 20\nhz abc\n")
    assert str(caught.value) == ("Reading the configuration, at line 2\n>>> 'hz abc'\n"
                                 + errors.CONFIG_NOT_INTEGER)


def test_an_unknown_directive_is_a_bad_directive(config):
    with pytest.raises(ConfigError, match=errors.CONFIG_BAD_DIRECTIVE):
        config.load_args(["--no-such-option", "1"])


def test_a_single_value_parameter_wants_exactly_one_argument(config):
    with pytest.raises(ConfigError, match=errors.CONFIG_WRONG_ARGS):
        config.load_text("hz 1 2\n")


# --- CONFIG REWRITE ------------------------------------------------------------------

def test_rewrite_without_a_config_file_is_refused(config):
    with pytest.raises(ConfigError, match=errors.CONFIG_NO_FILE):
        config.rewrite()


def test_rewrite_updates_lines_in_place_and_appends_changed_parameters(tmp_path):
    path = tmp_path / "redis.conf"
    path.write_text("# my settings\nhz 15\n\n\nsave 100 1\nsave 200 2\nslave-read-only yes\n"
                    'dbfilename "x.rdb"\n')
    config = Config()
    config.load_file(str(path))
    config.set_many([("hz", "20"), ("save", "50 5"), ("maxmemory", "2mb"),
                     ("notify-keyspace-events", "KEA"), ("client-output-buffer-limit", "pubsub 1mb 2mb 3")])
    config.rewrite()
    assert path.read_text() == (
        "# my settings\n"
        "hz 20\n"
        "\n"
        "save 50 5\n"
        "\n"
        "replica-read-only yes\n"
        'dbfilename "x.rdb"\n'
        "# Generated by CONFIG REWRITE\n"
        "maxmemory 2mb\n"
        f'dir "{os.getcwd()}"\n'
        "client-output-buffer-limit pubsub 1mb 2mb 3\n"
        "latency-tracking-info-percentiles 50 99 99.9\n"  # Redis always writes this one
        'notify-keyspace-events "AKE"\n'
    )
    reloaded = Config()
    reloaded.load_file(str(path))
    assert reloaded.matching(["hz", "save", "maxmemory", "notify-keyspace-events"]) == {
        "hz": "20", "save": "50 5", "maxmemory": "2097152", "notify-keyspace-events": "AKE"}


def test_rewrite_quotes_strings_like_redis(tmp_path):
    path = tmp_path / "redis.conf"
    path.write_text("")
    config = Config()
    config.load_file(str(path))
    config.set("requirepass", 'a"b\n')
    config.rewrite()
    assert 'requirepass "a\\"b\\n"\n' in path.read_text()


def test_a_single_save_argument_holding_several_values_is_split_as_redis_7_does():
    config = Config()
    config.load_args(["--save", "3600 1 300 100"])
    assert config.get("save") == "3600 1 300 100"
