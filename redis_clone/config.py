"""Server configuration: redis.conf syntax, `--name value` overrides, CONFIG GET/SET.

Every parameter is declared once in `PARAMS` with its type and default, as Redis's
config.c does. Values are kept as the canonical strings CONFIG GET prints ("yes", "0",
"3600 1 300 100 60 10000"); typed getters (`get_int`, `get_bool`) parse them for the code
that uses them. Sources are applied in redis-server's order: defaults, then the config
file, then command-line overrides, then CONFIG SET at run time.

Memory sizes accept Redis's units (`1gb`, `100mb`, `512k`) and are stored in bytes.
"""

from __future__ import annotations

import fnmatch
import shlex
from dataclasses import dataclass
from typing import Iterable


class ConfigError(Exception):
    """A bad parameter name or value; the message is Redis's reason text."""


@dataclass(frozen=True)
class Param:
    name: str
    default: str
    kind: str = "string"          # string | int | bool | memory | enum | save
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    mutable: bool = True          # False: only settable at startup
    aliases: tuple[str, ...] = ()


_INT64_MAX = 2**63 - 1

PARAMS: tuple[Param, ...] = (
    Param("bind", "127.0.0.1"),
    Param("port", "6379", "int", minimum=0, maximum=65535),
    Param("tcp-backlog", "511", "int", minimum=0, mutable=False),
    Param("timeout", "0", "int", minimum=0),
    Param("tcp-keepalive", "300", "int", minimum=0),
    Param("databases", "16", "int", minimum=1, mutable=False),
    Param("hz", "10", "int", minimum=1, maximum=500),
    Param("maxclients", "10000", "int", minimum=1),
    Param("loglevel", "notice", "enum", choices=("debug", "verbose", "notice", "warning", "nothing")),
    Param("logfile", "", mutable=False),
    Param("daemonize", "no", "bool", mutable=False),
    Param("protected-mode", "yes", "bool"),
    Param("save", "3600 1 300 100 60 10000", "save"),
    Param("dir", "."),
    Param("dbfilename", "dump.rdb"),
    Param("appendonly", "no", "bool"),
    Param("maxmemory", "0", "memory"),
    Param("maxmemory-policy", "noeviction", "enum", choices=(
        "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
        "allkeys-lru", "allkeys-lfu", "allkeys-random", "noeviction")),
    Param("maxmemory-samples", "5", "int", minimum=1, maximum=64),
    Param("proto-max-bulk-len", "536870912", "memory", minimum=1024 * 1024),
    Param("requirepass", ""),
)


class Config:
    """Current values of every parameter, by canonical name."""

    def __init__(self, params: Iterable[Param] = PARAMS) -> None:
        self._params: dict[str, Param] = {}
        self._values: dict[str, str] = {}
        self._seen_save = False  # redis.conf `save` lines accumulate after the first
        for param in params:
            self._params[param.name] = param
            for alias in param.aliases:
                self._params[alias] = param
            self._values[param.name] = param.default

    # --- reading -----------------------------------------------------------------

    def get(self, name: str) -> str:
        return self._values[self._params[name].name]

    def get_int(self, name: str) -> int:
        return int(self.get(name))

    def get_bool(self, name: str) -> bool:
        return self.get(name) == "yes"

    def matching(self, pattern: str) -> dict[str, str]:
        """CONFIG GET: every name (aliases included) matching the glob, with its value."""
        pattern = pattern.lower()
        return {name: self._values[param.name] for name, param in self._params.items()
                if fnmatch.fnmatchcase(name, pattern)}

    # --- writing -----------------------------------------------------------------

    def set(self, name: str, value: str, *, startup: bool = False) -> None:
        param = self._params.get(name.lower())
        if param is None:
            raise ConfigError("Unknown option or number of arguments for CONFIG SET")
        if not param.mutable and not startup:
            raise ConfigError("can't set immutable config")
        self._values[param.name] = self._canonical(param, value)

    def _canonical(self, param: Param, value: str) -> str:
        if param.kind == "bool":
            if value.lower() not in ("yes", "no"):
                raise ConfigError("argument must be 'yes' or 'no'")
            return value.lower()
        if param.kind == "enum":
            if value.lower() not in param.choices:
                raise ConfigError(f"argument(s) must be one of the following: {', '.join(param.choices)}")
            return value.lower()
        if param.kind in ("int", "memory"):
            number = parse_memory(value) if param.kind == "memory" else _parse_int(value)
            if number is None:
                raise ConfigError("argument couldn't be parsed into an integer")
            low = param.minimum if param.minimum is not None else (0 if param.kind == "memory" else -_INT64_MAX)
            high = param.maximum if param.maximum is not None else _INT64_MAX
            if not low <= number <= high:
                raise ConfigError(f"argument must be between {low} and {high} inclusive")
            return str(number)
        if param.kind == "save":
            return _canonical_save(value)
        return value

    # --- sources -----------------------------------------------------------------

    def load_text(self, text: str) -> None:
        """Apply redis.conf lines: `name arg...`, '#' comments, quoted arguments."""
        for number, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:
                words = shlex.split(line)
            except ValueError as err:
                raise ConfigError(f"line {number}: {err}") from None
            self._apply(words[0], words[1:], where=f"line {number}")

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
        if name.lower() == "save" and len(args) > 1 and self._seen_save:
            # redis.conf may list several `save <seconds> <changes>` lines: they add up.
            args = self.get("save").split() + args
        if name.lower() == "save":
            self._seen_save = True
        try:
            self.set(name, " ".join(args), startup=True)
        except (ConfigError, KeyError) as err:
            raise ConfigError(f"Bad directive or wrong number of arguments ({where}: {name}): {err}") from None


def parse_memory(text: str) -> int | None:
    """'100mb' -> 104857600, as Redis's memtoull: k/kb/m/mb/g/gb, case-insensitive."""
    text = text.strip().lower()
    units = (("gb", 1024**3), ("g", 1000**3), ("mb", 1024**2), ("m", 1000**2),
             ("kb", 1024), ("k", 1000), ("b", 1))
    for suffix, scale in units:
        if text.endswith(suffix):
            number = _parse_int(text[: -len(suffix)])
            return None if number is None else number * scale
    return _parse_int(text)


def _parse_int(text: str) -> int | None:
    text = text.strip()
    if not text or not (text.isdigit() or (text[0] == "-" and text[1:].isdigit())):
        return None
    return int(text)


def _canonical_save(value: str) -> str:
    words = value.split()
    if not words or value.strip() == '""':
        return ""
    if len(words) % 2 or any(_parse_int(w) is None or int(w) < 0 for w in words):
        raise ConfigError("Invalid save parameters")
    return " ".join(str(int(w)) for w in words)

