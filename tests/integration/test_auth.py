"""Authentication end to end: requirepass, AUTH, HELLO AUTH, ACL users, the parser's
limits before AUTH, protected mode and rename-command, over real sockets.

Byte-level expectations were taken from redis-server 7.0.15 with `--requirepass secret`;
`test_same_replies_as_real_redis_with_a_password` replays scenarios against one.
"""

from __future__ import annotations

import shutil
import socket
import subprocess

import pytest

from common.resp import ErrorReply, Status, encode_command
from redis_clone.server import RedisServer
from tests.conftest import RawConnection, connections, exchange, free_port, make_config, real_redis
from tests.integration.test_cli import ServerProcess
from tests.integration.test_differential import typed

NOAUTH = b"-NOAUTH Authentication required.\r\n"
WRONGPASS = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
HELLO_NOAUTH = (b"-NOAUTH HELLO must be called with the client already authenticated, otherwise "
                b"the HELLO AUTH <user> <pass> option can be used to authenticate the client and "
                b"select the RESP protocol version at the same time\r\n")
DENIED_START = b"-DENIED Redis is running in protected mode because protected mode is enabled"


def start_server(**config: str) -> RedisServer:
    srv = RedisServer(make_config(**config))
    srv.start()
    return srv


@pytest.fixture
def secured():
    """Our server with `requirepass secret`."""
    srv = start_server(requirepass="secret")
    yield srv
    srv.stop()


@pytest.fixture
def connect(secured):
    yield from connections(secured.port)


def authenticated(connect) -> RawConnection:
    conn = connect()
    assert conn.command("AUTH", "secret") == Status("OK")
    return conn


# --- requirepass and AUTH ----------------------------------------------------------------

def test_commands_before_auth_get_noauth(connect):
    conn = connect()
    assert exchange(conn, "GET", "k", expected=NOAUTH) == NOAUTH
    assert exchange(conn, "PING", expected=NOAUTH) == NOAUTH
    assert exchange(conn, "CONFIG", "GET", "port", expected=NOAUTH) == NOAUTH


def test_unknown_commands_are_unknown_even_before_auth(connect):
    assert connect().command("NOSUCH") == ErrorReply(
        "ERR unknown command 'NOSUCH', with args beginning with: ")


def test_auth_with_the_password_unlocks_the_connection(connect):
    conn = connect()
    assert exchange(conn, "AUTH", "secret", expected=b"+OK\r\n") == b"+OK\r\n"
    assert conn.command("SET", "k", "v") == Status("OK")


def test_auth_default_user_with_username_form(connect):
    conn = connect()
    assert conn.command("AUTH", "default", "secret") == Status("OK")
    assert conn.command("ACL", "WHOAMI") == b"default"


def test_wrong_password_gets_wrongpass_and_stays_locked(connect):
    conn = connect()
    assert exchange(conn, "AUTH", "nope", expected=WRONGPASS) == WRONGPASS
    assert exchange(conn, "AUTH", "nobody", "secret", expected=WRONGPASS) == WRONGPASS
    assert exchange(conn, "GET", "k", expected=NOAUTH) == NOAUTH


def test_auth_with_too_many_arguments_is_a_syntax_error(connect):
    assert connect().command("AUTH", "a", "b", "c") == ErrorReply("ERR syntax error")


def test_auth_without_a_configured_password_is_an_error(raw):
    conn = raw()
    assert conn.command("AUTH", "x") == ErrorReply(
        "ERR AUTH <password> called without any password configured for the default user. "
        "Are you sure your configuration is correct?")
    assert conn.command("AUTH", "default", "anything") == Status("OK")  # nopass: any will do
    assert conn.command("AUTH", "nobody", "x") == ErrorReply(WRONGPASS[1:-2].decode())


def test_hello_without_auth_is_refused_with_the_hint(connect):
    conn = connect()
    assert exchange(conn, "HELLO", "3", expected=HELLO_NOAUTH) == HELLO_NOAUTH
    assert exchange(conn, "HELLO", expected=HELLO_NOAUTH) == HELLO_NOAUTH


def test_hello_auth_checks_the_password(connect):
    conn = connect()
    assert exchange(conn, "HELLO", "3", "AUTH", "default", "wrong", expected=WRONGPASS) == WRONGPASS
    reply = conn.command("HELLO", "3", "AUTH", "default", "secret", "SETNAME", "app")
    assert reply[b"proto"] == 3
    assert conn.command("CLIENT", "GETNAME") == b"app"


def test_hello_checks_the_protocol_before_the_password(connect):
    assert connect().command("HELLO", "4", "AUTH", "default", "secret") == ErrorReply(
        "NOPROTO unsupported protocol version")


def test_redis_py_authenticates_with_password_and_username(secured):
    redis = pytest.importorskip("redis")
    with redis.Redis(port=secured.port, password="secret") as conn:
        assert conn.ping()
    with redis.Redis(port=secured.port, username="default", password="secret", protocol=3) as conn:
        assert conn.set("k", "v") and conn.get("k") == b"v"
    with redis.Redis(port=secured.port) as conn, pytest.raises(redis.AuthenticationError):
        conn.get("k")


def test_redis_cli_dash_a_authenticates(secured):
    if shutil.which("redis-cli") is None:
        pytest.skip("redis-cli is not installed")
    result = subprocess.run(["redis-cli", "-p", str(secured.port), "--no-auth-warning",
                             "-a", "secret", "PING"], capture_output=True, text=True, timeout=10)
    assert result.stdout.strip() == "PONG"
    result = subprocess.run(["redis-cli", "-p", str(secured.port), "PING"],
                            capture_output=True, text=True, timeout=10)
    assert "NOAUTH" in result.stdout


def test_config_set_requirepass_keeps_connected_clients_authenticated(connect):
    admin = authenticated(connect)
    assert admin.command("CONFIG", "SET", "requirepass", "changed") == Status("OK")
    assert admin.command("PING") == Status("PONG")
    newcomer = connect()
    assert exchange(newcomer, "AUTH", "secret", expected=WRONGPASS) == WRONGPASS
    assert newcomer.command("AUTH", "changed") == Status("OK")


def test_removing_requirepass_lets_waiting_clients_in(connect):
    waiting = connect()
    assert authenticated(connect).command("CONFIG", "SET", "requirepass", "") == Status("OK")
    assert waiting.command("PING") == Status("PONG")


def test_reset_logs_the_client_out(connect):
    conn = authenticated(connect)
    assert conn.command("RESET") == Status("RESET")
    assert exchange(conn, "GET", "k", expected=NOAUTH) == NOAUTH


def test_noauth_and_wrongpass_count_as_error_replies(connect):
    conn = connect()
    conn.command("GET", "k")
    conn.command("AUTH", "wrong")
    conn.command("AUTH", "secret")
    info = conn.command("INFO", "errorstats").decode()
    assert "errorstat_NOAUTH:count=1" in info and "errorstat_WRONGPASS:count=1" in info


def test_client_list_shows_each_connections_user(connect):
    admin = authenticated(connect)
    admin.command("ACL", "SETUSER", "alice", "on", ">pw", "+@all", "~*", "&*")
    alice = connect()
    assert alice.command("AUTH", "alice", "pw") == Status("OK")
    assert b" user=alice " in alice.command("CLIENT", "INFO")
    assert b" user=default " in admin.command("CLIENT", "INFO")


def test_passwords_never_reach_slowlog_or_monitor(connect):
    admin, monitor = authenticated(connect), authenticated(connect)
    admin.command("CONFIG", "SET", "slowlog-log-slower-than", "0")
    admin.command("SLOWLOG", "RESET")
    assert monitor.command("MONITOR") == Status("OK")
    admin.command("AUTH", "default", "secret")
    admin.command("HELLO", "2", "AUTH", "default", "secret", "SETNAME", "n")
    assert monitor.read().endswith('"AUTH" "(redacted)" "(redacted)"')
    assert monitor.read().endswith('"HELLO" "2" "AUTH" "(redacted)" "(redacted)" "SETNAME" "n"')
    logged = [entry[3] for entry in admin.command("SLOWLOG", "GET")]
    assert [b"AUTH", b"(redacted)", b"(redacted)"] in logged
    assert not any(b"secret" in arg for argv in logged for arg in argv)


# --- ACL users ---------------------------------------------------------------------------

def test_auth_as_another_user_and_whoami(raw):
    admin, conn = raw(), raw()
    admin.command("ACL", "SETUSER", "alice", "on", ">pw", "allcommands", "allkeys", "allchannels")
    assert conn.command("AUTH", "alice", "pw") == Status("OK")
    assert conn.command("ACL", "WHOAMI") == b"alice"
    assert conn.command("SET", "k", "v") == Status("OK")


def test_disabled_user_cannot_authenticate_but_stays_logged_in(raw):
    admin, conn = raw(), raw()
    admin.command("ACL", "SETUSER", "bob", "on", ">pw", "+@all", "~*", "&*")
    conn.command("AUTH", "bob", "pw")
    admin.command("ACL", "SETUSER", "bob", "off")
    assert conn.command("AUTH", "bob", "pw") == ErrorReply(WRONGPASS[1:-2].decode())
    assert conn.command("ACL", "WHOAMI") == b"bob"


def test_users_without_permissions_get_noperm(raw):
    admin, conn = raw(), raw()
    admin.command("ACL", "SETUSER", "u1", "on", "nopass")
    conn.command("AUTH", "u1", "x")
    assert conn.command("GET", "k") == ErrorReply(
        "NOPERM this user has no permissions to run the 'get' command")
    assert conn.command("PING") == ErrorReply(
        "NOPERM this user has no permissions to run the 'ping' command")
    admin.command("ACL", "SETUSER", "u1", "+@all")  # connected clients see it at once
    assert conn.command("GET", "k") == ErrorReply(
        "NOPERM this user has no permissions to access one of the keys used as arguments")
    assert conn.command("PUBLISH", "c", "m") == ErrorReply(
        "NOPERM this user has no permissions to access one of the channels used as arguments")
    assert conn.command("PING") == Status("PONG")


def test_deleting_a_user_disconnects_its_clients(raw):
    admin, conn = raw(), raw()
    admin.command("ACL", "SETUSER", "bob", "on", ">pw", "+@all", "~*", "&*")
    conn.command("AUTH", "bob", "pw")
    assert admin.command("ACL", "DELUSER", "bob", "nobody") == 1
    assert conn.read_raw_until_closed() == b""
    assert admin.command("ACL", "USERS") == [b"default"]


def test_deleting_own_user_replies_then_closes(raw):
    conn = raw()
    conn.command("ACL", "SETUSER", "bob", "on", ">pw", "+@all", "~*", "&*")
    conn.command("AUTH", "bob", "pw")
    conn.send(encode_command("ACL", "DELUSER", "bob"))
    assert conn.read_raw_until_closed() == b":1\r\n"


def test_client_kill_user_kills_that_users_clients(raw):
    admin, alice = raw(), raw()
    admin.command("ACL", "SETUSER", "alice", "on", "nopass", "+@all", "~*", "&*")
    alice.command("AUTH", "alice", "x")
    assert admin.command("CLIENT", "KILL", "USER", "alice") == 1
    assert alice.read_raw_until_closed() == b""


# --- the parser's limits before AUTH -----------------------------------------------------

def test_unauthenticated_big_multibulk_is_a_protocol_error(connect):
    conn = connect()
    conn.send(b"*11\r\n")
    assert conn.read_raw_until_closed() == b"-ERR Protocol error: unauthenticated multibulk length\r\n"


def test_unauthenticated_big_bulk_is_a_protocol_error(connect):
    conn = connect()
    conn.send(b"*10\r\n$16385\r\n")
    assert conn.read_raw_until_closed() == b"-ERR Protocol error: unauthenticated bulk length\r\n"


def test_limits_lift_as_soon_as_auth_succeeds_even_in_one_pipeline(connect):
    conn = connect()
    conn.send(encode_command("AUTH", "secret") + encode_command("MSET", *"abcdefghijkl")
              + encode_command("SET", "big", "x" * 20000))
    assert [conn.read() for _ in range(3)] == [Status("OK")] * 3


def test_no_limits_without_a_password(raw):
    assert raw().command("MSET", *"abcdefghijkl") == Status("OK")


# --- protected mode ----------------------------------------------------------------------

def non_loopback_ipv4() -> str | None:
    """An address of this machine other than loopback that we can bind, or None."""
    try:
        words = subprocess.run(["hostname", "-I"], capture_output=True, text=True,
                               timeout=5).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    for word in words:
        if "." in word and not word.startswith("127."):
            try:
                with socket.socket() as sock:
                    sock.bind((word, 0))
                return word
            except OSError:
                continue
    return None


@pytest.fixture
def remote_ip():
    ip = non_loopback_ipv4()
    if ip is None:
        pytest.skip("no non-loopback IPv4 address to connect from")
    return ip


def connect_from(ip: str, port: int) -> socket.socket:
    """Connect to ip:port from ip itself: the server sees a non-loopback client address."""
    return socket.create_connection((ip, port), timeout=10, source_address=(ip, 0))


def read_until_closed(sock: socket.socket) -> bytes:
    chunks = []
    while data := sock.recv(65536):
        chunks.append(data)
    return b"".join(chunks)


def test_protected_mode_denies_remote_clients_without_a_password(remote_ip):
    srv = start_server(bind=f"127.0.0.1 {remote_ip}")
    try:
        with connect_from(remote_ip, srv.port) as sock:
            reply = read_until_closed(sock)
        assert reply.startswith(DENIED_START) and reply.endswith(
            b"NOTE: You only need to do one of the above things in order for the server to start "
            b"accepting connections from the outside.\r\n")
        assert srv.state.stats["rejected_connections"] == 1
    finally:
        srv.stop()


@pytest.mark.parametrize("config,expected", [({"requirepass": "secret"}, NOAUTH),
                                             ({"protected_mode": "no"}, b"+PONG\r\n")])
def test_protected_mode_lets_remote_clients_in_with_a_password_or_when_off(remote_ip, config,
                                                                          expected):
    srv = start_server(bind=f"127.0.0.1 {remote_ip}", **config)
    try:
        with connect_from(remote_ip, srv.port) as sock:
            sock.sendall(encode_command("PING"))
            assert sock.recv(100) == expected
    finally:
        srv.stop()


# --- rename-command (a process-wide change: a server process of its own) -----------------

@pytest.fixture
def renamed_server(tmp_path):
    port = free_port()
    conf = tmp_path / "redis.conf"
    conf.write_text("rename-command FLUSHALL myflush\nrename-command DEBUG \"\"\n")
    server = ServerProcess(str(conf), "--port", str(port), "--save", "",
                           "--rename-command", "get", "fetch")
    server.wait_ready(port)
    conn = RawConnection(port)
    yield conn
    conn.close()
    server.kill()


def test_renamed_command_works_under_its_new_name_only(renamed_server):
    conn = renamed_server
    assert conn.command("FLUSHALL") == ErrorReply(
        "ERR unknown command 'FLUSHALL', with args beginning with: ")
    assert conn.command("MYFLUSH") == Status("OK")
    assert conn.command("DEBUG", "x") == ErrorReply(
        "ERR unknown command 'DEBUG', with args beginning with: 'x' ")
    conn.command("SET", "k", "v")
    assert conn.command("FETCH", "k") == b"v"


def test_renamed_command_keeps_its_name_in_command_info(renamed_server):
    conn = renamed_server
    assert conn.command("COMMAND", "INFO", "myflush")[0][0] == b"flushall"
    assert conn.command("COMMAND", "INFO", "flushall") == [None]


def test_rename_command_is_not_a_config_parameter(renamed_server):
    assert renamed_server.command("CONFIG", "SET", "rename-command", "x") == ErrorReply(
        "ERR Unknown option or number of arguments for CONFIG SET - 'rename-command'")


def test_rename_of_an_unknown_command_stops_the_start(tmp_path):
    server = ServerProcess("--port", str(free_port()), "--rename-command", "nosuch", "x")
    code, _, err = server.finish()
    assert code == 1 and "No such command in rename-command" in err


# --- against real Redis with a password ------------------------------------------------------

SCENARIOS = [
    [("GET", "k"), ("HELLO",), ("HELLO", "3"), ("HELLO", "3", "AUTH", "default", "wrong"),
     ("HELLO", "2", "AUTH", "default"), ("HELLO", "4", "AUTH", "default", "secret"), ("AUTH",),
     ("AUTH", "a", "b", "c"), ("AUTH", "wrong"), ("AUTH", "nouser", "secret"), ("PING",),
     ("QUIT2",), ("ACL", "WHOAMI"), ("ACL", "FOO"), ("HELLO", "3", "SETNAME", "a b"),
     ("AUTH", "secret"), ("ACL", "WHOAMI"), ("ACL", "LIST"), ("ACL", "USERS"), ("RESET",),
     ("GET", "k"), ("AUTH", "default", "secret"), ("GET", "k")],
    [("MULTI",), ("AUTH", "secret"), ("MULTI",), ("GET", "k"), ("EXEC",)],
]


@pytest.fixture(scope="module")
def real_secured_port():
    with real_redis("--requirepass", "secret") as port:
        yield port


@pytest.mark.parametrize("commands", SCENARIOS)
def test_same_replies_as_real_redis_with_a_password(commands, secured, real_secured_port):
    ours, real = RawConnection(secured.port), RawConnection(real_secured_port)
    try:
        for args in commands:
            assert typed(ours.command(*args)) == typed(real.command(*args)), " ".join(args)
    finally:
        ours.close()
        real.close()
