"""Server configuration: every redis.conf parameter, with CONFIG GET/SET/REWRITE rules.

Each parameter Redis 7.0 accepts is declared once in `PARAMS` with its type, default and
bounds, as config.c does. Values are kept as the canonical strings CONFIG GET prints
("yes", "0", "3600 1 300 100 60 10000"); `get_int`/`get_bool` parse them for users.
Sources apply in redis-server's order: defaults, config file, command line, CONFIG SET.
`ACTIVE_PARAMS` are the ones the clone acts on (each says where and when);
`COMPAT_PARAMS` are validated, stored and reported exactly as Redis does, but change
nothing, so tools that read or tune them keep working. Validation and its error texts
follow config.c, down to C's quirks (unsigned types wrap "-1"; `1gb` is 1024^3, `1g` 10^9).
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
import threading
from dataclasses import dataclass
from typing import Callable, Iterable

from common.resp import parse_int64, split_inline
from redis_clone import errors, glob


class ConfigError(Exception):
    """A bad parameter name or value. `reason` is Redis's text; `name` the parameter
    the error is about, spelled as Redis reports it."""

    def __init__(self, reason: str, name: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.name = name


class UnknownParameter(ConfigError):
    """CONFIG SET of a name that is no parameter (its own error reply in Redis)."""


INT_MIN, INT_MAX, UINT_MAX = -(2**31), 2**31 - 1, 2**32 - 1
LONG_MAX = LLONG_MAX = SSIZE_MAX = 2**63 - 1
ULLONG_MAX = 2**64 - 1
MB = 1024 * 1024

MULTI_ARG = frozenset({"save", "bind", "client-output-buffer-limit", "oom-score-adj-values",
                       "replicaof", "latency-tracking-info-percentiles", "shutdown-flags"})
"""Kinds whose value is several words: CONFIG SET splits the value on spaces."""


@dataclass(frozen=True)
class Param:
    name: str
    default: str
    kind: str = "string"        # a key of _PARSERS
    choices: tuple[str, ...] = ()              # enum names, in Redis's order
    synonyms: tuple[tuple[str, str], ...] = ()  # enum names that read back as another
    low: int = 0                # numeric bounds, inclusive
    high: int = 0
    unsigned: bool = False      # a C unsigned type: negative input wraps around
    clamp: tuple[int, int] | None = None  # accepted, then silently brought into range
    mutable: bool = True        # False: only at startup ("can't set immutable config")
    protected: bool = False     # CONFIG SET needs enable-protected-configs
    hidden: bool = False        # CONFIG GET returns it only when asked by exact name
    alias: str = ""             # the old name ("slave-read-only"), accepted everywhere
    check: Callable[[str], str | None] | None = None  # extra validation -> reason


# --- builders that keep the table below readable ------------------------------------

def yes_no(name: str, default: str, **options) -> Param:
    return Param(name, default, "bool", **options)


def number(name: str, default: int, low: int, high: int, **options) -> Param:
    return Param(name, str(default), "int", low=low, high=high, **options)


def size(name: str, default: int, low: int, high: int, **options) -> Param:
    """A size in bytes that accepts units: 100mb, 1gb, 512k."""
    return Param(name, str(default), "memory", low=low, high=high, **options)


def one_of(name: str, default: str, choices: tuple[str, ...], **options) -> Param:
    return Param(name, default, "enum", choices=choices, **options)


def text(name: str, default: str = "", **options) -> Param:
    return Param(name, default, "string", **options)


def special(name: str, default: str, **options) -> Param:
    """A parameter with a syntax of its own: the kind is the parameter's name."""
    return Param(name, default, name, **options)


# --- extra validations (config.c's is_valid_fn) -------------------------------------

def _base_name(reason: str, empty_reason: str | None = None) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        if empty_reason and not value:
            return empty_reason
        return reason if "/" in value else None
    return check


def _hostname(value: str) -> str | None:
    if len(value) >= 256:
        return errors.CONFIG_HOSTNAME_LENGTH
    if re.fullmatch(r"[A-Za-z0-9.-]*", value) is None:
        return errors.CONFIG_HOSTNAME_CHARS
    return None


_PROC_TITLE_VARIABLES = {"title", "listen-addr", "server-mode", "port", "tls-port",
                         "unixsocket", "config-file"}


def _proc_title_template(value: str) -> str | None:
    """Known {variables} only, balanced braces ({{ and }} are literal), not empty."""
    rest = value.replace("{{", "").replace("}}", "")
    variables = re.findall(r"\{([^{}]*)\}", rest)
    leftover = re.sub(r"\{[^{}]*\}", "", rest)
    if not value or "{" in leftover or "}" in leftover or not set(variables) <= _PROC_TITLE_VARIABLES:
        return errors.CONFIG_PROC_TITLE
    return None


def _refuse(value_that_fails: str, reason: str) -> Callable[[str], str | None]:
    """For features this build lacks: Redis without jemalloc refuses active defrag the
    same way, and we cannot speak TLS at all."""
    return lambda value: reason if value != value_that_fails else None


_NO_DEFRAG = _refuse("no", errors.CONFIG_NO_DEFRAG)
_NO_TLS_PORT = _refuse("0", errors.CONFIG_NO_TLS)
_NO_TLS = _refuse("no", errors.CONFIG_NO_TLS)

_SHUTDOWN_FLAGS = ("default", "save", "nosave", "now", "force")

# --- the parameters -------------------------------------------------------------------

ACTIVE_PARAMS: tuple[Param, ...] = (
    # Read at startup: the listening sockets. CONFIG SET stores a new value (for CONFIG
    # REWRITE) but does not move the listener; Redis would rebind at once.
    special("bind", "127.0.0.1"),  # Redis's default is "* -::*": we stay on loopback
    number("port", 6379, 0, 65535),
    number("tcp-backlog", 511, 0, INT_MAX, mutable=False),
    number("databases", 16, 1, INT_MAX, mutable=False),
    # Read at startup by __main__ to set up logging.
    one_of("loglevel", "notice", ("debug", "verbose", "notice", "warning")),
    text("logfile", mutable=False),
    # Read by the cron thread every period: a change applies at once. Redis accepts any
    # non-negative value and quietly keeps it within 1..500.
    number("hz", 10, 0, INT_MAX, clamp=(1, 500)),
    # Read when a connection opens: applies to new connections.
    size("proto-max-bulk-len", 512 * MB, MB, LONG_MAX),
    # Read by each DEBUG and CONFIG SET: who may use them ("local" = loopback clients).
    one_of("enable-debug-command", "no", ("no", "yes", "local"), mutable=False),
    one_of("enable-protected-configs", "no", ("no", "yes", "local"), mutable=False),
    # Read when a connection arrives: the ones over the limit are refused (server.py).
    number("maxclients", 10000, 1, UINT_MAX, unsigned=True),
    # Read before every DENYOOM command (eviction.py); the policy also picks LRU or LFU
    # access stamps, re-read on each CONFIG SET.
    size("maxmemory", 0, 0, ULLONG_MAX, unsigned=True),
    one_of("maxmemory-policy", "noeviction", (
        "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
        "allkeys-lru", "allkeys-lfu", "allkeys-random", "noeviction")),
    number("maxmemory-samples", 5, 1, INT_MAX),
    special("save", "3600 1 300 100 60 10000"),
    special("dir", "", protected=True),  # the default is the working directory
    text("dbfilename", "dump.rdb", protected=True,
         check=_base_name(errors.CONFIG_DBFILENAME_PATH)),
    yes_no("appendonly", "no"),
    size("repl-backlog-size", MB, 1, LLONG_MAX, clamp=(16 * 1024, LLONG_MAX)),  # Redis's minimum
)

COMPAT_PARAMS: tuple[Param, ...] = (
    # General
    yes_no("daemonize", "no", mutable=False),
    one_of("supervised", "no", ("upstart", "systemd", "auto", "no"), mutable=False),
    text("pidfile", mutable=False),
    text("unixsocket", mutable=False),
    Param("unixsocketperm", "0", "octal", low=0, high=0o777, unsigned=True, mutable=False),
    number("timeout", 0, 0, INT_MAX),  # exception: ACTIVE, read by the cron (clientscron.py)
    number("tcp-keepalive", 300, 0, INT_MAX),
    text("bind-source-addr"),
    yes_no("protected-mode", "yes"),
    yes_no("always-show-logo", "no", mutable=False),
    yes_no("set-proc-title", "yes", mutable=False),
    text("proc-title-template", "{title} {listen-addr} {server-mode}", check=_proc_title_template),
    yes_no("syslog-enabled", "no", mutable=False),
    text("syslog-ident", "redis", mutable=False),
    one_of("syslog-facility", "local0", ("user", "local0", "local1", "local2", "local3",
                                         "local4", "local5", "local6", "local7"), mutable=False),
    yes_no("crash-log-enabled", "yes"),
    yes_no("crash-memcheck-enabled", "yes"),
    yes_no("use-exit-on-panic", "no", hidden=True),
    number("watchdog-period", 0, 0, INT_MAX, hidden=True),
    text("ignore-warnings"),
    yes_no("disable-thp", "yes", mutable=False),
    yes_no("dynamic-hz", "yes"),
    number("active-expire-effort", 1, 1, 10),
    yes_no("activerehashing", "yes"),
    number("shutdown-timeout", 10, 0, INT_MAX),
    Param("shutdown-on-sigint", "default", "shutdown-flags", choices=_SHUTDOWN_FLAGS),
    Param("shutdown-on-sigterm", "default", "shutdown-flags", choices=_SHUTDOWN_FLAGS),
    one_of("enable-module-command", "no", ("no", "yes", "local"), mutable=False),
    number("io-threads", 1, 1, 128, mutable=False),
    yes_no("io-threads-do-reads", "no", mutable=False),
    text("server_cpulist", mutable=False),
    text("bio_cpulist", mutable=False),
    text("aof_rewrite_cpulist", mutable=False),
    text("bgsave_cpulist", mutable=False),
    one_of("oom-score-adj", "no", ("no", "yes", "relative", "absolute"),
           synonyms=(("relative", "yes"),)),
    special("oom-score-adj-values", "0 200 800"),
    number("socket-mark-id", 0, 0, UINT_MAX, unsigned=True, mutable=False),
    # Security and ACL
    text("requirepass"),
    text("aclfile", mutable=False),
    number("acllog-max-len", 128, 0, LONG_MAX),
    one_of("acl-pubsub-default", "resetchannels", ("allchannels", "resetchannels")),
    # Clients and limits. Exception to "change nothing": the pubsub class of
    # client-output-buffer-limit cuts off slow subscribers (pubsub.py, clientscron.py).
    special("client-output-buffer-limit",
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"),
    size("client-query-buffer-limit", 1024 * MB, MB, LONG_MAX, unsigned=True),
    Param("maxmemory-clients", "0", "memory%", low=-100, high=SSIZE_MAX),
    number("maxmemory-eviction-tenacity", 10, 0, 100),
    number("tracking-table-max-keys", 1000000, 0, LONG_MAX, unsigned=True),
    number("busy-reply-threshold", 5000, 0, LONG_MAX, alias="lua-time-limit"),
    # Eviction and lazy freeing. Exception to "change nothing": eviction.py reads the
    # two lfu-* parameters (on each CONFIG SET), as they only tune ACTIVE maxmemory-policy.
    number("lfu-log-factor", 10, 0, INT_MAX),
    number("lfu-decay-time", 1, 0, INT_MAX),
    yes_no("lazyfree-lazy-eviction", "no"),
    yes_no("lazyfree-lazy-expire", "no"),
    yes_no("lazyfree-lazy-server-del", "no"),
    yes_no("lazyfree-lazy-user-del", "no"),
    yes_no("lazyfree-lazy-user-flush", "no"),
    # Snapshots
    yes_no("stop-writes-on-bgsave-error", "yes"),
    yes_no("rdbcompression", "yes"),
    yes_no("rdbchecksum", "yes", mutable=False),
    yes_no("rdb-del-sync-files", "no"),
    yes_no("rdb-save-incremental-fsync", "yes"),
    one_of("sanitize-dump-payload", "no", ("no", "yes", "clients")),
    number("rdb-key-save-delay", 0, INT_MIN, INT_MAX, hidden=True),
    number("key-load-delay", 0, INT_MIN, INT_MAX, hidden=True),
    number("loading-process-events-interval-bytes", 2 * MB, 1024, INT_MAX, hidden=True),
    # Append-only file
    text("appendfilename", "appendonly.aof", mutable=False,
         check=_base_name(errors.CONFIG_AOF_FILENAME_PATH, errors.CONFIG_AOF_FILENAME_EMPTY)),
    text("appenddirname", "appendonlydir", mutable=False,
         check=_base_name(errors.CONFIG_AOF_DIRNAME_PATH, errors.CONFIG_AOF_DIRNAME_EMPTY)),
    one_of("appendfsync", "everysec", ("everysec", "always", "no")),
    yes_no("no-appendfsync-on-rewrite", "no"),
    number("auto-aof-rewrite-percentage", 100, 0, INT_MAX),
    size("auto-aof-rewrite-min-size", 64 * MB, 0, LLONG_MAX),
    yes_no("aof-load-truncated", "yes"),
    yes_no("aof-use-rdb-preamble", "yes"),
    yes_no("aof-rewrite-incremental-fsync", "yes"),
    yes_no("aof-timestamp-enabled", "no"),
    yes_no("aof-disable-auto-gc", "no"),
    # Replication
    special("replicaof", "", mutable=False, alias="slaveof"),
    text("masterauth"),
    text("masteruser"),
    yes_no("replica-serve-stale-data", "yes", alias="slave-serve-stale-data"),
    yes_no("replica-read-only", "yes", alias="slave-read-only"),
    yes_no("replica-lazy-flush", "no", alias="slave-lazy-flush"),
    yes_no("replica-ignore-maxmemory", "yes", alias="slave-ignore-maxmemory"),
    yes_no("replica-ignore-disk-write-errors", "no"),
    yes_no("replica-announced", "yes"),
    number("replica-priority", 100, 0, INT_MAX, alias="slave-priority"),
    text("replica-announce-ip", alias="slave-announce-ip"),
    number("replica-announce-port", 0, 0, 65535, alias="slave-announce-port"),
    yes_no("repl-diskless-sync", "yes"),
    number("repl-diskless-sync-delay", 5, 0, INT_MAX),
    number("repl-diskless-sync-max-replicas", 0, 0, INT_MAX),
    one_of("repl-diskless-load", "disabled", ("disabled", "on-empty-db", "swapdb")),
    number("repl-ping-replica-period", 10, 1, INT_MAX, alias="repl-ping-slave-period"),
    number("repl-timeout", 60, 1, INT_MAX),
    yes_no("repl-disable-tcp-nodelay", "no"),
    number("repl-backlog-ttl", 3600, 0, LONG_MAX),
    number("min-replicas-to-write", 0, 0, INT_MAX, alias="min-slaves-to-write"),
    number("min-replicas-max-lag", 10, 0, INT_MAX, alias="min-slaves-max-lag"),
    one_of("propagation-error-behavior", "ignore", ("ignore", "panic", "panic-on-replicas")),
    # Cluster
    yes_no("cluster-enabled", "no", mutable=False),
    text("cluster-config-file", "nodes.conf", mutable=False),
    number("cluster-node-timeout", 15000, 0, LLONG_MAX),
    number("cluster-port", 0, 0, 65535, mutable=False),
    text("cluster-announce-ip"),
    text("cluster-announce-hostname", check=_hostname),
    number("cluster-announce-port", 0, 0, 65535),
    number("cluster-announce-bus-port", 0, 0, 65535),
    number("cluster-announce-tls-port", 0, 0, 65535),
    one_of("cluster-preferred-endpoint-type", "ip", ("ip", "hostname", "unknown-endpoint")),
    number("cluster-replica-validity-factor", 10, 0, INT_MAX, alias="cluster-slave-validity-factor"),
    number("cluster-migration-barrier", 1, 0, INT_MAX),
    yes_no("cluster-allow-replica-migration", "yes"),
    yes_no("cluster-require-full-coverage", "yes"),
    yes_no("cluster-replica-no-failover", "no", alias="cluster-slave-no-failover"),
    yes_no("cluster-allow-reads-when-down", "no"),
    yes_no("cluster-allow-pubsubshard-when-down", "yes"),
    size("cluster-link-sendbuf-limit", 0, 0, ULLONG_MAX, unsigned=True),
    # Monitoring. Exception to "change nothing": the slowlog-* pair is read after every
    # command (commandlog.py).
    number("slowlog-log-slower-than", 10000, -1, LLONG_MAX),
    number("slowlog-max-len", 128, 0, LONG_MAX),
    number("latency-monitor-threshold", 0, 0, LLONG_MAX),
    yes_no("latency-tracking", "yes"),
    special("latency-tracking-info-percentiles", "50 99 99.9"),
    special("notify-keyspace-events", ""),
    # Data structure encodings
    number("hash-max-listpack-entries", 512, 0, LONG_MAX, unsigned=True, alias="hash-max-ziplist-entries"),
    size("hash-max-listpack-value", 64, 0, LONG_MAX, unsigned=True, alias="hash-max-ziplist-value"),
    number("list-max-listpack-size", -2, INT_MIN, INT_MAX, alias="list-max-ziplist-size"),
    number("list-compress-depth", 0, 0, INT_MAX),
    number("set-max-intset-entries", 512, 0, LONG_MAX, unsigned=True),
    number("zset-max-listpack-entries", 128, 0, LONG_MAX, unsigned=True, alias="zset-max-ziplist-entries"),
    size("zset-max-listpack-value", 64, 0, LONG_MAX, unsigned=True, alias="zset-max-ziplist-value"),
    size("hll-sparse-max-bytes", 3000, 0, LONG_MAX, unsigned=True),
    size("stream-node-max-bytes", 4096, 0, LONG_MAX, unsigned=True),
    number("stream-node-max-entries", 100, 0, LLONG_MAX),
    # Active defragmentation (needs Redis's own jemalloc; refused like a build without it)
    yes_no("activedefrag", "no", check=_NO_DEFRAG),
    size("active-defrag-ignore-bytes", 100 * MB, 1, LLONG_MAX, unsigned=True),
    number("active-defrag-threshold-lower", 10, 0, 1000),
    number("active-defrag-threshold-upper", 100, 0, 1000),
    number("active-defrag-cycle-min", 1, 1, 99),
    number("active-defrag-cycle-max", 25, 1, 99),
    number("active-defrag-max-scan-fields", 1000, 1, LONG_MAX),
    yes_no("jemalloc-bg-thread", "yes"),
    # TLS (not supported: enabling it is refused)
    number("tls-port", 0, 0, 65535, check=_NO_TLS_PORT),
    yes_no("tls-cluster", "no", check=_NO_TLS),
    yes_no("tls-replication", "no", check=_NO_TLS),
    one_of("tls-auth-clients", "yes", ("no", "yes", "optional")),
    yes_no("tls-prefer-server-ciphers", "no"),
    yes_no("tls-session-caching", "yes"),
    number("tls-session-cache-size", 20480, 0, INT_MAX),
    number("tls-session-cache-timeout", 300, 0, INT_MAX),
    *(text(name) for name in (
        "tls-cert-file", "tls-key-file", "tls-key-file-pass", "tls-client-cert-file",
        "tls-client-key-file", "tls-client-key-file-pass", "tls-dh-params-file",
        "tls-ca-cert-file", "tls-ca-cert-dir", "tls-protocols", "tls-ciphers",
        "tls-ciphersuites")),
)

PARAMS: tuple[Param, ...] = ACTIVE_PARAMS + COMPAT_PARAMS


# --- value syntax: each kind's parser turns input words into the canonical value -----

def _string2ll(word: str) -> int | None:
    return parse_int64(word.encode("utf-8", "surrogateescape"))


def _strtoll(word: str, base: int = 10) -> int | None:
    """C's strtoll() when the caller demands the whole word be consumed: leading blanks
    and a sign are fine, and "" reads as 0 (no digits, nothing left over)."""
    digits = "0-7" if base == 8 else "0-9"
    if not word:
        return 0
    if re.fullmatch(rf"[ \t\n\v\f\r]*[+-]?[{digits}]+", word) is None:
        return None
    return max(-(2**63), min(int(word.strip(), base), 2**63 - 1))


_MEMORY_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2,
                 "g": 1000**3, "gb": 1024**3}


def memtoull(word: str) -> int | None:
    """Redis's memtoull(): digits, then an optional unit. '100mb' -> 104857600.
    No sign and no blanks; as in C, an empty number reads as 0 and overflow wraps."""
    match = re.fullmatch(r"([0-9]*)([A-Za-z]*)", word)
    if match is None or match.group(2).lower() not in _MEMORY_UNITS:
        return None
    number = min(int(match.group(1) or "0"), ULLONG_MAX)
    return number * _MEMORY_UNITS[match.group(2).lower()] % 2**64


def format_memory(value: int) -> str:
    """How CONFIG REWRITE writes a size: the largest unit that divides it exactly."""
    for unit, scale in (("gb", 1024**3), ("mb", 1024**2), ("kb", 1024)):
        if value and value % scale == 0:
            return f"{value // scale}{unit}"
    return str(value)


def _checked_range(param: Param, value: int) -> int:
    if param.unsigned:
        value %= 2**64  # C converts the long long to an unsigned type: -1 is huge
        if not param.low <= value <= param.high:
            shown = (oct(param.low)[2:], oct(param.high)[2:]) if param.kind == "octal" \
                else (param.low, param.high)
            raise ConfigError(errors.config_range(*shown))
    elif param.kind == "memory%" and value < 0:
        if value < param.low:
            raise ConfigError(errors.config_percent_max(-param.low))
    else:
        if param.kind != "int":
            value = value - 2**64 if value > LLONG_MAX else value  # into a signed type
        if not param.low <= value <= param.high:
            raise ConfigError(errors.config_range(param.low, param.high))
    if param.clamp:
        value = max(param.clamp[0], min(value, param.clamp[1]))
    return value


def _parse_int(param: Param, word: str) -> str:
    value = _string2ll(word)
    if value is None:
        raise ConfigError(errors.CONFIG_NOT_INTEGER)
    return str(_checked_range(param, value))


def _parse_memory(param: Param, word: str) -> str:
    value = memtoull(word)
    if value is None:
        raise ConfigError(errors.CONFIG_NOT_MEMORY)
    return str(_checked_range(param, value) % 2**64)


def _parse_memory_or_percent(param: Param, word: str) -> str:
    """maxmemory-clients: bytes, or a share of maxmemory ("10%"), kept negative as Redis does."""
    value = memtoull(word)
    if value is None:
        percent = _string2ll(word[:-1]) if len(word) > 1 and word.endswith("%") else None
        if percent is None or percent < 0:
            raise ConfigError(errors.CONFIG_NOT_MEMORY_OR_PERCENT)
        value = -percent
    value = _checked_range(param, value)
    return f"{-value}%" if value < 0 else str(value)


def _parse_octal(param: Param, word: str) -> str:
    value = _strtoll(word, 8)
    if value is None:
        raise ConfigError(errors.CONFIG_NOT_OCTAL)
    return oct(_checked_range(param, value))[2:]


def _parse_bool(param: Param, word: str) -> str:
    if word.lower() not in ("yes", "no"):
        raise ConfigError(errors.CONFIG_YES_NO)
    return word.lower()


def _parse_enum(param: Param, word: str) -> str:
    if word.lower() not in param.choices:
        raise ConfigError(errors.config_enum(param.choices))
    return dict(param.synonyms).get(word.lower(), word.lower())


def _parse_save(param: Param, words: list[str]) -> str:
    """`save <seconds> <changes> ...`: seconds >= 1, changes >= 0; "" means never."""
    if words in ([], [""]):
        return ""
    numbers = [_strtoll(word) for word in words]
    if len(words) % 2 or any(n is None for n in numbers) \
            or any(n < 1 for n in numbers[0::2]) or any(n < 0 for n in numbers[1::2]):
        raise ConfigError(errors.CONFIG_SAVE)
    return " ".join(str(n) for n in numbers)


def _parse_bind(param: Param, words: list[str]) -> str:
    if len(words) > 16:
        raise ConfigError(errors.CONFIG_BIND_TOO_MANY)
    return "" if words in ([], [""]) else " ".join(words)


def _parse_dir(param: Param, word: str) -> str:
    """Redis chdir()s; we keep the absolute path instead (tests run many servers in
    one process). The error is the one chdir() would give."""
    path = os.path.abspath(word)
    failure = (errno.ENOENT if not os.path.exists(path) else
               errno.ENOTDIR if not os.path.isdir(path) else
               errno.EACCES if not os.access(path, os.X_OK) else None)
    if failure:
        raise ConfigError(os.strerror(failure))
    return path


_CLIENT_CLASSES = {"normal": "normal", "slave": "slave", "replica": "slave", "pubsub": "pubsub"}


def _parse_client_output_buffer_limit(param: Param, words: list[str], current: str) -> str:
    """<class> <hard> <soft> <soft seconds>, for some of the classes; others keep theirs."""
    if len(words) % 4:
        raise ConfigError(errors.CONFIG_OBUF_ARGS)
    limits = dict(_quads(current.split()))
    for client_class, (hard, soft, seconds) in _quads(words):
        name = _CLIENT_CLASSES.get(client_class.lower())
        if name is None:
            raise ConfigError(errors.CONFIG_OBUF_CLASS)
        hard_bytes, soft_bytes, soft_seconds = memtoull(hard), memtoull(soft), _strtoll(seconds)
        if hard_bytes is None or soft_bytes is None or soft_seconds is None or soft_seconds < 0:
            raise ConfigError(errors.CONFIG_OBUF_VALUE)
        limits[name] = (str(hard_bytes), str(soft_bytes), str(soft_seconds))
    return " ".join(" ".join((name, *limits[name])) for name in ("normal", "slave", "pubsub"))


def _quads(words: list[str]) -> list[tuple[str, tuple[str, str, str]]]:
    return [(words[i], tuple(words[i + 1:i + 4])) for i in range(0, len(words), 4)]


def _parse_oom_score_adj_values(param: Param, words: list[str]) -> str:
    if len(words) != 3:
        raise ConfigError(errors.CONFIG_WRONG_ARGS)
    values = [_strtoll(word) for word in words]
    if any(v is None or not -2000 <= v <= 2000 for v in values):
        raise ConfigError(errors.CONFIG_OOM_VALUES)
    return " ".join(map(str, values))


# notify-keyspace-events: one letter per event class. 'A' stands for all the classes
# from 'g' to 'd' (not 'm' key-miss nor 'n' new-key), and is how Redis prints them all.
_EVENT_CLASSES = "g$lshzxetd"
_EVENT_LETTERS = set(_EVENT_CLASSES + "AKEmn")


def _parse_notify_keyspace_events(param: Param, word: str) -> str:
    if not set(word) <= _EVENT_LETTERS:
        raise ConfigError(errors.CONFIG_KEYSPACE_EVENTS)
    letters = set(word.replace("A", _EVENT_CLASSES))
    if set(_EVENT_CLASSES) <= letters:
        shown = "A"  # keyspaceEventsFlagsToString: then 'n' is not printed, as in 7.0
    else:
        shown = "".join(c for c in _EVENT_CLASSES + "n" if c in letters)
    return shown + "".join(c for c in "KEm" if c in letters)


def _parse_shutdown_flags(param: Param, words: list[str]) -> str:
    """shutdown-on-sigint/sigterm: SHUTDOWN's options as flags, e.g. "nosave now"."""
    flags = {word.lower() for word in words}
    if not flags or not flags <= set(param.choices):
        raise ConfigError(errors.config_enum(param.choices))
    if {"save", "nosave"} <= flags:
        raise ConfigError(errors.CONFIG_SHUTDOWN_SAVE_NOSAVE)
    return " ".join(flag for flag in param.choices[1:] if flag in flags) or "default"


def _parse_replicaof(param: Param, words: list[str]) -> str:
    if len(words) != 2:
        raise ConfigError(errors.CONFIG_WRONG_ARGS)
    if [w.lower() for w in words] == ["no", "one"]:
        return ""
    port = _strtoll(words[1])
    if port is None or not 0 <= port <= 65535:
        raise ConfigError(errors.CONFIG_MASTER_PORT)
    return f"{words[0]} {port}"


def _parse_percentiles(param: Param, words: list[str]) -> str:
    if words in ([], [""]):
        return ""
    shown = []
    for word in words:
        try:
            value = float(word)
        except ValueError:
            raise ConfigError(errors.CONFIG_PERCENTILES) from None
        if not 0.0 <= value <= 100.0:
            raise ConfigError(errors.CONFIG_PERCENTILES_RANGE)
        shown.append(("%f" % value).rstrip("0").rstrip("."))  # "%f", then trimDoubleString
    return " ".join(shown)


def _single(parse: Callable[[Param, str], str]):
    """Adapt a one-word parser to the (param, words, current) signature."""
    def parser(param: Param, words: list[str], current: str) -> str:
        if len(words) != 1:
            raise ConfigError(errors.CONFIG_WRONG_ARGS)
        return parse(param, words[0])
    return parser


def _multi(parse: Callable[[Param, list[str]], str]):
    return lambda param, words, current: parse(param, words)


_PARSERS: dict[str, Callable[[Param, list[str], str], str]] = {
    "string": _single(lambda param, word: word),
    "bool": _single(_parse_bool),
    "enum": _single(_parse_enum),
    "int": _single(_parse_int),
    "memory": _single(_parse_memory),
    "memory%": _single(_parse_memory_or_percent),
    "octal": _single(_parse_octal),
    "dir": _single(_parse_dir),
    "notify-keyspace-events": _single(_parse_notify_keyspace_events),
    "save": _multi(_parse_save),
    "bind": _multi(_parse_bind),
    "oom-score-adj-values": _multi(_parse_oom_score_adj_values),
    "replicaof": _multi(_parse_replicaof),
    "shutdown-flags": _multi(_parse_shutdown_flags),
    "latency-tracking-info-percentiles": _multi(_parse_percentiles),
    "client-output-buffer-limit": _parse_client_output_buffer_limit,
}


# --- the configuration ----------------------------------------------------------------

class Config:
    """Current values of every parameter. Thread-safe: CONFIG SET of several parameters
    is applied under one lock, all or nothing, while readers see whole values."""

    def __init__(self, params: Iterable[Param] = PARAMS) -> None:
        self._lock = threading.Lock()
        self._params: dict[str, Param] = {}   # every accepted name, aliases included
        self._values: dict[str, str] = {}     # canonical name -> value
        self._save_lines = 0                  # redis.conf `save` lines add up
        self.path: str | None = None          # the config file, for CONFIG REWRITE
        # rename-command lines, (where, old name, new name): applied to the command
        # table once at startup (registry.CommandTable.rename); not a CONFIG parameter.
        self.renames: list[tuple[str, str, str]] = []
        for param in params:
            self._params[param.name] = param
            if param.alias:
                self._params[param.alias] = param
            self._values[param.name] = os.getcwd() if param.kind == "dir" else param.default

    # --- reading -----------------------------------------------------------------

    def get(self, name: str) -> str:
        return self._values[self._params[name].name]

    def get_int(self, name: str) -> int:
        return int(self.get(name))

    def get_bool(self, name: str) -> bool:
        return self.get(name) == "yes"

    def names(self) -> list[str]:
        """Every name CONFIG GET * lists: aliases included, hidden parameters not."""
        return [name for name, param in self._params.items() if not param.hidden]

    def matching(self, patterns: Iterable[str]) -> dict[str, str]:
        """CONFIG GET: names given exactly (hidden ones too) or by glob, each once."""
        found: dict[str, tuple[str, str]] = {}  # lowercase name -> (name as shown, value)
        for pattern in patterns:
            if not any(c in pattern for c in "*?["):
                param = self._params.get(pattern.lower())
                if param and pattern.lower() not in found:
                    found[pattern.lower()] = (pattern, self._values[param.name])
                continue
            compiled = glob.Pattern(pattern.encode("utf-8", "surrogateescape"), nocase=True)
            for name in self.names():
                if name not in found and compiled.matches(name.encode()):
                    found[name] = (name, self._values[self._params[name].name])
        return dict(found.values())

    # --- writing -----------------------------------------------------------------

    def set(self, name: str, value: str, *, startup: bool = False) -> None:
        """Set one parameter. Startup (config file, command line) may set immutable ones."""
        self.set_many([(name, value)], startup=startup)

    def set_many(self, pairs: list[tuple[str, str]], *, startup: bool = False,
                 allow_protected: bool = False) -> None:
        """CONFIG SET name value [name value ...]: all of them or none.

        Errors come in Redis's order: first a pass over the names (unknown, immutable,
        protected, given twice), then the values in order. Name errors blame the
        argument as typed; value errors the parameter's name.
        """
        chosen: list[tuple[str, Param, str]] = []
        for name, value in pairs:
            key = name.lower()
            param = self._params.get(key)
            if param is None:
                raise UnknownParameter(errors.CONFIG_BAD_DIRECTIVE, name)
            if not startup and not param.mutable:
                raise ConfigError(errors.CONFIG_IMMUTABLE, name)
            if not startup and param.protected and not allow_protected:
                raise ConfigError(errors.CONFIG_PROTECTED, name)
            if any(key == earlier for earlier, _, _ in chosen):
                raise ConfigError(errors.CONFIG_DUPLICATE, name)
            chosen.append((key, param, value))
        with self._lock:
            updates = {}
            for key, param, value in chosen:
                # Like sdssplitlen(): "" is no words at all, "a  b" has an empty one.
                words = (value.split(" ") if value else []) if param.kind in MULTI_ARG else [value]
                updates[param.name] = self._canonical(param, words, key)
            self._values.update(updates)

    def _canonical(self, param: Param, words: list[str], shown_name: str) -> str:
        try:
            value = _PARSERS[param.kind](param, words, self._values[param.name])
            reason = param.check(value) if param.check else None
        except ConfigError as err:
            reason = err.reason
        if reason:
            raise ConfigError(reason, shown_name)
        return value

    # --- sources -----------------------------------------------------------------

    def load_file(self, path: str) -> None:
        """Read a redis.conf; remember it for CONFIG REWRITE and INFO's config_file."""
        with open(path, encoding="utf-8", errors="surrogateescape") as file:
            self.load_text(file.read())
        self.path = os.path.abspath(path)

    def load_text(self, text: str) -> None:
        """Apply redis.conf lines: `name arg...`, '#' comments, quoted arguments.

        Redis splits each line with the same sdssplitargs() as inline commands, so
        `"a\\x41"` is "aA" and an unquoted backslash is kept as it is.
        """
        for number, line in enumerate(text.split("\n"), 1):
            line = line.strip(" \t\r\n")
            if not line or line.startswith("#"):
                continue
            words = split_inline(line.encode("utf-8", "surrogateescape"))
            if words is None:
                raise ConfigError(f"line {number}: Unbalanced quotes in configuration line")
            if words:
                self._apply(words[0].decode("utf-8", "surrogateescape"),
                            [word.decode("utf-8", "surrogateescape") for word in words[1:]],
                            where=f"line {number}")

    def load_args(self, argv: list[str]) -> None:
        """Apply `--name value...` overrides, as redis-server accepts after the config file."""
        name, args = None, []
        for word in argv + ["--"]:
            if word.startswith("--"):
                if name is not None:
                    self._apply(name, args, where=f"--{name}")
                name, args = word[2:], []
                if not name:
                    break
            elif name is None:
                raise ConfigError(f"unexpected argument {word!r} (options look like --port 6380)")
            else:
                args.append(word)

    def _apply(self, name: str, args: list[str], where: str) -> None:
        param = self._params.get(name.lower())
        try:
            if name.lower() == "rename-command" and len(args) == 2:
                self.renames.append((where, args[0], args[1]))
                return
            if param is None:
                raise ConfigError(errors.CONFIG_BAD_DIRECTIVE)
            if param.kind == "save" and len(args) == 1 and args[0]:
                # `--save "3600 1 300 100"`: one argument holding several, which Redis 7
                # splits again for its multi-argument parameters.
                args = [word.decode("utf-8", "surrogateescape")
                        for word in split_inline(args[0].encode("utf-8", "surrogateescape")) or []]
            if param.kind == "save" and args != [""]:
                # Several `save <seconds> <changes>` lines add up (the first replaces
                # the default), as in redis.conf.
                if self._save_lines:
                    args = self.get("save").split() + args
                self._save_lines += 1
            with self._lock:
                self._values[param.name] = self._canonical(param, args, name.lower())
        except ConfigError as err:
            line = " ".join([name, *args])
            raise ConfigError(f"Reading the configuration, at {where}\n>>> '{line}'\n{err.reason}",
                              name) from None

    # --- CONFIG REWRITE ------------------------------------------------------------

    def rewrite(self) -> None:
        """Write the current configuration back into the file it was loaded from.

        As Redis's rewriteConfig(): lines of the old file are kept in place (comments
        too) with their values updated; parameters that differ from their default and
        were not in the file are appended after a "# Generated by CONFIG REWRITE"
        marker; extra lines of a rewritten parameter are blanked. Raises OSError.
        """
        if self.path is None:
            raise ConfigError(errors.CONFIG_NO_FILE)
        try:
            with open(self.path, encoding="utf-8", errors="surrogateescape") as file:
                lines = file.read().split("\n")
        except FileNotFoundError:
            lines = []
        if lines and lines[-1] == "":
            lines.pop()
        positions: dict[str, list[int]] = {}  # canonical name -> its line numbers
        for number, line in enumerate(lines):
            stripped = line.strip(" \t\r\n")
            if not stripped or stripped.startswith("#"):
                continue
            words = split_inline(stripped.encode("utf-8", "surrogateescape"))
            param = self._params.get(words[0].decode("utf-8", "surrogateescape").lower()) if words else None
            if words and words[0].lower() == b"rename-command":
                continue  # startup-only directives stay as they are, as in Redis
            if param is None:
                lines[number] = "# ??? " + stripped  # unparsable or unknown: keep as a comment
            else:
                positions.setdefault(param.name, []).append(number)
        signed = "# Generated by CONFIG REWRITE" in lines
        for param in dict.fromkeys(self._params.values()):
            old = positions.pop(param.name, [])
            for new_line, force in self._rewrite_lines(param):
                if old:
                    lines[old.pop(0)] = new_line
                elif force:
                    if not signed:
                        lines.append("# Generated by CONFIG REWRITE")
                        signed = True
                    lines.append(new_line)
            for orphan in old:
                lines[orphan] = ""
        _write_atomically(self.path, _squeeze_blank_lines(lines))

    def _rewrite_lines(self, param: Param) -> list[tuple[str, bool]]:
        """The redis.conf lines for one parameter, each with whether it must be written
        even where the old file did not mention it (it is not the default)."""
        name, value = param.name, self._values[param.name]
        changed = value != param.default
        if param.kind == "save":
            pairs = value.split()
            lines = [f"save {s} {c}" for s, c in zip(pairs[0::2], pairs[1::2])] or ['save ""']
            return [(line, True) for line in lines]
        if param.kind in ("string", "dir", "notify-keyspace-events"):
            return [(f"{name} {_quote(value)}", changed or param.kind == "dir")]
        if param.kind in ("bind", "replicaof"):
            return [(f"{name} {value or chr(34) * 2}", True)] if changed else []
        if param.kind == "latency-tracking-info-percentiles":
            return [(f"{name} {value or chr(34) * 2}", True)]
        if param.kind == "client-output-buffer-limit":
            defaults = dict(_quads(param.default.split()))
            return [(f"{name} {'replica' if client_class == 'slave' else client_class} "
                     f"{format_memory(int(hard))} {format_memory(int(soft))} {seconds}",
                     (hard, soft, seconds) != defaults[client_class])
                    for client_class, (hard, soft, seconds) in _quads(value.split())]
        if param.kind in ("memory", "memory%") and not value.endswith("%"):
            return [(f"{name} {format_memory(int(value))}", changed)]
        return [(f"{name} {value}", changed)]


def _quote(value: str) -> str:
    """sdscatrepr(): a double-quoted string with C escapes, as redis.conf reads back."""
    escapes = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t",
               "\a": "\\a", "\b": "\\b"}
    out = []
    for char in value:
        if char in escapes:
            out.append(escapes[char])
        elif char.isprintable() and ord(char) < 0x7F:
            out.append(char)
        else:
            out.extend("\\x%02x" % byte for byte in char.encode("utf-8", "surrogateescape"))
    return '"' + "".join(out) + '"'


def _squeeze_blank_lines(lines: list[str]) -> str:
    """Every run of empty lines becomes one (rewriteConfigGetContentFromState)."""
    kept = [line for i, line in enumerate(lines) if line or i == 0 or lines[i - 1]]
    return "".join(line + "\n" for line in kept)


def _write_atomically(path: str, content: str) -> None:
    """A temporary file in the same directory, then rename(): never a half-written file."""
    fd, temporary = tempfile.mkstemp(prefix=os.path.basename(path) + ".", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
