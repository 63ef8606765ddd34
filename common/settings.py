"""Reading TOML configuration so that every bad setting is named exactly.

Both programs with a config file (the load balancer and the rate limiter) read it the
same way: the file and the command-line flags become one dict (each flag turns into the
setting it stands for, `read_toml`), then a validator walks it with `Table`, a cursor
whose typed reads name the field they reject, e.g. `backend[2].weight: must be at least
1, got 0`. `finish()` rejects keys nobody read, so a typo (`intreval = 1`) is an error
instead of a silently ignored setting. Everything downstream gets typed, checked values.
"""

from __future__ import annotations

import ipaddress
import tomllib
from typing import Any

from common.clientip import IPNetwork


class ConfigError(ValueError):
    """One invalid setting; the message starts with the field's name."""


def read_toml(path: str | None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The TOML file's settings (none without a path), with the flags' laid on top."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as file:
                raw = tomllib.load(file)
        except OSError as err:
            raise ConfigError(f"config: cannot read {path}: {err.strerror}") from err
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"config: {path} is not valid TOML: {err}") from err
    for key, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            value = {**raw[key], **value}  # a flag changes one setting of a table, not all
        raw[key] = value
    return raw


def parse_address(text: str, field: str, *, allow_port_zero: bool = False) -> tuple[str, int]:
    """`host:port` or `[v6-host]:port`."""
    host, colon, port_text = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not colon or not host or not port_text.isdigit():
        raise ConfigError(f"{field}: expected host:port, got {text!r}")
    port = int(port_text)
    if not (0 if allow_port_zero else 1) <= port <= 65535:
        raise ConfigError(f"{field}: port out of range in {text!r}")
    return host, port


class Table:
    """A cursor over one TOML table: typed reads that name the field, then `finish()`."""

    def __init__(self, raw: Any, name: str) -> None:
        if not isinstance(raw, dict):
            raise ConfigError(f"{name}: expected a table")
        self.raw = raw
        self.name = name
        self._read: set[str] = set()

    def _get(self, key: str, default: Any) -> Any:
        self._read.add(key)
        if key not in self.raw:
            if default is None:
                raise ConfigError(f"{self.field(key)}: required")
            return default
        return self.raw[key]

    def field(self, key: str) -> str:
        """The full name of `key` in error messages: `policy[2].limit`."""
        return f"{self.name}.{key}" if self.name else key

    def wrong(self, key: str, expected: str, value: Any) -> ConfigError:
        return ConfigError(f"{self.field(key)}: expected {expected}, got {value!r}")

    def string(self, key: str, default: str | None) -> str:
        value = self._get(key, default)
        if not isinstance(value, str):
            raise self.wrong(key, "a string", value)
        return value

    def strings(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        """A string, or an array of strings."""
        value = self._get(key, default)
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
            raise self.wrong(key, "a string or an array of strings", value)
        return tuple(value)

    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.string(key, default)
        if value not in choices:
            raise self.wrong(key, "one of " + ", ".join(choices), value)
        return value

    def integer(self, key: str, default: int, *, minimum: int) -> int:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.wrong(key, "an integer", value)
        if value < minimum:
            raise ConfigError(f"{self.field(key)}: must be at least {minimum}, got {value}")
        return value

    def number(self, key: str, default: float, *, zero_ok: bool = False) -> float:
        """A positive number of seconds (or zero, meaning "off", when `zero_ok`)."""
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (value == 0 and not zero_ok):
            raise self.wrong(key, "a positive number of seconds" + (" or 0" if zero_ok else ""), value)
        return float(value)

    def boolean(self, key: str, default: bool) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise self.wrong(key, "true or false", value)
        return value

    def networks(self, key: str) -> tuple[IPNetwork, ...]:
        """Addresses or CIDR networks (`"10.0.0.0/8"`, `"::1"`), one or an array."""
        networks = []
        for text in self.strings(key, ()):
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                raise ConfigError(f"{self.field(key)}: expected an address or network like "
                                  f"10.0.0.0/8, got {text!r}") from None
        return tuple(networks)

    def array(self, key: str) -> list[Any]:
        value = self._get(key, [])
        if not isinstance(value, list):
            raise self.wrong(key, f"an array of tables ([[{key}]])", value)
        return value

    def table(self, key: str) -> Table:
        return Table(self._get(key, {}), self.field(key))

    def items(self) -> list[tuple[str, Any]]:
        """Every (key, value) of a table whose keys are data, not settings (`[tiers.keys]`)."""
        self._read.update(self.raw)
        return list(self.raw.items())

    def finish(self) -> None:
        unknown = sorted(set(self.raw) - self._read)
        if unknown:
            raise ConfigError(f"{self.field(unknown[0])}: unknown setting")
