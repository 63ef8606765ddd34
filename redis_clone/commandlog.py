"""What happens after each command runs: per-command statistics, SLOWLOG and MONITOR.

Redis's call() times every command, adds the time to the command's statistics (INFO
commandstats), logs it if it was slow (`slowlog-log-slower-than` microseconds, keeping
the newest `slowlog-max-len` entries) and echoes it to every MONITOR client. The
dispatcher (`registry.execute` and `registry.call`) hands each finished command to
`CommandLog.record()`, so this is the one place for all three.

It runs for every command, so it is kept cheap: one lock for the counters, the slowlog
threshold re-parsed only when the setting changes, and MONITOR costs nothing while
nobody monitors. The slowlog truncates long commands as Redis does: at most 32
arguments and 128 bytes per argument.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import TYPE_CHECKING

from common.resp import Status, encode
from redis_clone.acl import redacted
from redis_clone.registry import ADMIN, SKIP_MONITOR, SKIP_SLOWLOG

if TYPE_CHECKING:
    from redis_clone.clients import ClientState
    from redis_clone.registry import CommandSpec
    from redis_clone.state import ServerState

SLOWLOG_MAX_ARGC = 32      # SLOWLOG_ENTRY_MAX_ARGC
SLOWLOG_MAX_STRING = 128   # SLOWLOG_ENTRY_MAX_STRING
MAX_ERROR_CODES = 128      # ERROR_STATS_NUMBER: errorstats stops tracking new codes after this


class CommandStats:
    """One command's INFO commandstats line."""

    __slots__ = ("calls", "usec", "rejected_calls", "failed_calls")

    def __init__(self) -> None:
        self.calls = self.usec = self.rejected_calls = self.failed_calls = 0


class CommandLog:
    def __init__(self, state: "ServerState") -> None:
        self._state = state
        self._lock = threading.Lock()  # guards everything below but `monitors`
        self.commands: dict[str, CommandStats] = {}
        self.errors: dict[str, int] = {}        # error code (ERR, WRONGTYPE...) -> count
        self.slowlog: deque[list] = deque()    # newest first
        self._next_slowlog_id = 0
        self._threshold_text = ""
        self._threshold = 0
        self.monitors: dict[int, "ClientState"] = {}  # replaced, never mutated (readers copy-free)

    # --- after each command ------------------------------------------------------------

    def record(self, client: "ClientState", spec: "CommandSpec", argv: list[bytes],
               usec: int, failed: bool) -> None:
        stats = self.commands.get(spec.name)
        with self._lock:
            if stats is None:
                stats = self.commands.setdefault(spec.name, CommandStats())
            stats.calls += 1
            stats.usec += usec
            if failed:
                stats.failed_calls += 1
        threshold = self.slowlog_threshold()
        if 0 <= threshold <= usec and not spec.flags & SKIP_SLOWLOG:
            self._add_slow_entry(client, redacted(spec.name, argv), usec)
        if self.monitors and not spec.flags & (SKIP_MONITOR | ADMIN):
            self.feed_monitors(client, redacted(spec.name, argv))

    def total_calls(self) -> int:
        """INFO's total_commands_processed: like Redis's stat_numcommands, it counts a
        command once it has run, exactly where its commandstats line counts it."""
        with self._lock:
            return sum(stats.calls for stats in self.commands.values())

    def rejected(self, spec: "CommandSpec | None") -> None:
        """A command refused before running (wrong arity, OOM, BUSY...)."""
        if spec is None:
            return  # an unknown command has no line to count on
        with self._lock:
            self.commands.setdefault(spec.name, CommandStats()).rejected_calls += 1

    def error(self, message: str) -> None:
        """Every error reply, by its first word (errorstats)."""
        code = message.split(" ", 1)[0]
        with self._lock:
            if code in self.errors or len(self.errors) < MAX_ERROR_CODES:
                self.errors[code] = self.errors.get(code, 0) + 1

    def reset_stats(self) -> None:
        """CONFIG RESETSTAT."""
        with self._lock:
            self.commands.clear()
            self.errors.clear()

    # --- SLOWLOG -----------------------------------------------------------------------

    def slowlog_threshold(self) -> int:
        text = self._state.config.get("slowlog-log-slower-than")
        if text is not self._threshold_text:
            self._threshold, self._threshold_text = int(text), text
        return self._threshold

    def _add_slow_entry(self, client: "ClientState", argv: list[bytes], usec: int) -> None:
        if len(argv) > SLOWLOG_MAX_ARGC:
            more = len(argv) - SLOWLOG_MAX_ARGC + 1
            argv = argv[:SLOWLOG_MAX_ARGC - 1] + [b"... (%d more arguments)" % more]
        args = [arg if len(arg) <= SLOWLOG_MAX_STRING else
                arg[:SLOWLOG_MAX_STRING] + b"... (%d more bytes)" % (len(arg) - SLOWLOG_MAX_STRING)
                for arg in argv]
        max_len = self._state.config.get_int("slowlog-max-len")
        with self._lock:
            entry = [self._next_slowlog_id, int(self._state.clock.time()), usec, args,
                     client.addr.encode(), client.name]
            self._next_slowlog_id += 1
            self.slowlog.appendleft(entry)
            while len(self.slowlog) > max_len:
                self.slowlog.pop()

    def slowlog_get(self, count: int) -> list[list]:
        with self._lock:
            entries = list(self.slowlog)
        return entries if count < 0 else entries[:count]

    def slowlog_reset(self) -> None:
        with self._lock:
            self.slowlog.clear()

    # --- MONITOR -------------------------------------------------------------------------

    def add_monitor(self, client: "ClientState") -> None:
        with self._lock:
            self.monitors = {**self.monitors, client.id: client}

    def remove_monitor(self, client: "ClientState") -> None:
        with self._lock:
            if client.id in self.monitors:
                self.monitors = {i: c for i, c in self.monitors.items() if i != client.id}

    def feed_monitors(self, client: "ClientState", argv: list[bytes]) -> None:
        """`+1700000000.123456 [0 127.0.0.1:50000] "SET" "k" "v"` to every monitor."""
        now = self._state.clock.time()
        seconds = int(now)
        source = client.addr or "lua"  # scripts run as a client without a socket
        line = "%d.%06d [%d %s] %s" % (seconds, int((now - seconds) * 1_000_000), client.db, source,
                                       " ".join(quote(arg) for arg in argv))
        frame = encode(Status(line))
        for monitor in self.monitors.values():
            if monitor is not client:
                monitor.output.push(frame, 0)


_ESCAPES = {ord("\\"): "\\\\", ord('"'): '\\"', ord("\n"): "\\n", ord("\r"): "\\r",
            ord("\t"): "\\t", 7: "\\a", 8: "\\b"}


def quote(arg: bytes) -> str:
    """sdscatrepr(): a double-quoted string with C escapes and \\xHH for other bytes."""
    out = ['"']
    for byte in arg:
        if byte in _ESCAPES:
            out.append(_ESCAPES[byte])
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append("\\x%02x" % byte)
    out.append('"')
    return "".join(out)
