"""The Lua bridge without sockets: conversions both ways, the sandbox, cjson, the
script cache, and the BUSY/SCRIPT KILL bookkeeping (with a fake clock). Byte-exact
comparisons with real Redis are in tests/integration/corpus/scripting.txt."""

from __future__ import annotations

import hashlib

import pytest

from common.clock import FakeClock
from common.resp import BigNumber, ErrorReply, RespSet, Status, Verbatim
from redis_clone import errors
from redis_clone.registry import execute
from redis_clone.scripting import RunningScript
from redis_clone.state import CommandContext, ServerState

import redis_clone.commands  # noqa: F401  (registers the commands)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def state(clock):
    return ServerState(clock=clock)


@pytest.fixture
def ctx(state):
    return CommandContext(state, state.clients.register())


def run(ctx, *argv):
    return execute(ctx, [a if isinstance(a, bytes) else str(a).encode() for a in argv])


def evaluate(ctx, body: str, *keys_then_args, numkeys: int = 0):
    return run(ctx, "EVAL", body, numkeys, *keys_then_args)


# --- Lua -> reply ----------------------------------------------------------------------

@pytest.mark.parametrize("body,reply", [
    ("return 42", 42),
    ("return 3.99", 3),                     # numbers are truncated to integers
    ("return -3.99", -3),
    ("return 1/0", -2**63),                 # C's cast: out of range is LLONG_MIN
    ("return 'text'", b"text"),
    ("return true", 1),
    ("return false", None),
    ("return nil", None),
    ("return {1, 'two', {3}}", [1, b"two", [3]]),
    ("return {1, 2, nil, 4}", [1, 2]),      # an array stops at the first nil
    ("return {a = 1}", []),                 # string keys are not an array
    ("return {ok = 'FINE'}", Status("FINE")),
    ("return {err = 'MYERR bad'}", ErrorReply("MYERR bad")),
    ("return redis.status_reply('DONE')", Status("DONE")),
    ("return redis.error_reply('bad thing')", ErrorReply("bad thing")),
    ("return redis.error_reply('oops')", ErrorReply("ERR oops")),
    ("return {double = 2.5}", 2.5),
    ("return {map = {k = 'v'}}", {b"k": b"v"}),
    ("return {set = {m = true}}", RespSet([b"m"])),
    ("return {big_number = '123'}", BigNumber(123)),
    ("return {verbatim_string = {format = 'txt', string = 'hi'}}", Verbatim(b"hi")),
    ("return cjson.null", None),
])
def test_lua_values_become_replies_as_in_redis(ctx, body, reply):
    assert evaluate(ctx, body) == reply
    assert type(evaluate(ctx, body)) is type(reply)


def test_booleans_are_resp3_booleans_after_setresp_3(ctx):
    assert evaluate(ctx, "redis.setresp(3) return false") is False
    assert evaluate(ctx, "redis.setresp(3) return true") is True


# --- reply -> Lua ----------------------------------------------------------------------

@pytest.mark.parametrize("body,reply", [
    ("return type(redis.call('GET', 'missing'))", b"boolean"),          # nil bulk -> false
    ("return redis.call('SET', 'k', 'v').ok", b"OK"),                    # status -> {ok=}
    ("redis.call('SET', 'k', 'x') return redis.pcall('INCR', 'k').err", errors.NOT_INTEGER.encode()),
    ("return redis.call('EXISTS', 'k') + 1", 1),                          # integer -> number
    ("return redis.call('HGETALL', 'nohash')", []),
    ("redis.call('HSET', 'h', 'f', 'v') return redis.call('HGETALL', 'h')", [b"f", b"v"]),
    ("redis.setresp(3) redis.call('HSET', 'h', 'f', 'v') return redis.call('HGETALL', 'h').map.f", b"v"),
    ("redis.call('ZADD', 'z', 1.5, 'm') return redis.call('ZSCORE', 'z', 'm')", b"1.5"),
    ("redis.setresp(3) redis.call('ZADD', 'z', 1.5, 'm') return tostring(redis.call('ZSCORE', 'z', 'm').double)", b"1.5"),
    ("redis.setresp(3) return redis.call('GET', 'missing') == nil", True),
    ("return redis.call('SET', 'n', 0.1) and redis.call('GET', 'n')", b"0.10000000000000001"),  # %.17g
])
def test_replies_become_lua_values_as_in_redis(ctx, body, reply):
    assert evaluate(ctx, body) == reply


def test_keys_and_argv_are_the_scripts_arguments(ctx):
    assert evaluate(ctx, "return {KEYS[1], KEYS[2], ARGV[1]}", "k1", "k2", "a1", numkeys=2) == [b"k1", b"k2", b"a1"]


# --- errors -----------------------------------------------------------------------------

def test_errors_name_the_script_and_its_line_even_after_a_tail_call(ctx):
    body = "local x = 1\nreturn redis.call('NOPE')"
    sha = hashlib.sha1(body.encode()).hexdigest()
    assert evaluate(ctx, body) == ErrorReply(
        f"ERR Unknown Redis command called from script script: {sha}, on @user_script:2.")


def test_a_compile_error_names_the_line_without_a_script_reference(ctx):
    assert evaluate(ctx, "return +") == ErrorReply(
        "ERR Error compiling script (new function): user_script:1: unexpected symbol near '+'")


@pytest.mark.parametrize("body,start", [
    ("return redis.call('BLPOP', 'q', 0)", errors.SCRIPT_COMMAND_NOT_ALLOWED),
    ("return redis.call('GET')", errors.SCRIPT_WRONG_ARITY),
    ("return redis.call()", errors.SCRIPT_NO_ARGUMENTS),
    ("return redis.call('SET', 'k', {})", errors.SCRIPT_BAD_ARGUMENT),
    ("error('boom')", "ERR user_script:1: boom"),
    ("return cjson.encode({[1]=1, [20]=2})", "ERR user_script:1: Cannot serialise table: excessively sparse array"),
])
def test_script_errors_have_redis_texts(ctx, body, start):
    assert evaluate(ctx, body).startswith(start + " script: ")


def test_eval_ro_refuses_writes(ctx):
    assert run(ctx, "EVAL_RO", "return redis.call('SET', 'k', 'v')", 0).startswith(errors.SCRIPT_WRITE_IN_READONLY)
    assert run(ctx, "GET", "k") is None


# --- the sandbox ----------------------------------------------------------------------

@pytest.mark.parametrize("body,start", [
    ("x = 1", "ERR user_script:1: Attempt to modify a readonly table"),
    ("return undefined_thing", "ERR user_script:1: Script attempted to access nonexistent global variable 'undefined_thing'"),
    ("return os.time()", "ERR user_script:1: Script attempted to access nonexistent global variable 'os'"),
    ("return io", "ERR user_script:1: Script attempted to access nonexistent global variable 'io'"),
    ("return loadfile", "ERR user_script:1: Script attempted to access nonexistent global variable 'loadfile'"),
    ("return dofile", "ERR user_script:1: Script attempted to access nonexistent global variable 'dofile'"),
    ("return debug", "ERR user_script:1: Script attempted to access nonexistent global variable 'debug'"),
    ("return python", "ERR user_script:1: Script attempted to access nonexistent global variable 'python'"),
    ("redis.call = nil", "ERR user_script:1: Attempt to modify a readonly table"),
    ("string.len = nil", "ERR user_script:1: Attempt to modify a readonly table"),
    ("rawset(_G, 'x', 1)", "ERR Attempt to modify a readonly table"),
    ("loadstring('y = 2')()", 'ERR [string "y = 2"]:1: Attempt to modify a readonly table'),
])
def test_the_sandbox_refuses(ctx, body, start):
    assert evaluate(ctx, body).startswith(start + " script: ")


def test_globals_do_not_leak_from_one_script_to_the_next(ctx):
    evaluate(ctx, "local ok = pcall(function() leaked = 1 end)")
    assert evaluate(ctx, "return leaked").startswith("ERR user_script:1: Script attempted to access")


def test_keys_can_be_changed_inside_a_script_but_not_replaced(ctx):
    assert evaluate(ctx, "KEYS[1] = 'x' return KEYS[1]") == b"x"
    assert evaluate(ctx, "KEYS = {}").startswith("ERR user_script:1: Attempt to modify a readonly table")


# --- cjson ----------------------------------------------------------------------------

@pytest.mark.parametrize("body,reply", [
    ("return cjson.encode({1, 2, 3})", b"[1,2,3]"),
    ("return cjson.encode({})", b"{}"),
    ("return cjson.encode({a = {b = 'c/d'}})", b'{"a":{"b":"c\\/d"}}'),
    ("return cjson.encode(1/3)", b"0.33333333333333"),
    ("return cjson.encode({1, nil, 3})", b"[1,null,3]"),
    ("return cjson.encode('\\1\\127')", b'"\\u0001\\u007f"'),
    ("return cjson.decode('[1,\"a\",{\"b\":true}]')[3].b", 1),
    ("return cjson.decode('null') == cjson.null", 1),
    ("return cjson.decode('\"\\\\u00e9\"')", "é".encode()),
    ("return cjson.encode(cjson.decode('{\"x\":[1,2,{\"y\":null}]}'))", b'{"x":[1,2,{"y":null}]}'),
])
def test_cjson_behaves_like_lua_cjson(ctx, body, reply):
    assert evaluate(ctx, body) == reply


@pytest.mark.parametrize("body,message", [
    ("return cjson.decode('[1,2')", "Expected comma or array end but found T_END at character 5"),
    ("return cjson.decode('')", "Expected value but found T_END at character 1"),
    ("return cjson.decode('{1:2}')", "Expected object key string but found T_NUMBER at character 2"),
    ("return cjson.encode(0/0)", "Cannot serialise number: must not be NaN or Inf"),
    ("return cjson.encode(print)", "Script attempted to access nonexistent global variable 'print'"),
    ("return cjson.encode(function() end)", "Cannot serialise function: type not supported"),
])
def test_cjson_errors_are_lua_cjsons(ctx, body, message):
    assert evaluate(ctx, body).startswith(f"ERR user_script:1: {message} script: ")


# --- the cache, BUSY and SCRIPT KILL ---------------------------------------------------

def test_script_load_then_evalsha_and_script_flush(ctx):
    sha = run(ctx, "SCRIPT", "LOAD", "return 'loaded'")
    assert run(ctx, "EVALSHA", sha, 0) == b"loaded"
    assert run(ctx, "EVALSHA", sha.upper(), 0) == b"loaded"
    assert run(ctx, "SCRIPT", "FLUSH") == "OK"
    assert run(ctx, "EVALSHA", sha, 0) == ErrorReply(errors.NOSCRIPT)


def pretend_running(state, ctx, *, started: float, wrote: bool = False) -> RunningScript:
    running = RunningScript(started, ctx, read_only=False, wrote=wrote)
    state.scripts.running = running
    return running


def test_other_clients_get_busy_only_after_the_threshold(state, ctx, clock):
    state.config.set("busy-reply-threshold", "100")
    pretend_running(state, ctx, started=clock.monotonic())
    assert run(ctx, "PING") == "PONG"
    clock.advance(0.2)
    assert run(ctx, "PING") == ErrorReply(errors.BUSY)
    assert run(ctx, "MULTI") == "OK"                 # allowed while busy
    assert run(ctx, "EXEC") == "EXECABORT Transaction discarded because of: " + errors.BUSY
    state.scripts.running = None
    assert run(ctx, "PING") == "PONG"


def test_script_kill_marks_the_running_script_unless_it_wrote(state, ctx, clock):
    assert run(ctx, "SCRIPT", "KILL") == ErrorReply(errors.NOTBUSY)
    running = pretend_running(state, ctx, started=clock.monotonic())
    assert run(ctx, "SCRIPT", "KILL") == "OK" and running.kill_requested
    pretend_running(state, ctx, started=clock.monotonic(), wrote=True)
    assert run(ctx, "SCRIPT", "KILL") == ErrorReply(errors.UNKILLABLE)
    state.scripts.running = None


def test_a_script_that_wrote_is_marked_so(state, ctx):
    seen = []
    original = state.scripts._command

    def spy(args):
        reply = original(args)
        seen.append(state.scripts.running.wrote)
        return reply

    state.scripts._command = spy
    evaluate(ctx, "redis.call('GET', 'k') redis.call('SET', 'k', 'v') redis.call('GET', 'k')")
    assert seen == [False, True, True]


def test_numkeys_errors(ctx):
    assert run(ctx, "EVAL", "return 1", "-1") == ErrorReply(errors.NUMKEYS_NEGATIVE)
    assert run(ctx, "EVAL", "return 1", "2", "a") == ErrorReply(errors.NUMKEYS_TOO_MANY)
    assert run(ctx, "EVAL", "return 1", "x") == ErrorReply(errors.NOT_INTEGER)


def test_script_flush_accepts_only_sync_or_async(ctx):
    assert run(ctx, "SCRIPT", "FLUSH", "LATER") == ErrorReply(errors.SCRIPT_FLUSH_MODE)
