"""Users, passwords, permissions and protected mode (redis_clone/acl.py), without sockets;
plus the request parser's limits for unauthenticated clients and rename-command's table
change."""

from __future__ import annotations

import hashlib

import pytest

from common.resp import ProtocolError, RequestParser
from redis_clone import errors
from redis_clone.acl import Acl, User, is_loopback, protected_mode_denies, redacted
from redis_clone.clients import ClientState
from redis_clone.errors import RedisError
from redis_clone.registry import COMMANDS, NO_AUTH, NONE, CommandSpec, CommandTable

SECRET_HASH = hashlib.sha256(b"secret").hexdigest()


def user_after(*rules: str, name: str = "alice") -> User:
    acl = Acl()
    acl.set_user(name, [rule.encode() for rule in rules])
    return acl.get(name)


def setuser_error(*rules: str) -> str:
    with pytest.raises(RedisError) as caught:
        Acl().set_user("alice", [rule.encode() for rule in rules])
    return caught.value.message


# --- users and their rules -------------------------------------------------------------

def test_new_user_is_disabled_and_may_do_nothing():
    assert user_after().describe() == "user alice off resetchannels -@all"


def test_default_user_without_requirepass_is_nopass_with_every_permission():
    assert Acl().describe() == ["user default on nopass ~* &* +@all"]


def test_requirepass_stores_only_the_sha256_of_the_password():
    assert Acl("secret").describe() == [f"user default on #{SECRET_HASH} ~* &* +@all"]


def test_requirepass_change_replaces_the_default_users_password():
    acl = Acl("old")
    acl.set_requirepass("secret")
    assert acl.default.passwords == [SECRET_HASH]
    acl.set_requirepass("")
    assert acl.default.nopass and acl.default.passwords == []


@pytest.mark.parametrize("rules", [("+@all", "~*", "&*"), ("allcommands", "allkeys", "allchannels"),
                                   ("+@all", "%RW~*", "&*")])
def test_grant_all_rules_and_their_synonyms_give_every_permission(rules):
    user = user_after(*rules)
    assert user.unrestricted and user.describe() == "user alice off ~* &* +@all"


def test_passwords_are_added_once_and_removed_by_value_or_hash():
    user = user_after(">p1", ">p2", ">p1", "<p1")
    assert user.passwords == [hashlib.sha256(b"p2").hexdigest()]
    assert user_after("#" + SECRET_HASH, "!" + SECRET_HASH).passwords == []


def test_nopass_forgets_passwords_and_resetpass_forgets_nopass():
    assert user_after(">p1", "nopass").describe() == "user alice off nopass resetchannels -@all"
    assert user_after("nopass", "resetpass").describe() == "user alice off resetchannels -@all"


def test_reset_leaves_a_disabled_user_with_sanitize_payload():
    assert user_after("on", ">p", "+@all", "~*", "&*", "reset").describe() == \
        "user alice off sanitize-payload resetchannels -@all"


def test_rules_are_case_insensitive():
    assert user_after("ON", "NoPass", "AllKeys").describe() == "user alice on nopass ~* resetchannels -@all"


def test_unknown_and_narrower_rules_are_a_syntax_error():
    assert setuser_error("bogus") == "ERR Error in ACL SETUSER modifier 'bogus': Syntax error"
    assert setuser_error("+get") == "ERR Error in ACL SETUSER modifier '+get': Syntax error"
    assert setuser_error("~user:*") == "ERR Error in ACL SETUSER modifier '~user:*': Syntax error"


def test_pattern_after_allkeys_gets_redis_own_reason():
    assert setuser_error("allkeys", "~foo") == (
        "ERR Error in ACL SETUSER modifier '~foo': " + errors.ACL_KEY_PATTERN_AFTER_ALL)
    assert setuser_error("&*", "&news") == (
        "ERR Error in ACL SETUSER modifier '&news': " + errors.ACL_CHANNEL_PATTERN_AFTER_ALL)


def test_removing_a_missing_password_or_a_malformed_hash_fails():
    assert setuser_error("<nothere").endswith(errors.ACL_NO_SUCH_PASSWORD)
    assert setuser_error("#abc").endswith(errors.ACL_BAD_HASH)
    assert setuser_error("!" + SECRET_HASH.upper()).endswith(errors.ACL_BAD_HASH)


def test_a_failing_setuser_changes_nothing_and_creates_nobody():
    acl = Acl()
    acl.set_user("alice", [b"on", b">pw"])
    with pytest.raises(RedisError):
        acl.set_user("alice", [b"off", b"bogus"])
    with pytest.raises(RedisError):
        acl.set_user("bob", [b"on", b"bogus"])
    assert acl.get("alice").enabled and acl.names() == ["alice", "default"]


def test_usernames_with_spaces_are_refused():
    with pytest.raises(RedisError, match="Usernames can't contain spaces"):
        Acl().set_user("a b", [])


def test_users_are_listed_in_byte_order():
    acl = Acl()
    for name in ("zed", "Bob", "alice"):
        acl.set_user(name, [])
    assert acl.names() == ["Bob", "alice", "default", "zed"]


def test_deleting_returns_only_the_users_that_existed():
    acl = Acl()
    acl.set_user("alice", [])
    assert acl.delete(["alice", "nobody", "alice"]) == ["alice"]


def test_the_default_user_cannot_be_deleted():
    with pytest.raises(RedisError, match="'default' user cannot be removed"):
        Acl().delete(["default"])


# --- authentication --------------------------------------------------------------------

def test_authenticate_accepts_the_right_password_only():
    acl = Acl("secret")
    assert acl.authenticate(b"default", b"secret") is acl.default
    with pytest.raises(RedisError, match="^WRONGPASS"):
        acl.authenticate(b"default", b"wrong")


def test_unknown_and_disabled_users_get_wrongpass():
    acl = Acl()
    acl.set_user("off-user", [b"off", b">pw"])
    for name, password in ((b"nobody", b"pw"), (b"off-user", b"pw")):
        with pytest.raises(RedisError) as caught:
            acl.authenticate(name, password)
        assert caught.value.message == errors.WRONGPASS


def test_nopass_user_accepts_any_password():
    acl = Acl()
    acl.set_user("guest", [b"on", b"nopass"])
    assert acl.authenticate(b"guest", b"anything").name == "guest"


def test_new_client_needs_auth_only_when_the_default_user_has_a_password():
    open_client, locked_client = ClientState(id=1), ClientState(id=2)
    Acl().logout(open_client)
    Acl("secret").logout(locked_client)
    assert open_client.admitted and not open_client.auth_required
    assert not locked_client.admitted and locked_client.auth_required


def test_login_admits_a_client_with_an_unrestricted_user():
    acl, client = Acl("secret"), ClientState(id=1)
    acl.logout(client)
    acl.login(client, acl.authenticate(b"default", b"secret"))
    assert client.admitted and client.user == "default"


def test_removing_the_password_lets_unauthenticated_clients_in():
    acl, client = Acl("secret"), ClientState(id=1)
    acl.logout(client)
    acl.set_requirepass("")
    acl.refresh(client)
    assert client.admitted and not client.authenticated  # as Redis's authRequired()


def spec(name: str, flags=NONE, keys=(0, 0, 0)) -> CommandSpec:
    return CommandSpec(name=name, arity=-1, flags=flags, handler=None, keys=keys)


def check_error(acl: Acl, client: ClientState, command: CommandSpec) -> str | None:
    try:
        acl.check(client, command)
    except RedisError as err:
        return err.message
    return None


def test_unauthenticated_client_gets_noauth_except_for_no_auth_commands():
    acl, client = Acl("secret"), ClientState(id=1)
    acl.logout(client)
    assert check_error(acl, client, spec("get", keys=(1, 1, 1))) == errors.NOAUTH
    assert check_error(acl, client, spec("auth", NO_AUTH)) is None


def test_restricted_users_get_noperm_for_commands_keys_then_channels():
    acl, client = Acl(), ClientState(id=1)
    acl.set_user("u", [b"on", b"nopass"])
    acl.login(client, acl.get("u"))
    assert check_error(acl, client, spec("config|get")) == \
        "NOPERM this user has no permissions to run the 'config|get' command"
    acl.set_user("u", [b"+@all"])
    acl.refresh(client)
    assert check_error(acl, client, spec("get", keys=(1, 1, 1))) == errors.NOPERM_KEYS
    assert check_error(acl, client, spec("publish")) == errors.NOPERM_CHANNELS
    assert check_error(acl, client, spec("ping")) is None


def test_users_without_every_key_and_channel_may_not_run_scripts():
    acl, client = Acl(), ClientState(id=1)
    acl.set_user("u", [b"on", b"nopass", b"+@all", b"&*"])
    acl.login(client, acl.get("u"))
    assert check_error(acl, client, spec("eval")) == errors.NOPERM_KEYS
    acl.set_user("u", [b"~*", b"resetchannels"])
    acl.refresh(client)
    assert check_error(acl, client, spec("evalsha_ro")) == errors.NOPERM_CHANNELS


# --- passwords never logged ------------------------------------------------------------

def test_auth_arguments_are_redacted_for_slowlog_and_monitor():
    assert redacted("auth", [b"AUTH", b"user", b"pw"]) == [b"AUTH", b"(redacted)", b"(redacted)"]


def test_hello_redacts_only_the_auth_username_and_password():
    argv = [b"HELLO", b"3", b"auth", b"u", b"pw", b"SETNAME", b"auth"]
    assert redacted("hello", argv) == [b"HELLO", b"3", b"auth", b"(redacted)", b"(redacted)",
                                       b"SETNAME", b"auth"]
    assert redacted("get", [b"GET", b"auth"]) == [b"GET", b"auth"]


# --- protected mode --------------------------------------------------------------------

@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1", ""])
def test_loopback_addresses_and_unix_sockets_are_local(host):
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["192.0.2.2", "10.0.0.1", "fd00::2", "::ffff:10.0.0.1", "bogus"])
def test_other_addresses_are_not_local(host):
    assert not is_loopback(host)


def test_protected_mode_denies_remote_clients_only_without_a_password():
    assert protected_mode_denies("10.0.0.1", True, Acl().default)
    assert not protected_mode_denies("127.0.0.1", True, Acl().default)
    assert not protected_mode_denies("10.0.0.1", True, Acl("secret").default)
    assert not protected_mode_denies("10.0.0.1", False, Acl().default)


# --- the parser's limits before AUTH ---------------------------------------------------

def parse_all(data: bytes, unauthenticated: bool) -> list:
    parser = RequestParser()
    parser.unauthenticated = unauthenticated
    parser.feed(data)
    return list(parser)


def test_unauthenticated_parser_refuses_more_than_ten_arguments():
    request = b"*11\r\n" + b"$1\r\na\r\n" * 11
    with pytest.raises(ProtocolError, match="^Protocol error: unauthenticated multibulk length$"):
        parse_all(request, unauthenticated=True)
    assert len(parse_all(request, unauthenticated=False)[0]) == 11


def test_unauthenticated_parser_refuses_bulks_over_16_kib():
    big = b"*1\r\n$16385\r\n" + b"x" * 16385 + b"\r\n"
    with pytest.raises(ProtocolError, match="^Protocol error: unauthenticated bulk length$"):
        parse_all(big, unauthenticated=True)
    at_limit = b"*10\r\n" + (b"$16384\r\n" + b"x" * 16384 + b"\r\n") * 10
    assert len(parse_all(at_limit, unauthenticated=True)[0]) == 10


def test_inline_commands_have_no_unauthenticated_limit():
    assert len(parse_all(b"PING a b c d e f g h i j k l\r\n", unauthenticated=True)[0]) == 13


# --- rename-command ------------------------------------------------------------------------

def table_copy() -> CommandTable:
    table = CommandTable()
    for command in COMMANDS:
        table.add(command)
    return table


def test_rename_finds_the_command_under_its_new_name_only():
    table = table_copy()
    table.rename("FLUSHALL", "myflush")
    assert table.get("flushall") is None
    assert table.get(b"MYFLUSH").name == "flushall"  # it keeps its own name, as in Redis


def test_rename_to_empty_removes_the_command():
    table = table_copy()
    table.rename("debug", "")
    assert table.get("debug") is None and len(table) == len(COMMANDS) - 1


def test_rename_errors_use_redis_reasons():
    table = table_copy()
    with pytest.raises(ValueError, match="^No such command in rename-command$"):
        table.rename("nosuch", "x")
    with pytest.raises(ValueError, match="^Target command name already exists$"):
        table.rename("set", "GET")
