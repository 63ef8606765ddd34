"""Client management end to end: CLIENT KILL in all its forms, maxclients, the idle
timeout, CLIENT PAUSE / UNPAUSE, NO-EVICT and RESET."""

from __future__ import annotations

import socket
import time

import pytest

from tests.conftest import RawConnection
from tests.integration.helpers import wait_until

DEADLINE = 10.0



def is_closed(conn: RawConnection) -> bool:
    """True once the server has closed `conn` (EOF or reset)."""
    try:
        return conn.sock.recv(1) == b""
    except ConnectionError:
        return True


def addr_of(conn: RawConnection) -> str:
    host, port = conn.sock.getsockname()[:2]
    return f"{host}:{port}"


def connected(raw_client) -> int:
    return raw_client.command("CLIENT", "LIST").count(b"\n")


def test_client_kill_by_address_old_form_closes_that_connection(raw):
    admin, victim = raw(), raw()
    victim.command("PING")
    assert admin.command("CLIENT", "KILL", addr_of(victim)) == "OK"
    assert is_closed(victim)
    assert admin.command("CLIENT", "KILL", addr_of(victim)) == "ERR No such client"


def test_client_kill_by_id_returns_how_many_were_killed(raw):
    admin, victim = raw(), raw()
    victim_id = victim.command("CLIENT", "ID")
    assert admin.command("CLIENT", "KILL", "ID", str(victim_id)) == 1
    assert is_closed(victim)
    assert admin.command("CLIENT", "KILL", "ID", str(victim_id)) == 0


def test_client_kill_by_addr_and_laddr_filters(server, raw):
    admin, first, second = raw(), raw(), raw()
    first.command("PING"), second.command("PING")
    assert admin.command("CLIENT", "KILL", "ADDR", addr_of(first)) == 1
    assert is_closed(first)
    # Every client shares our listening address; SKIPME (default yes) spares the caller.
    assert admin.command("CLIENT", "KILL", "LADDR", f"127.0.0.1:{server.port}") == 1
    assert is_closed(second)
    assert admin.command("PING") == "PONG"


def test_client_kill_by_type_kills_only_that_type(raw):
    admin, normal, subscriber = raw(), raw(), raw()
    normal.command("PING")
    subscriber.command("SUBSCRIBE", "x")
    assert admin.command("CLIENT", "KILL", "TYPE", "pubsub") == 1
    assert is_closed(subscriber)
    assert normal.command("PING") == "PONG"


def test_client_kill_skipme_no_kills_the_caller_after_its_reply(raw):
    admin = raw()
    assert admin.command("CLIENT", "KILL", "ID", str(admin.command("CLIENT", "ID")), "SKIPME", "no") == 1
    assert is_closed(admin)


def test_client_kill_user_default_matches_everyone_else(raw):
    admin, victim = raw(), raw()
    victim.command("PING")
    assert admin.command("CLIENT", "KILL", "USER", "default") == 1
    assert admin.command("CLIENT", "KILL", "USER", "nosuch") == "ERR No such user 'nosuch'"


@pytest.mark.parametrize("args, error", [
    (["ID", "0"], "ERR client-id should be greater than 0"),
    (["ID", "abc"], "ERR client-id should be greater than 0"),
    (["TYPE", "foo"], "ERR Unknown client type 'foo'"),
    (["SKIPME", "maybe"], "ERR syntax error"),
    (["ADDR"], "ERR No such client"),  # one argument: the old form
    (["ADDR", "x", "SKIPME"], "ERR syntax error"),
    (["NOSUCH", "x"], "ERR syntax error"),
])
def test_client_kill_argument_errors(raw, args, error):
    assert raw().command("CLIENT", "KILL", *args) == error


def test_connections_over_maxclients_get_an_error_and_are_closed(server, client):
    client.ping()
    client.config_set("maxclients", "2")
    second = RawConnection(server.port)
    assert second.command("PING") == "PONG"
    third = RawConnection(server.port)
    assert third.read_raw_until_closed() == b"-ERR max number of clients reached\r\n"
    assert client.info("stats")["rejected_connections"] == 1
    second.close()
    third.close()


def test_idle_clients_are_closed_after_timeout_seconds(server, client):
    client.config_set("timeout", "1")
    idle = RawConnection(server.port)
    idle.command("PING")
    subscriber = RawConnection(server.port)
    subscriber.command("SUBSCRIBE", "ch")  # subscribers wait on purpose: never timed out
    idle.sock.settimeout(DEADLINE)
    assert idle.read_raw_until_closed() == b""
    client.ping()
    assert subscriber.command("PING") == [b"pong", b""]
    subscriber.close()


def test_client_pause_write_holds_writes_but_not_reads(server, client, raw):
    writer, reader = raw(), raw()
    assert client.execute_command("CLIENT", "PAUSE", "10000", "WRITE") == b"OK"
    writer.send(b"SET k v\r\n")
    assert reader.command("GET", "k") is None  # reads go on
    writer.sock.settimeout(0.2)
    with pytest.raises(socket.timeout):
        writer.sock.recv(1)  # the SET waits for the pause to end
    writer.sock.settimeout(DEADLINE)
    client.execute_command("CLIENT", "UNPAUSE")
    assert writer.read() == "OK"
    assert reader.command("GET", "k") == b"v"


def test_client_pause_ends_by_itself_after_its_timeout(client, raw):
    client.execute_command("CLIENT", "PAUSE", "100")
    started = time.monotonic()
    assert raw().command("PING") == "PONG"  # ALL: even PING waits
    assert time.monotonic() - started >= 0.05


@pytest.mark.parametrize("args, error", [
    (["-1"], "ERR timeout is negative"),
    (["1.5"], "ERR timeout is not an integer or out of range"),
    (["10", "foo"], "ERR CLIENT PAUSE mode must be WRITE or ALL"),
    (["10", "write", "x"], "ERR unknown subcommand or wrong number of arguments for 'pause'. "
                           "Try CLIENT HELP."),
])
def test_client_pause_argument_errors(raw, args, error):
    assert raw().command("CLIENT", "PAUSE", *args) == error


def test_client_no_evict_is_accepted_and_shown_as_flag_e(raw):
    conn = raw()
    assert conn.command("CLIENT", "NO-EVICT", "on") == "OK"
    assert b"flags=e " in conn.command("CLIENT", "INFO")
    assert conn.command("CLIENT", "NO-EVICT", "off") == "OK"
    assert b"flags=N " in conn.command("CLIENT", "INFO")
    assert conn.command("CLIENT", "NO-EVICT", "maybe") == "ERR syntax error"


def test_reset_returns_the_connection_to_its_initial_state(raw):
    conn = raw()
    conn.command("HELLO", "3")
    conn.command("SELECT", "3")
    conn.command("CLIENT", "SETNAME", "me")
    conn.command("MULTI")
    assert conn.command("RESET") == "RESET"
    info = conn.command("CLIENT", "INFO")
    assert b" name= " in info and b" db=0 " in info and b" multi=-1 " in info and b"resp=2" in info


def test_killed_clients_leave_client_list(client, raw):
    victims = [raw() for _ in range(5)]
    for victim in victims:
        victim.command("PING")
    before = len(client.client_list())
    assert client.execute_command("CLIENT", "KILL", "TYPE", "normal") == before - 1
    wait_until(lambda: len(client.client_list()) == 1)
