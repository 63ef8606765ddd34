"""Lua scripting: the interpreter, the script cache, and the bridge between Lua values
and Redis replies.

Where it sits: EVAL and friends (commands/scripting.py) take the keyspace write lock
and call `ScriptEngine.run()`. The script runs in the one Lua 5.1 interpreter of the
server (lupa's `lua51`, the Lua version Redis embeds), set up by lua/bootstrap.lua with
Redis's sandbox and API. When the script calls `redis.call("GET", "k")`, Lua calls back
into `_dispatch()`, which resolves the command in the same command table clients use and
runs it with `registry.call()` (the lock is already held); the reply value is turned
into Lua values by Redis's conversion rules, and the script's return value is turned
back into a reply the same way (`_from_lua`). docs/scripting.md walks through it.

A script holds the write lock from start to end, which is what makes it atomic. The
price is Redis's: a script that loops forever stops everyone. So, as in Redis, a count
hook checks every HOOK_INSTRUCTIONS Lua instructions whether SCRIPT KILL (or SHUTDOWN)
asked the script to stop, and once a script has run longer than busy-reply-threshold,
clients waiting for the lock give up with -BUSY (registry.locked) instead of waiting.
A script that already changed the dataset cannot be killed: that would leave half of it.

Left out: script debugging (SCRIPT DEBUG), FUNCTION, the bit/struct/cmsgpack libraries,
replication of script effects, and scripts running concurrently: EVAL_RO takes the same
exclusive lock as EVAL, since one interpreter runs one script at a time anyway.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lupa import lua51

from common.resp import (INT64_MAX, INT64_MIN, NULL_ARRAY, BigNumber, ErrorReply, Push,
                         RespSet, Status, Verbatim, format_double, split_inline)
from redis_clone import errors
from redis_clone.clients import ClientState
from redis_clone.errors import RedisError
from redis_clone.registry import COMMANDS, NOSCRIPT, WRITE, call

if TYPE_CHECKING:
    from redis_clone.state import CommandContext, ServerState

log = logging.getLogger("redis_clone")

LUA_SOURCES = Path(__file__).parent / "lua"
HOOK_INSTRUCTIONS = 100_000   # how often the watchdog hook runs (Redis uses the same)
LOG_LEVELS = (logging.DEBUG, logging.INFO, logging.INFO, logging.WARNING)  # redis.LOG_*
SHEBANG_FLAGS = frozenset({b"no-writes", b"allow-oom", b"allow-stale", b"no-cluster",
                           b"allow-cross-slot-keys"})


@dataclass
class Script:
    sha: str
    function: object          # the compiled Lua function
    read_only: bool = False   # "#!lua flags=no-writes"


@dataclass
class RunningScript:
    """The script being run, as other client threads see it (BUSY, SCRIPT KILL)."""

    started: float                 # monotonic seconds
    context: "CommandContext"      # the script's own client: its db, its RESP version
    read_only: bool
    wrote: bool = False            # changed the dataset: SCRIPT KILL refuses
    kill_requested: bool = False


class ScriptEngine:
    """One Lua interpreter and its script cache, for the whole server.

    Locks: the cache and `run()` are used under the keyspace write lock. `running` is
    read without it by other client threads (refuse_if_busy, kill): it is replaced by
    whole-object assignments, and its flags are plain booleans.
    """

    def __init__(self, server: "ServerState", version: str) -> None:
        self._server = server
        self._lua = lua51.LuaRuntime(encoding=None, unpack_returned_tuples=True,
                                     register_eval=False, register_builtins=False,
                                     attribute_filter=_no_python_attributes)
        load = self._lua.eval("function(source, name) return assert(loadstring(source, name)) end")
        major, minor, patch = (int(part) for part in version.split("."))
        # `_entry` needs protected() and where() while the bridge is still being built:
        # they are plain Lua helpers, compiled first.
        self._api_calls = self._lua.execute(_HELPERS)
        self._api = load(_source("bootstrap.lua"), b"=bridge")(
            self._redis_call, self._redis_pcall, self._sha1hex, self._log, self._setresp,
            self._set_repl, self._entry, _unwrap, self._interrupted, _source("cjson.lua"),
            version.encode(), (major << 16) | (minor << 8) | patch, errors.SCRIPT_KILLED.encode())
        self._cache: dict[str, Script] = {}
        self.running: RunningScript | None = None

    # --- the cache: caller holds the keyspace write lock -----------------------------

    def load(self, body: bytes) -> Script:
        """The cached script for `body`, compiling it the first time (EVAL, SCRIPT LOAD)."""
        sha = hashlib.sha1(body).hexdigest()
        script = self._cache.get(sha)
        if script is None:
            read_only, source = _shebang(body)
            function, message = self._api.compile(source)
            if function is None:
                raise RedisError(_one_line(errors.script_compile_error(_text(message))))
            script = self._cache[sha] = Script(sha, function, read_only)
        return script

    def lookup(self, sha: bytes) -> Script:
        script = self._cache.get(sha.decode("ascii", "replace").lower())
        if script is None:
            raise RedisError(errors.NOSCRIPT)
        return script

    def exists(self, sha: bytes) -> bool:
        return sha.decode("ascii", "replace").lower() in self._cache

    def flush(self) -> None:
        self._cache.clear()

    # --- running ---------------------------------------------------------------------

    def run(self, ctx: "CommandContext", script: Script, keys: list[bytes],
            args: list[bytes], *, read_only: bool) -> object:
        """Run a script for the client in `ctx` and return its reply value.
        Caller holds the keyspace write lock."""
        from redis_clone.state import CommandContext  # state imports this module

        server = self._server
        # The script's own client: SELECT inside it does not move the caller, and
        # redis.setresp() changes only what the script sees.
        lua_client = ClientState(id=0, db=ctx.client.db)
        running = RunningScript(server.clock.monotonic(), CommandContext(server, lua_client, holds_lock=True),
                                read_only=read_only or script.read_only)
        self.running = running
        if server.config.get_int("busy-reply-threshold") > 0:
            self._api.arm(HOOK_INSTRUCTIONS)
        try:
            ok, result = self._api.run(script.function, self._lua.table_from(keys),
                                       self._lua.table_from(args))
        finally:
            self._api.disarm()
            self.running = None
        if not ok:
            return _script_error(result, script.sha)
        return self._from_lua(result, resp3=lua_client.protocol == 3)

    def refuse_if_busy(self) -> None:
        """-BUSY while a script has run longer than busy-reply-threshold (checked by the
        dispatcher for other clients' commands)."""
        running = self.running
        if running is None:
            return
        threshold_ms = self._server.config.get_int("busy-reply-threshold")
        elapsed_ms = (self._server.clock.monotonic() - running.started) * 1000
        if 0 < threshold_ms < elapsed_ms:
            raise errors.Refused(errors.BUSY)

    def kill(self) -> None:
        """SCRIPT KILL: ask the running script to stop at its next hook check."""
        running = self.running
        if running is None:
            raise RedisError(errors.NOTBUSY)
        if running.wrote:
            raise RedisError(errors.UNKILLABLE)
        running.kill_requested = True

    # --- the API scripts call (see lua/bootstrap.lua for why it is Python) ----------

    def _redis_call(self, *args):
        """redis.call: run a command; an error reply becomes a Lua error."""
        reply, failed = self._command(args)
        if failed:
            raise LuaRaise(reply)
        return reply

    def _redis_pcall(self, *args):
        """redis.pcall: run a command; an error reply is returned as {err=...}."""
        return self._command(args)[0]

    def _command(self, args: tuple) -> tuple[object, bool]:
        """Resolve and run one command for the script: (Lua value of the reply, failed).
        It goes through the same command table as clients, with the checks Redis's
        scriptCall makes first (no-script commands, writes from read-only scripts)."""
        if not args:
            return self._lua_error(errors.SCRIPT_NO_ARGUMENTS), True
        argv = _arguments(args)
        if argv is None:
            return self._lua_error(errors.SCRIPT_BAD_ARGUMENT), True
        running = self.running
        ctx = running.context
        try:
            spec, command_args = COMMANDS.resolve(argv)
        except errors.UnknownCommand:
            return self._lua_error(errors.SCRIPT_UNKNOWN_COMMAND), True
        except errors.WrongArity:
            return self._lua_error(errors.SCRIPT_WRONG_ARITY), True
        if spec.flags & NOSCRIPT:
            return self._lua_error(errors.SCRIPT_COMMAND_NOT_ALLOWED), True
        if spec.flags & WRITE and running.read_only:
            return self._lua_error(errors.SCRIPT_WRITE_IN_READONLY), True
        keyspace = self._server.keyspace
        changes = keyspace.dirty
        reply = call(ctx, spec, command_args)
        if keyspace.dirty != changes:
            running.wrote = True
        return self._to_lua(reply, resp3=ctx.client.protocol == 3), isinstance(reply, ErrorReply)

    def _sha1hex(self, *args) -> bytes:
        if len(args) != 1:
            raise LuaRaise(self._lua_error(errors.SCRIPT_SHA1HEX_ARITY))
        text = args[0]
        if type(text) in (int, float):
            text = _lua_tostring(text)
        return hashlib.sha1(text if type(text) is bytes else b"").hexdigest().encode()

    def _log(self, *args) -> None:
        if len(args) < 2:
            raise LuaRaise(self._lua_error(errors.SCRIPT_LOG_ARITY))
        level = _lua_tonumber(args[0])
        if level is None:
            raise LuaRaise(self._lua_error(errors.SCRIPT_LOG_LEVEL_NOT_NUMBER))
        if not 0 <= int(level) < len(LOG_LEVELS):
            raise LuaRaise(self._lua_error(errors.SCRIPT_LOG_LEVEL_INVALID))
        parts = [part if type(part) is bytes else _lua_tostring(part)
                 for part in args[1:] if type(part) in (bytes, int, float)]
        log.log(LOG_LEVELS[int(level)], "%s", _text(b" ".join(parts)))

    def _setresp(self, *args) -> None:
        if len(args) != 1:
            raise LuaRaise(self._lua_error(errors.SCRIPT_SETRESP_ARITY))
        protocol = int(_lua_tonumber(args[0]) or 0)
        if protocol not in (2, 3):
            raise LuaRaise(self._lua_error(errors.SCRIPT_SETRESP_VERSION))
        self.running.context.client.protocol = protocol

    def _set_repl(self, *args) -> None:
        """Replication is not implemented: only the checks, with Redis's texts."""
        if len(args) != 1:
            raise LuaRaise(self._lua_error(errors.SCRIPT_SET_REPL_ARITY))
        if not 0 <= int(_lua_tonumber(args[0]) or 0) <= 3:  # REPL_NONE .. REPL_ALL
            raise LuaRaise(self._lua_error(errors.SCRIPT_SET_REPL_FLAGS))

    def _entry(self, function):
        """Wrap a function of the Lua bridge (cjson.encode...) into a Python one for
        scripts to call: its errors get "user_script:<line>: " as the C library's do."""
        api = self._api_calls

        def api_function(*args):
            outcome = api.protected(function, *args)
            ok, *results = outcome if isinstance(outcome, tuple) else (outcome,)
            if ok:
                return tuple(results) if len(results) != 1 else results[0]
            failure = results[0]
            raise LuaRaise(api.where() + failure if type(failure) is bytes else failure)

        return api_function

    def _interrupted(self) -> bool:
        running = self.running
        return running.kill_requested or self._server.shutdown_requested.is_set()

    # --- conversions ---------------------------------------------------------------

    def _to_lua(self, reply, *, resp3: bool):
        """A reply value as redis.call() returns it to Lua (Redis's redisProtocolToLuaType).

        Under RESP2 the RESP3-only types arrive as their RESP2 forms (a map as a flat
        array, a double as a bulk string...), exactly as `common.resp.encode` sends them.
        """
        kind = type(reply)
        if kind is bytes or kind is int:
            return reply
        if reply is None or reply is NULL_ARRAY:
            return None if resp3 else False       # RESP2 nil bulk / nil array -> false
        if kind is Status:
            return self._table({b"ok": reply.encode("utf-8", "surrogateescape")})
        if kind is ErrorReply:
            return self._lua_error(reply)
        if kind is list or kind is tuple or kind is Push or (kind is RespSet and not resp3):
            return self._lua.table_from([self._to_lua(item, resp3=resp3) for item in reply])
        if kind is RespSet:
            return self._table({b"set": self._table({self._to_lua(item, resp3=True): True
                                                      for item in reply})})
        if kind is dict:
            if not resp3:
                return self._lua.table_from([self._to_lua(part, resp3=False)
                                             for pair in reply.items() for part in pair])
            return self._table({b"map": self._table({self._to_lua(k, resp3=True): self._to_lua(v, resp3=True)
                                                      for k, v in reply.items()})})
        if kind is bool:
            return reply if resp3 else int(reply)
        if kind is float:
            return self._table({b"double": reply}) if resp3 else format_double(reply)
        if kind is BigNumber:
            text = b"%d" % reply
            return self._table({b"big_number": text}) if resp3 else text
        if kind is Verbatim:
            if not resp3:
                return bytes(reply)
            return self._table({b"verbatim_string": self._table(
                {b"format": reply.fmt.encode(), b"string": bytes(reply)})})
        if kind is str:
            return reply.encode("utf-8", "surrogateescape")
        raise TypeError(f"cannot convert {kind.__name__} to Lua")

    def _from_lua(self, value, *, resp3: bool):
        """A script's return value as a reply (Redis's luaReplyToRedisReply).

        Numbers become integers (truncated), false becomes nil under RESP2, and a table
        is an error ({err=...}), a status ({ok=...}), a RESP3 type ({double=...},
        {map=...}...) or else an array that stops at the first nil.
        """
        if value is None:
            return None
        kind = type(value)
        if kind is bytes:
            return value
        if kind is bool:
            return value if resp3 else (1 if value else None)
        if kind is int or kind is float:
            return _to_integer(value)
        if lua51.lua_type(value) != "table":
            return None                     # functions, userdata (cjson.null)...
        error, status = value[b"err"], value[b"ok"]
        if type(error) is bytes:
            return ErrorReply(_one_line(_text(error)))
        if type(status) is bytes:
            return Status(_one_line(_text(status)))
        double = value[b"double"]
        if type(double) in (int, float):
            return float(double)
        big_number = value[b"big_number"]
        if type(big_number) is bytes:
            return BigNumber(int(big_number)) if _is_integer(big_number) else big_number
        verbatim = value[b"verbatim_string"]
        if lua51.lua_type(verbatim) == "table":
            fmt, text = verbatim[b"format"], verbatim[b"string"]
            if type(fmt) is bytes and type(text) is bytes:
                return Verbatim(text, _text(fmt[:3]))
        mapping = value[b"map"]
        if lua51.lua_type(mapping) == "table":
            return {_frozen(self._from_lua(k, resp3=resp3)): self._from_lua(v, resp3=resp3)
                    for k, v in mapping.items()}
        members = value[b"set"]
        if lua51.lua_type(members) == "table":
            return RespSet(self._from_lua(member, resp3=resp3) for member in members.keys())
        items = []
        while (item := value[len(items) + 1]) is not None:
            items.append(self._from_lua(item, resp3=resp3))
        return items

    def _table(self, fields: dict):
        return self._lua.table_from(fields)

    def _lua_error(self, message: str):
        return self._table({b"err": message.encode("utf-8", "surrogateescape")})


def _script_error(failure, sha: str) -> ErrorReply:
    """The reply for a script that raised: its message, and where (Redis 7's suffix)."""
    if lua51.lua_type(failure) != "table":  # cannot happen: the error handler makes tables
        return ErrorReply(_one_line("ERR " + _text(failure)))
    message, source, line = failure[b"err"], failure[b"source"], failure[b"line"]
    if type(message) in (int, float):
        message = b"%g" % message
    text = _text(message) if type(message) is bytes else "ERR unknown error"
    if type(source) is bytes and type(line) in (int, float):
        text = errors.script_failed(text, sha, _text(source), int(line))
    return ErrorReply(_one_line(text))


def _shebang(body: bytes) -> tuple[bool, bytes]:
    """Parse "#!lua flags=no-writes,..." (Redis 7): returns (read_only, Lua source).

    The shebang line becomes a Lua comment rather than disappearing, so that error
    messages keep their line numbers.
    """
    if not body.startswith(b"#!"):
        return False, body
    end = body.find(b"\n")
    if end < 0:
        raise RedisError(errors.SHEBANG_INVALID)
    parts = split_inline(body[:end])
    if not parts:
        raise RedisError(errors.SHEBANG_NO_ENGINE)
    if parts[0] != b"#!lua":
        raise RedisError(errors.shebang_unknown_engine(_text(parts[0])))
    flags: set[bytes] = set()
    for option in parts[1:]:
        if not option.startswith(b"flags="):
            raise RedisError(errors.shebang_unknown_option(_text(option)))
        for flag in filter(None, option[len(b"flags="):].split(b",")):
            if flag not in SHEBANG_FLAGS:
                raise RedisError(errors.shebang_unknown_flag(_text(flag)))
            flags.add(flag)
    return b"no-writes" in flags, b"--" + body[2:]


def _frozen(value):
    """A map key that is itself an array (a table as a Lua key) as a hashable tuple;
    `common.resp.encode` writes tuples as arrays."""
    return tuple(_frozen(item) for item in value) if isinstance(value, list) else value


def _to_integer(number: int | float) -> int:
    """A Lua number as Redis replies it: C's (long long) cast, which truncates, and on
    x86-64 turns NaN and anything out of range into LLONG_MIN."""
    if isinstance(number, float) and not math.isfinite(number):
        return INT64_MIN
    number = int(number)
    return number if INT64_MIN <= number <= INT64_MAX else INT64_MIN


def _is_integer(text: bytes) -> bool:
    return text.lstrip(b"-").isdigit()


class LuaRaise(Exception):
    """Raised by a Python function a script called, to raise a Lua error whose value is
    `value`: an {err=...} table, or a message (bytes). Lua sees the exception as a
    userdata; the bridge's error handler and pcall turn it back with `_unwrap`."""

    def __init__(self, value) -> None:
        super().__init__(value)
        self.value = value


def _unwrap(exception: BaseException):
    if isinstance(exception, LuaRaise):
        return exception.value
    return str(exception).encode("utf-8", "replace")  # a bug on our side: still an error


def _arguments(args: tuple) -> list[bytes] | None:
    """redis.call's arguments as a command line: strings as they are, numbers as %.17g
    (not tostring's 14 digits); anything else is refused (None)."""
    argv = []
    for arg in args:
        kind = type(arg)
        if kind is bytes:
            argv.append(arg)
        elif kind is int or kind is float:
            argv.append(_format_c_double(arg, 17))
        else:
            return None
    return argv


def _format_c_double(number: int | float, digits: int) -> bytes:
    """C's printf("%.<digits>g"): Python agrees, except that glibc prints the sign of a
    NaN (0/0 is "-nan" on x86-64)."""
    if number != number:
        return b"-nan" if math.copysign(1.0, number) < 0 else b"nan"
    return b"%.*g" % (digits, number)


def _lua_tostring(number: int | float) -> bytes:
    return _format_c_double(number, 14)  # Lua 5.1's LUAI_NUMFFORMAT "%.14g"


def _lua_tonumber(value) -> float | None:
    """Lua's tonumber() for a number or a numeric string, else None."""
    if type(value) in (int, float):
        return value
    if type(value) is bytes:
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _text(data) -> str:
    return data.decode("utf-8", "surrogateescape") if isinstance(data, bytes) else str(data)


def _one_line(text: str) -> str:
    # Error and status replies are single lines: Redis maps CR and LF to spaces.
    return text.replace("\r", " ").replace("\n", " ")


_HELPERS = """
local pcall, getinfo = pcall, debug.getinfo  -- the originals: the sandbox replaces both
return {
  protected = function(f, ...) return pcall(f, ...) end,
  -- "user_script:3: ", where luaL_error would say the error happened: the line that
  -- called the Python function. Levels: 1 this, 2 the Python function, 3 its caller.
  where = function()
    local frame = getinfo(3, 'Sl')
    if frame and frame.currentline > 0 then
      return frame.short_src .. ':' .. frame.currentline .. ': '
    end
    return ''
  end,
}"""


def _source(name: str) -> bytes:
    return (LUA_SOURCES / name).read_bytes()


def _no_python_attributes(obj, name, is_setting):
    """Scripts never reach Python objects' attributes (lupa exposes them by default)."""
    raise AttributeError(name)
