"""COMMAND INFO / COMMAND DOCS derivation: the syntax-line parser, ACL categories and
key specs, checked against what Redis 7.0.15 says for the same commands."""

from __future__ import annotations

from common.resp import RespSet, Status
from redis_clone.commanddocs import (Argument, acl_categories, command_docs, command_info,
                                     help_reply, parse_syntax)
from redis_clone.registry import (ADMIN, FAST, NOSCRIPT, READONLY, WRITE, CommandSpec, CommandTable,
                                  command, container)


def shape(syntax: str, words: int = 1) -> list[dict]:
    """The parsed arguments as plain dicts, without the defaults, to compare easily."""
    return [_plain(argument) for argument in parse_syntax(syntax, words)]


def _plain(argument: Argument) -> dict:
    out = {"name": argument.name, "type": argument.type}
    if argument.token:
        out["token"] = argument.token
    flags = [f for f in ("optional", "multiple", "multiple_token") if getattr(argument, f)]
    if flags:
        out["flags"] = flags
    if argument.arguments:
        out["arguments"] = [_plain(a) for a in argument.arguments]
    return out


# --- the syntax parser -------------------------------------------------------------

def test_plain_names_become_arguments_typed_by_their_name():
    assert shape("GETRANGE key start end") == [
        {"name": "key", "type": "key"},
        {"name": "start", "type": "integer"},
        {"name": "end", "type": "integer"},
    ]


def test_the_command_words_are_not_arguments():
    assert shape("CONFIG GET parameter", 2) == [{"name": "parameter", "type": "string"}]


def test_a_bracketed_choice_of_tokens_is_an_optional_oneof():
    assert shape("FLUSHALL [ASYNC | SYNC]") == [{
        "name": "async_sync", "type": "oneof", "flags": ["optional"], "arguments": [
            {"name": "async", "type": "pure-token", "token": "ASYNC"},
            {"name": "sync", "type": "pure-token", "token": "SYNC"},
        ]}]


def test_a_token_before_a_name_is_that_arguments_token():
    assert shape("SET key value [GET] [EX seconds | KEEPTTL]") == [
        {"name": "key", "type": "key"},
        {"name": "value", "type": "string"},
        {"name": "get", "type": "pure-token", "token": "GET", "flags": ["optional"]},
        {"name": "seconds_keepttl", "type": "oneof", "flags": ["optional"], "arguments": [
            {"name": "seconds", "type": "integer", "token": "EX"},
            {"name": "keepttl", "type": "pure-token", "token": "KEEPTTL"},
        ]},
    ]


def test_a_token_before_several_names_makes_a_block():
    assert shape("ZRANGE key [LIMIT offset count]")[1] == {
        "name": "offset_count", "type": "block", "token": "LIMIT", "flags": ["optional"],
        "arguments": [{"name": "offset", "type": "integer"}, {"name": "count", "type": "integer"}]}


def test_x_followed_by_optional_x_ellipsis_is_one_multiple_argument():
    assert shape("DEL key [key ...]") == [{"name": "key", "type": "key", "flags": ["multiple"]}]


def test_a_repeated_group_of_names_is_a_multiple_block():
    assert shape("MSET key value [key value ...]") == [{
        "name": "key_value", "type": "block", "flags": ["multiple"],
        "arguments": [{"name": "key", "type": "key"}, {"name": "value", "type": "string"}]}]


def test_an_optional_repetition_is_optional_and_multiple():
    assert shape("COMMAND INFO [command-name [command-name ...]]", 2) == [
        {"name": "command-name", "type": "string", "flags": ["optional", "multiple"]}]


def test_a_repeated_token_is_multiple_token():
    assert shape("SORT key [GET pattern [GET pattern ...]]")[1] == {
        "name": "pattern", "type": "pattern", "token": "GET",
        "flags": ["optional", "multiple", "multiple_token"]}


def test_a_token_before_a_repetition_or_a_required_choice_goes_with_it():
    assert shape("CLIENT LIST [TYPE <NORMAL | PUBSUB>] [ID client-id [client-id ...]]", 2) == [
        {"name": "normal_pubsub", "type": "oneof", "token": "TYPE", "flags": ["optional"], "arguments": [
            {"name": "normal", "type": "pure-token", "token": "NORMAL"},
            {"name": "pubsub", "type": "pure-token", "token": "PUBSUB"}]},
        {"name": "client-id", "type": "integer", "token": "ID", "flags": ["optional", "multiple"]},
    ]


def test_a_required_choice_is_not_optional():
    assert shape("LMOVE source destination <LEFT | RIGHT>")[2] == {
        "name": "left_right", "type": "oneof", "arguments": [
            {"name": "left", "type": "pure-token", "token": "LEFT"},
            {"name": "right", "type": "pure-token", "token": "RIGHT"}]}


def test_nested_optional_groups_become_nested_blocks():
    assert shape("HELLO [protover [SETNAME clientname]]") == [{
        "name": "protover_clientname", "type": "block", "flags": ["optional"], "arguments": [
            {"name": "protover", "type": "integer"},
            {"name": "clientname", "type": "string", "token": "SETNAME", "flags": ["optional"]}]}]


def test_an_unbalanced_syntax_line_still_parses():
    assert shape("GET key ] [NX") == [
        {"name": "key", "type": "key"},
        {"name": "nx", "type": "pure-token", "token": "NX", "flags": ["optional"]}]


def test_argument_replies_use_redis_field_names_and_status_flags():
    [key, seconds] = parse_syntax("EXPIRE key [EX seconds]")
    assert key.reply(has_keys=True) == {b"name": b"key", b"type": b"key", b"key_spec_index": 0}
    assert seconds.reply(has_keys=True) == {
        b"name": b"seconds", b"type": b"integer", b"token": b"EX",
        b"flags": RespSet([Status("optional")])}


# --- ACL categories, key specs and the reply shapes -------------------------------------

def spec(name="probe", **fields) -> CommandSpec:
    defaults = dict(arity=2, flags=READONLY | FAST, handler=lambda ctx, args: None)
    return CommandSpec(name=name, **{**defaults, **fields})


def test_categories_follow_from_flags_and_group_in_redis_order():
    assert acl_categories(spec(group="string")) == ["read", "string", "fast"]
    assert acl_categories(spec(flags=WRITE, group="generic")) == ["keyspace", "write", "slow"]
    assert acl_categories(spec(flags=ADMIN | NOSCRIPT, group="server")) == ["admin", "slow", "dangerous"]


def test_a_spec_can_add_categories_its_flags_do_not_imply():
    assert acl_categories(spec(flags=WRITE, group="server", acl_categories=("keyspace", "dangerous"))) == [
        "keyspace", "write", "slow", "dangerous"]


def test_a_container_has_only_the_slow_category():
    table = CommandTable()
    container("box", group="connection", since="1.0.0", summary="", table=table)
    command("box|inner", arity=2, group="connection", table=table)(lambda ctx, args: None)
    assert acl_categories(table.get("box")) == ["slow"]
    assert acl_categories(table.get("box").subcommands["inner"]) == ["slow", "connection"]


def test_command_info_has_redis_7_ten_fields_for_get():
    get = spec(name="get", keys=(1, 1, 1), group="string", syntax="GET key")
    assert command_info(get) == [
        b"get", 2, [Status("readonly"), Status("fast")], 1, 1, 1,
        [Status("@read"), Status("@string"), Status("@fast")], [],
        [{b"flags": [Status("RO"), Status("access")],
          b"begin_search": {b"type": b"index", b"spec": {b"index": 1}},
          b"find_keys": {b"type": b"range", b"spec": {b"lastkey": 0, b"keystep": 1, b"limit": 0}}}],
        [],
    ]


def test_key_specs_count_the_last_key_from_the_first_or_from_the_end():
    mset = spec(name="mset", arity=-3, flags=WRITE, keys=(1, -1, 2), key_flags=("OW", "update"))
    [key_spec] = command_info(mset)[8]
    assert key_spec[b"flags"] == [Status("OW"), Status("update")]
    assert key_spec[b"find_keys"][b"spec"] == {b"lastkey": -1, b"keystep": 2, b"limit": 0}
    assert command_info(spec(keys=(1, 3, 1)))[8][0][b"find_keys"][b"spec"][b"lastkey"] == 2


def test_command_docs_lists_summary_since_group_complexity_and_arguments():
    docs = command_docs(spec(name="dbsize", arity=1, group="server", summary="Count keys",
                             complexity="O(1)", syntax="DBSIZE"))
    assert docs == {b"summary": b"Count keys", b"since": b"1.0.0", b"group": b"server",
                    b"complexity": b"O(1)"}
    docs = command_docs(spec(name="get", keys=(1, 1, 1), syntax="GET key"))
    assert docs[b"arguments"] == [{b"name": b"key", b"type": b"key", b"key_spec_index": 0}]


def test_help_reply_is_framed_like_redis_addreplyhelp():
    assert help_reply("CONFIG", ["GET <pattern>"]) == [
        "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET <pattern>", "HELP", "    Prints this help."]
    assert all(type(line) is Status for line in help_reply("X", []))


def test_every_registered_command_has_docs_that_build():
    import redis_clone.commands  # noqa: F401  (fills the table)
    from redis_clone.registry import COMMANDS

    for registered in COMMANDS:
        assert command_docs(registered)[b"group"]
        assert command_info(registered)[0] == registered.name.encode()
