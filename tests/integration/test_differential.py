"""Differential tests: the same commands to real redis-server and to ours, same replies.

The corpus lives in `corpus/*.txt`, one command per line in redis-cli syntax (quotes
and \\x escapes as in redis-cli / inline commands). A blank line ends a *scenario*: each
scenario starts from empty databases on a fresh connection to each server, so scenarios
are independent. Lines starting with '#' are comments.

A line may start with a marker saying how to compare the replies:

    ~ KEYS *       the reply is an array whose order is unspecified: compare sorted
    ? TIME         only the kind of reply must match (both errors, both arrays...)

Replies are compared as parsed values *with their RESP type* (a status "OK" differs from
a bulk "OK"), which for RESP is the same as comparing the bytes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from common.resp import split_inline
from tests.conftest import RawConnection

CORPUS = Path(__file__).parent / "corpus"


def load_scenarios() -> list[tuple[str, list[tuple[str, list[bytes]]]]]:
    scenarios = []
    for path in sorted(CORPUS.glob("*.txt")):
        current: list[tuple[str, list[bytes]]] = []
        start = 1
        lines = path.read_text(encoding="utf-8").splitlines() + [""]
        for number, line in enumerate(lines, 1):
            if not line.strip():
                if current:
                    scenarios.append((f"{path.stem}:{start}", current))
                current, start = [], number + 1
                continue
            if line.startswith("#"):
                continue
            mode = "exact"
            if line[:2] in ("~ ", "? "):
                mode = {"~": "unordered", "?": "kind"}[line[0]]
                line = line[2:]
            args = split_inline(line.encode())
            assert args, f"{path.name}:{number}: cannot parse {line!r}"
            current.append((mode, args))
    return scenarios


SCENARIOS = load_scenarios()


def typed(value):
    """A reply with its RESP type made explicit, so Status('OK') != b'OK'."""
    if isinstance(value, list):
        return (type(value).__name__, [typed(v) for v in value])
    if isinstance(value, dict):
        return ("dict", sorted((repr(typed(k)), typed(v)) for k, v in value.items()))
    return (type(value).__name__, value)


def kind(value) -> str:
    return type(value).__name__


def unordered(value):
    if isinstance(value, list):
        return sorted((typed(v) for v in value), key=repr)
    return typed(value)


@pytest.mark.parametrize("name,commands", SCENARIOS, ids=[name for name, _ in SCENARIOS])
def test_same_replies_as_real_redis(name, commands, server, real_redis_port):
    ours, real = RawConnection(server.port), RawConnection(real_redis_port)
    try:
        for conn in (ours, real):
            conn.command("FLUSHALL")
        for mode, args in commands:
            expected, got = real.command(*args), ours.command(*args)
            shown = b" ".join(args).decode("utf-8", "replace")
            if mode == "unordered":
                assert unordered(got) == unordered(expected), shown
            elif mode == "kind":
                assert kind(got) == kind(expected), shown
            else:
                assert typed(got) == typed(expected), shown
    finally:
        for conn in (ours, real):
            conn.close()
