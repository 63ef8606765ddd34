"""Server commands end to end: CONFIG, COMMAND, INFO, CLIENT, DEBUG, SHUTDOWN, TIME...

Reply-by-reply comparisons with real Redis live in corpus/server.txt; here are the
behaviours a corpus line cannot show (effects on the server, files, other connections,
the clock), what real clients make of our replies, and comparisons that need more than
equality (the same parameter names, the same COMMAND INFO up to ordering).
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from common.clock import FakeClock
from common.resp import Verbatim
from redis_clone.registry import NO_REPLY, execute
from redis_clone.server import RedisServer
from redis_clone.state import CommandContext, ServerState
from tests.conftest import RawConnection, make_config

CLIENT_LIST_FIELDS = ["id", "addr", "laddr", "fd", "name", "age", "idle", "flags", "db", "sub",
                      "psub", "ssub", "multi", "qbuf", "qbuf-free", "argv-mem", "multi-mem", "rbs",
                      "rbp", "obl", "oll", "omem", "tot-mem", "events", "cmd", "user", "redir", "resp"]


@pytest.fixture
def started():
    """Start our server with a given config; stopped at the end of the test."""
    servers = []

    def start(config=None, clock=None) -> RedisServer:
        servers.append(RedisServer(config or make_config(), clock))
        servers[-1].start()
        return servers[-1]

    yield start
    for srv in servers:
        srv.stop()


def run(state: ServerState, *argv):
    """One command through the dispatcher, no socket."""
    ctx = CommandContext(state, state.clients.register(addr="127.0.0.1:5000"))
    return execute(ctx, [a.encode() if isinstance(a, str) else a for a in argv])


def fields(line: bytes) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in line.decode().split())


# --- CONFIG -------------------------------------------------------------------------

def test_config_get_star_lists_the_same_names_as_real_redis(client, real_redis_port):
    real = RawConnection(real_redis_port)
    try:
        real_names = set(real.command("CONFIG", "GET", "*")[0::2])
    finally:
        real.close()
    assert set(client.config_get("*")) == {name.decode() for name in real_names}


def test_config_set_changes_what_the_server_uses(server, client):
    assert client.config_set("hz", 50) is True
    assert server.state.config.get_int("hz") == 50  # the cron reads it every period
    client.config_set("maxmemory", "10mb")
    assert client.config_get("maxmemory") == {"maxmemory": "10485760"}
    assert client.info("memory")["maxmemory"] == 10485760


def test_config_get_is_a_map_in_resp3(raw):
    conn = raw()
    conn.command("HELLO", "3")
    assert conn.command("CONFIG", "GET", "hz", "databases") == {b"hz": b"10", b"databases": b"16"}


def test_protected_configs_can_be_changed_from_localhost_when_allowed(started, tmp_path):
    srv = started(make_config(enable_protected_configs="local"))
    conn = RawConnection(srv.port)
    assert conn.command("CONFIG", "SET", "dir", str(tmp_path), "dbfilename", "x.rdb") == "OK"
    assert conn.command("CONFIG", "GET", "dir") == [b"dir", str(tmp_path).encode()]
    assert conn.command("CONFIG", "SET", "dir", str(tmp_path / "nope")) == (
        "ERR CONFIG SET failed (possibly related to argument 'dir') - No such file or directory")
    conn.close()


def test_config_rewrite_writes_the_file_the_server_started_with(started, tmp_path):
    path = tmp_path / "redis.conf"
    path.write_text("# test\nport 0\nsave \"\"\nhz 15\n")
    config = make_config()
    config.load_file(str(path))
    srv = started(config)
    conn = RawConnection(srv.port)
    assert conn.command("CONFIG", "SET", "hz", "25", "maxmemory-policy", "allkeys-lru") == "OK"
    assert conn.command("CONFIG", "REWRITE") == "OK"
    text = path.read_text()
    assert "hz 25\n" in text and "maxmemory-policy allkeys-lru\n" in text
    assert text.startswith("# test\n")
    assert conn.command("INFO", "server").decode().count(f"config_file:{path}\r\n") == 1
    conn.close()


def test_config_resetstat_zeroes_the_counters(client):
    client.ping()
    client.get("missing")
    assert client.info("stats")["keyspace_misses"] == 1
    client.config_resetstat()
    stats = client.info("stats")
    assert stats["keyspace_misses"] == 0
    assert stats["total_commands_processed"] == 1  # the RESETSTAT: a command counts once run


# --- INFO -----------------------------------------------------------------------------

def test_info_default_has_redis_sections_in_order(raw):
    text = raw().command("INFO").decode()
    titles = [line for line in text.split("\r\n") if line.startswith("#")]
    assert titles == ["# Server", "# Clients", "# Memory", "# Persistence", "# Stats",
                      "# Replication", "# CPU", "# Modules", "# Errorstats", "# Cluster", "# Keyspace"]
    assert text.endswith("\r\n") and "\r\n\r\n# Clients\r\n" in text


def test_info_all_adds_the_command_statistics_sections(raw):
    text = raw().command("INFO", "all").decode()
    assert "# Commandstats\r\n" in text and "# Latencystats\r\n" in text


def test_info_sections_come_in_redis_order_whatever_the_argument_order(raw):
    assert raw().command("INFO", "keyspace", "CLUSTER", "nosuch") == (
        b"# Cluster\r\ncluster_enabled:0\r\n\r\n# Keyspace\r\n")


def test_info_server_reports_version_port_and_uptime(server, client):
    info = client.info("server")
    assert info["redis_version"] == "7.0.15"
    assert info["tcp_port"] == server.port
    assert info["redis_mode"] == "standalone"
    assert info["run_id"] == server.state.run_id
    assert info["uptime_in_seconds"] >= 0


def test_info_keyspace_lists_only_databases_with_keys(client):
    client.set("a", 1)
    client.set("b", 2, ex=100)
    client.execute_command("SELECT", 3)
    client.set("c", 3)
    assert client.info("keyspace") == {
        "db0": {"keys": 2, "expires": 1, "avg_ttl": 0},
        "db3": {"keys": 1, "expires": 0, "avg_ttl": 0},
    }


def test_info_counts_clients_connections_and_commands(server, client, raw):
    raw().command("PING")
    info = client.info()
    assert info["connected_clients"] == 2
    assert info["total_connections_received"] == 2
    assert info["total_commands_processed"] >= 2
    assert info["rdb_changes_since_last_save"] == 0
    client.set("k", "v")
    assert client.info("persistence")["rdb_changes_since_last_save"] == 1


def test_info_is_a_verbatim_string_in_resp3(raw):
    conn = raw()
    conn.command("HELLO", "3")
    reply = conn.command("INFO", "cluster")
    assert type(reply) is Verbatim and reply.fmt == "txt"
    assert reply == b"# Cluster\r\ncluster_enabled:0\r\n"


# --- DBSIZE, FLUSH, TIME, LASTSAVE -----------------------------------------------------

def test_flushall_empties_every_database_and_flushdb_only_the_selected_one(client):
    client.mset({"a": 1, "b": 2})
    client.execute_command("SELECT", 1)
    client.set("c", 3)
    assert client.flushdb() is True
    assert client.dbsize() == 0
    client.execute_command("SELECT", 0)
    assert client.dbsize() == 2
    client.execute_command("SELECT", 1)
    client.set("c", 3)
    assert client.flushall(asynchronous=True) is True
    assert client.dbsize() == 0
    client.execute_command("SELECT", 0)
    assert client.dbsize() == 0


def test_time_and_lastsave_come_from_the_server_clock():
    state = ServerState(make_config(), FakeClock(start=1_700_000_123.25))
    assert run(state, "TIME") == [b"1700000123", b"250000"]
    state.clock.advance(10.5)
    assert run(state, "TIME") == [b"1700000133", b"750000"]
    assert run(state, "LASTSAVE") == 1_700_000_123


# --- DEBUG and SHUTDOWN -------------------------------------------------------------------

def test_debug_is_refused_unless_enable_debug_command_allows_it(raw):
    assert raw().command("DEBUG", "SLEEP", "0").startswith("ERR DEBUG command not allowed.")


def test_debug_sleep_blocks_only_its_own_connection(started):
    srv = started(make_config(enable_debug_command="local"))
    sleeper, other = RawConnection(srv.port), RawConnection(srv.port)
    sleeper.send(b"*3\r\n$5\r\nDEBUG\r\n$5\r\nSLEEP\r\n$2\r\n60\r\n")
    while b"cmd=debug" not in other.command("CLIENT", "LIST"):
        pass  # until the sleeper's DEBUG is running
    assert other.command("SET", "k", "v") == "OK"  # no keyspace lock is held meanwhile
    assert other.command("GET", "k") == b"v"
    srv.request_shutdown()  # cuts the sleep short
    assert sleeper.read() == "OK"
    sleeper.close()
    other.close()


def test_debug_log_writes_to_the_server_log(started, caplog):
    srv = started(make_config(enable_debug_command="yes"))
    conn = RawConnection(srv.port)
    with caplog.at_level("WARNING", logger="redis_clone"):
        assert conn.command("DEBUG", "LOG", "hello there") == "OK"
    assert "DEBUG LOG: hello there" in caplog.text
    conn.close()


def test_shutdown_closes_the_connection_without_a_reply(server, raw):
    conn = raw()
    conn.send(b"*2\r\n$8\r\nSHUTDOWN\r\n$6\r\nNOSAVE\r\n*1\r\n$4\r\nPING\r\n")
    assert conn.read_raw_until_closed() == b""  # not even the PING after it
    assert server.state.shutdown_requested.is_set()


def test_shutdown_handler_asks_for_no_reply():
    state = ServerState(make_config(), FakeClock())
    assert run(state, "SHUTDOWN", "NOW") is NO_REPLY
    assert state.shutdown_requested.is_set()


# --- CLIENT -------------------------------------------------------------------------------

def test_client_setname_and_getname(client):
    assert client.client_getname() is None
    assert client.client_setname("worker-1") is True
    assert client.client_getname() == "worker-1"


def test_client_list_shows_every_connection_in_redis_field_order(server, raw):
    first, second = raw(), raw()
    first.command("CLIENT", "SETNAME", "first")
    second.command("SELECT", "2")
    lines = second.command("CLIENT", "LIST").decode().splitlines()
    assert [list(fields(line.encode())) for line in lines] == [CLIENT_LIST_FIELDS] * 2
    by_name = {fields(line.encode())["name"]: fields(line.encode()) for line in lines}
    assert by_name["first"]["cmd"] == "client|setname"
    assert by_name[""]["cmd"] == "client|list"
    assert by_name[""]["db"] == "2"
    assert by_name[""]["laddr"] == f"127.0.0.1:{server.port}"
    assert by_name[""]["id"] == str(second.command("CLIENT", "ID"))


def test_client_list_by_id_keeps_the_order_asked(raw):
    first, second = raw(), raw()
    ids = [first.command("CLIENT", "ID"), second.command("CLIENT", "ID")]
    listed = first.command("CLIENT", "LIST", "ID", ids[1], 999, ids[0]).decode().splitlines()
    assert [int(fields(line.encode())["id"]) for line in listed] == [ids[1], ids[0]]


def test_client_info_describes_the_caller(raw):
    conn = raw()
    conn.command("HELLO", "3")
    info = conn.command("CLIENT", "INFO")
    assert type(info) is Verbatim
    assert fields(info)["resp"] == "3" and fields(info)["cmd"] == "client|info"


# --- COMMAND, and real clients -----------------------------------------------------

OUR_COMMANDS = ["config", "command", "info", "dbsize", "flushdb", "flushall", "time", "lastsave",
                "debug", "shutdown", "client|setname", "client|getname", "client|id", "client|info",
                "client|list", "client|help"]


def test_command_info_matches_real_redis_up_to_subcommand_order(raw, real_redis_port):
    ours, real = raw(), RawConnection(real_redis_port)
    try:
        for name in OUR_COMMANDS:
            [mine], [theirs] = ours.command("COMMAND", "INFO", name), real.command("COMMAND", "INFO", name)
            assert mine[:9] == theirs[:9], name
            assert sorted(map(repr, mine[9])) == sorted(map(repr, theirs[9])), name
    finally:
        real.close()


def test_command_docs_summaries_match_real_redis(raw, real_redis_port):
    ours, real = raw(), RawConnection(real_redis_port)
    try:
        for name in OUR_COMMANDS:
            mine = dict(zip(*[iter(ours.command("COMMAND", "DOCS", name)[1])] * 2))
            theirs = dict(zip(*[iter(real.command("COMMAND", "DOCS", name)[1])] * 2))
            for field in (b"summary", b"since", b"group", b"complexity"):
                assert mine[field] == theirs[field], (name, field)
    finally:
        real.close()


def test_redis_py_understands_command_and_getkeys(client):
    commands = client.command()
    assert commands["get"]["arity"] == 2
    assert commands["get"]["first_key_pos"] == 1
    assert client.command_getkeys("MSET", "a", "1", "b", "2") == ["a", "b"]
    assert client.command_count() == len(commands)


@pytest.mark.skipif(shutil.which("redis-cli") is None, reason="redis-cli is not installed")
def test_redis_cli_reads_config_info_and_command_docs(server):
    def cli(*args: str) -> str:
        return subprocess.run(["redis-cli", "-p", str(server.port), *args], capture_output=True,
                              text=True, timeout=30, check=True).stdout

    assert cli("config", "get", "maxmemory") == "maxmemory\n0\n"
    assert cli("info", "server").startswith("# Server\nredis_version:7.0.15\n")
    assert cli("command", "docs", "get").splitlines()[:2] == ["get", "summary"]


@pytest.mark.skipif(shutil.which("redis-benchmark") is None, reason="redis-benchmark is not installed")
def test_redis_benchmark_runs_against_our_server(server):
    result = subprocess.run(["redis-benchmark", "-p", str(server.port), "-q", "-n", "300",
                             "-t", "ping,set,get,incr,mset"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("requests per second") == 6, result.stdout  # PING twice
