"""Lua scripting end to end: atomicity under contention, the script cache, BUSY and
SCRIPT KILL. Reply details (conversions, errors, the sandbox, cjson) are compared with
real Redis in corpus/scripting.txt."""

from __future__ import annotations

import hashlib
import threading

import pytest

from tests.integration.helpers import wait_until
from tests.conftest import RawConnection

THREADS, ROUNDS = 8, 1000
BOUND = 20.0  # seconds: only reached when something is broken

INCREMENT = """
local value = tonumber(redis.call('GET', KEYS[1]) or '0')
redis.call('SET', KEYS[1], value + 1)
return value + 1
"""


def run_threads(work) -> None:
    start = threading.Barrier(THREADS)
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            start.wait()
            work()
        except BaseException as err:  # reported below: a thread must not fail silently
            failures.append(err)

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures, failures



def test_a_read_modify_write_script_is_atomic_under_eight_threads(server):
    sha = RawConnection(server.port).command("SCRIPT", "LOAD", INCREMENT).decode()

    def work() -> None:
        conn = RawConnection(server.port)
        for _ in range(ROUNDS):
            conn.command("EVALSHA", sha, "1", "counter")
        conn.close()

    run_threads(work)
    assert RawConnection(server.port).command("GET", "counter") == b"%d" % (THREADS * ROUNDS)


def test_evalsha_of_an_unknown_script_answers_noscript_and_eval_caches_it(client):
    redis = pytest.importorskip("redis")
    sha = hashlib.sha1(b"return 'cached'").hexdigest()
    with pytest.raises(redis.exceptions.NoScriptError):
        client.evalsha(sha, 0)
    assert client.eval("return 'cached'", 0) == b"cached"
    assert client.evalsha(sha, 0) == b"cached"          # EVAL put it in the cache
    assert client.script_exists(sha) == [True]


def test_the_script_cache_outlives_the_connection_until_script_flush(server):
    first = RawConnection(server.port)
    sha = first.command("SCRIPT", "LOAD", "return ARGV[1]").decode()
    first.close()
    second = RawConnection(server.port)
    assert second.command("EVALSHA", sha, "0", "kept") == b"kept"
    assert second.command("SCRIPT", "FLUSH") == "OK"
    assert second.command("SCRIPT", "EXISTS", sha) == [0]
    assert second.command("EVALSHA", sha, "0", "x").startswith("NOSCRIPT")


def test_a_script_sees_and_writes_the_callers_database_but_its_select_stays_inside(client):
    client.execute_command("SELECT", 3)
    client.set("k", "three")
    assert client.eval("local v = redis.call('GET', 'k') redis.call('SELECT', 0) "
                       "redis.call('SET', 'k', 'zero') return v", 0) == b"three"
    assert client.get("k") == b"three"
    client.execute_command("SELECT", 0)
    assert client.get("k") == b"zero"


def test_clients_blocked_on_a_key_a_script_pushed_to_are_served_when_it_ends(server):
    waiter = RawConnection(server.port)
    waiter.send(b"*3\r\n$5\r\nBLPOP\r\n$5\r\nqueue\r\n$1\r\n0\r\n")
    admin = RawConnection(server.port)
    wait_until(lambda: b"blocked_clients:1" in admin.command("INFO", "clients"),
               timeout=BOUND, message="the BLPOP")
    assert admin.command("EVAL", "redis.call('RPUSH', 'queue', 'a', 'b') return "
                         "redis.call('LLEN', 'queue')", "0") == 2
    assert waiter.read() == [b"queue", b"a"]
    assert admin.command("LRANGE", "queue", "0", "-1") == [b"b"]


# --- BUSY and SCRIPT KILL ------------------------------------------------------------

@pytest.fixture
def busy_threshold(server):
    admin = RawConnection(server.port)
    assert admin.command("CONFIG", "SET", "busy-reply-threshold", "100") == "OK"
    yield admin
    admin.close()


def start_script(server, body: str) -> tuple[threading.Thread, dict]:
    result: dict = {}
    conn = RawConnection(server.port)

    def run() -> None:
        try:
            result["reply"] = conn.command("EVAL", body, "0")
        except ConnectionError:
            result["reply"] = None  # the server shut down under it

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def test_a_looping_script_makes_others_busy_until_script_kill_stops_it(server, busy_threshold):
    admin = busy_threshold
    thread, result = start_script(server, "local i = 0 while true do i = i + 1 end")
    wait_until(lambda: admin.command("PING") != "PONG", timeout=BOUND,
               message="the script to become busy")
    assert admin.command("PING") == ("BUSY Redis is busy running a script. You can only "
                                     "call SCRIPT KILL or SHUTDOWN NOSAVE.")
    assert admin.command("GET", "x").startswith("BUSY")       # waiting for the lock, too
    assert admin.command("SCRIPT", "KILL") == "OK"
    thread.join(BOUND)
    assert result["reply"].startswith("ERR Script killed by user with SCRIPT KILL... script: ")
    assert admin.command("PING") == "PONG"
    assert admin.command("SCRIPT", "KILL") == "NOTBUSY No scripts in execution right now."


def test_a_busy_script_cannot_keep_itself_alive_with_pcall(server, busy_threshold):
    admin = busy_threshold
    thread, result = start_script(server, "while true do pcall(function() while true do end end) end")
    wait_until(lambda: admin.command("PING") != "PONG", timeout=BOUND,
               message="the script to become busy")
    assert admin.command("SCRIPT", "KILL") == "OK"
    thread.join(BOUND)
    assert not thread.is_alive()
    assert result["reply"].startswith("ERR Script killed by user with SCRIPT KILL...")


def test_a_script_that_wrote_cannot_be_killed_but_shutdown_nosave_stops_it(server, busy_threshold):
    admin = busy_threshold
    thread, result = start_script(server, "redis.call('SET', 'written', '1') while true do end")
    wait_until(lambda: admin.command("PING") != "PONG", timeout=BOUND,
               message="the script to become busy")
    assert admin.command("SCRIPT", "KILL").startswith(
        "UNKILLABLE Sorry the script already executed write commands against the dataset.")
    other = RawConnection(server.port)
    assert other.command("MULTI") == "OK"                     # MULTI may run while busy
    assert other.command("EXEC").startswith("EXECABORT Transaction discarded because of: BUSY")
    admin.send(b"*2\r\n$8\r\nSHUTDOWN\r\n$6\r\nNOSAVE\r\n")
    thread.join(BOUND)
    assert not thread.is_alive()   # the watchdog saw the shutdown and ended the script
