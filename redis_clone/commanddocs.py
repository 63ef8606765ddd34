"""What COMMAND INFO and COMMAND DOCS say about a command, derived from its CommandSpec.

Redis describes every command in `src/commands/*.json` and builds both replies from that.
We have less: each handler's registration (arity, flags, key positions, group) and its
syntax line, e.g. "SET key value [NX | XX] [GET] [EX seconds | PX milliseconds]". This
module derives the rest the way Redis's own files are written:

* ACL categories: implied by flags (write -> @write, not fast -> @slow...) and by the
  group (string -> @string), plus any the spec adds (`acl_categories=("dangerous",)`).
* Key specs: one "index + range" spec from `keys=(first, last, step)`.
* DOCS arguments: the syntax line parsed into Redis's argument tree, where `[ ]` is
  optional, `< | >` a choice, an UPPERCASE word a token and `x [x ...]` repetition.

Left out on purpose: per-argument "since" and "history" (not in a syntax line), movable
keys, and argument names for groups, which we build from their members ("nx_xx").

The same specs render the human reference, docs/commands.md (`markdown_reference`, run
by `make docs`), with the one field COMMAND DOCS has no room for: `differences`.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from common.resp import RespSet, Status
from redis_clone.registry import COMMANDS, CommandSpec, Flag

# A command's group -> the ACL category Redis's JSON files give its commands.
GROUP_CATEGORIES = {
    "generic": "keyspace", "string": "string", "list": "list", "hash": "hash", "set": "set",
    "sorted-set": "sortedset", "stream": "stream", "bitmap": "bitmap",
    "hyperloglog": "hyperloglog", "geo": "geo", "pubsub": "pubsub",
    "connection": "connection", "transactions": "transaction", "scripting": "scripting",
}

# ACL categories implied by flags (setImplicitACLCategories in server.c).
FLAG_CATEGORIES = {
    Flag.WRITE: ("write",), Flag.READONLY: ("read",), Flag.ADMIN: ("admin", "dangerous"),
    Flag.PUBSUB: ("pubsub",), Flag.FAST: ("fast",), Flag.BLOCKING: ("blocking",),
}

# The order Redis lists categories in (its ACL category table).
CATEGORY_ORDER = ("keyspace", "read", "write", "set", "sortedset", "list", "hash", "string",
                  "bitmap", "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow",
                  "blocking", "dangerous", "connection", "transaction", "scripting")


def acl_categories(spec: CommandSpec) -> list[str]:
    categories = set(spec.acl_categories)
    if not spec.subcommands:  # a container (CLIENT, CONFIG) only says @slow
        categories.update(GROUP_CATEGORIES.get(spec.group, "").split())
    for flag, implied in FLAG_CATEGORIES.items():
        if flag in spec.flags:
            categories.update(implied)
    if "fast" not in categories:
        categories.add("slow")  # "if it's not @fast it is @slow in this binary world"
    if "scripting" in categories:
        categories.discard("read")  # Redis keeps scripting commands out of @read
    return [c for c in CATEGORY_ORDER if c in categories]


def key_flags(spec: CommandSpec) -> tuple[str, ...]:
    """The key-spec flags: the spec's own, or the usual ones for a reader or a writer."""
    if spec.key_flags:
        return spec.key_flags
    return ("RO", "access") if Flag.READONLY in spec.flags else ("RW", "access", "update")


def key_specs(spec: CommandSpec) -> list[dict]:
    first, last, step = spec.keys
    if not first:
        return []
    key_spec: dict = {b"notes": spec.key_notes.encode()} if spec.key_notes else {}
    key_spec[b"flags"] = RespSet(Status(flag) for flag in key_flags(spec))
    key_spec[b"begin_search"] = {b"type": b"index", b"spec": {b"index": first}}
    key_spec[b"find_keys"] = {b"type": b"range", b"spec": {
        b"lastkey": last if last < 0 else last - first, b"keystep": step, b"limit": 0}}
    return [key_spec]


def command_info(spec: CommandSpec) -> list:
    """One entry of COMMAND / COMMAND INFO, in Redis 7's ten-field shape."""
    first, last, step = spec.keys
    return [
        spec.name.encode(),
        spec.arity,
        RespSet(Status(name) for name in spec.flags.names),
        first, last, step,
        RespSet(Status("@" + category) for category in acl_categories(spec)),
        RespSet(tip.encode() for tip in spec.tips),
        RespSet(key_specs(spec)),
        RespSet(command_info(sub) for sub in spec.subcommands.values()),
    ]


def command_docs(spec: CommandSpec) -> dict:
    """One entry of COMMAND DOCS."""
    docs = {b"summary": spec.summary.encode(), b"since": spec.since.encode(),
            b"group": spec.group.encode(), b"complexity": spec.complexity.encode()}
    if spec.handler is not None:
        has_keys = spec.keys[0] > 0
        arguments = parse_syntax(spec.syntax, spec.name.count("|") + 1)
        if arguments:
            docs[b"arguments"] = [argument.reply(has_keys) for argument in arguments]
    if spec.subcommands:
        docs[b"subcommands"] = {sub.name.encode(): command_docs(sub)
                                for sub in spec.subcommands.values()}
    return docs


def help_reply(container: str, lines: list[str]) -> list[Status]:
    """The reply to `<CONTAINER> HELP` (addReplyHelp): a header, the lines, then HELP."""
    header = f"{container} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    return [Status(line) for line in (header, *lines, "HELP", "    Prints this help.")]


# --- syntax lines -> argument trees ---------------------------------------------------

@dataclass
class Argument:
    """One node of COMMAND DOCS "arguments", as Redis's JSON describes it."""

    name: str
    type: str                  # key string integer double pattern unix-time pure-token oneof block
    token: str | None = None   # the keyword before the value ("EX" in "EX seconds")
    optional: bool = False
    multiple: bool = False
    multiple_token: bool = False  # the token repeats too: "GET pattern [GET pattern ...]"
    arguments: list["Argument"] = field(default_factory=list)

    def reply(self, has_keys: bool) -> dict:
        out = {b"name": self.name.encode(), b"type": self.type.encode()}
        if self.type == "key" and has_keys:
            out[b"key_spec_index"] = 0  # we derive a single key spec per command
        if self.token:
            out[b"token"] = self.token.encode()
        flags = [name for name, on in (("optional", self.optional), ("multiple", self.multiple),
                                       ("multiple_token", self.multiple_token)) if on]
        if flags:
            out[b"flags"] = RespSet(Status(flag) for flag in flags)
        if self.arguments:
            out[b"arguments"] = [argument.reply(has_keys) for argument in self.arguments]
        return out


# Argument names that Redis's own docs give a type other than "string".
_NAME_TYPES = {
    **dict.fromkeys(("key", "key1", "key2", "destination", "destkey", "dst", "newkey",
                     "source", "sourcekey", "src"), "key"),
    **dict.fromkeys(("bits", "client-id", "count", "cursor", "db", "decrement",
                     "destination-db", "end", "end-slot", "frequency", "increment", "index",
                     "index1", "index2", "len", "limit", "milliseconds", "ms", "numkeys",
                     "num-matches", "numreplicas", "offset", "port", "protover", "rank",
                     "seconds", "slot", "start", "start-slot", "stop", "ttl", "version",
                     "weight"), "integer"),
    **dict.fromkeys(("height", "latitude", "longitude", "radius", "score", "timeout",
                     "width"), "double"),
    **dict.fromkeys(("unix-time-seconds", "unix-time-milliseconds"), "unix-time"),
    "pattern": "pattern",
}

_LEXEME = re.compile(r"\.\.\.|[\[\]<>|]|[^\s\[\]<>|]+")
_ELLIPSIS = ("...",)
_CLOSERS = ("]", ">")


def parse_syntax(syntax: str, command_words: int = 1) -> list[Argument]:
    """'SET key value [NX | XX]' -> [key, value, oneof(nx, xx)], after the command's
    own `command_words` words ("CONFIG SET" is two)."""
    lexemes = _LEXEME.findall(syntax)[command_words:]
    nodes, position = [], 0
    while position < len(lexemes):  # a stray '|', ']' or '>' at top level is skipped
        sequence, position = _parse_sequence(lexemes, position)
        nodes.extend(sequence)
        position += 1
    return _arguments(_fold(tuple(nodes)))


# The grammar is read into nested tuples first, so that "x [x ...]" can be spotted by
# comparing the part before the bracket with the part inside it:
#   ("word", "key")   ("group", required, (alternative, ...))   ("...",)
#   ("repeat", body, optional)   -- made by _fold() from "body [body ...]"

def _parse_sequence(lexemes: list[str], position: int) -> tuple[tuple, int]:
    nodes = []
    while position < len(lexemes) and lexemes[position] not in ("|", *_CLOSERS):
        lexeme = lexemes[position]
        if lexeme in ("[", "<"):
            alternatives, position = _parse_alternatives(lexemes, position + 1)
            nodes.append(("group", lexeme == "<", alternatives))
        else:
            nodes.append(_ELLIPSIS if lexeme == "..." else ("word", lexeme))
            position += 1
    return tuple(nodes), position


def _parse_alternatives(lexemes: list[str], position: int) -> tuple[tuple, int]:
    """`a | b | c` up to the closing bracket (or the end of an unbalanced line)."""
    alternatives = []
    while True:
        sequence, position = _parse_sequence(lexemes, position)
        alternatives.append(sequence)
        if position >= len(lexemes) or lexemes[position] in _CLOSERS:
            return tuple(alternatives), position + 1
        position += 1  # past '|'


def _fold(nodes: tuple) -> tuple:
    """Turn "body [body ...]" into one repeat node, recursively."""
    out: list = []
    for node in nodes:
        if node == _ELLIPSIS:
            if out:  # "key ..." : the previous item repeats
                out[-1] = ("repeat", (out[-1],), False)
        elif node[0] != "group":
            out.append(node)
        elif not node[1] and len(node[2]) == 1 and node[2][0][-1:] == (_ELLIPSIS,):
            body = _fold(node[2][0][:-1])
            if body and tuple(out[-len(body):]) == body:
                del out[-len(body):]
                out.append(("repeat", body, False))  # key [key ...]: one or more
            else:
                out.append(("repeat", body, True))   # [key ...]: zero or more
        else:
            alternatives = tuple(_fold(alt) for alt in node[2] if alt and alt != (_ELLIPSIS,))
            if alternatives:
                out.append(("group", node[1], alternatives))
    return tuple(out)


def _is_token(word: str) -> bool:
    return word == word.upper()  # NX, GET, FILTERBY, 0 -- names are lowercase


def _arguments(nodes: tuple) -> list[Argument]:
    arguments = []
    i = 0
    while i < len(nodes):
        kind = nodes[i][0]
        if kind == "word" and _is_token(nodes[i][1]):
            token, i = nodes[i][1], i + 1
            names = []
            while i < len(nodes) and nodes[i][0] == "word" and not _is_token(nodes[i][1]):
                names.append(_leaf(nodes[i][1]))
                i += 1
            if names:  # EX seconds, LIMIT offset count
                argument = _one(names)
            elif i < len(nodes) and (nodes[i][0] == "repeat" or nodes[i][0] == "group" and nodes[i][1]):
                argument = _convert(nodes[i])  # ID client-id [client-id ...], TYPE <A | B>
                i += 1
            else:
                argument = Argument(token.lower(), "pure-token")
            argument.token = token
        else:
            argument = _leaf(nodes[i][1]) if kind == "word" else _convert(nodes[i])
            i += 1
        arguments.append(argument)
    return arguments


def _leaf(name: str) -> Argument:
    return Argument(name, _NAME_TYPES.get(name, "string"))


def _one(members: list[Argument]) -> Argument:
    """A sequence as a single argument: itself, or a block holding its parts."""
    if len(members) == 1:
        return members[0]
    return Argument("_".join(m.name for m in members), "block", arguments=members)


def _convert(node: tuple) -> Argument:
    if node[0] == "repeat":
        _, body, optional = node
        argument = _one(_arguments(body))
        argument.multiple = True
        argument.multiple_token = body[0][0] == "word" and _is_token(body[0][1])
        argument.optional = argument.optional or optional
        return argument
    _, required, alternatives = node
    choices = [_one(_arguments(alternative)) for alternative in alternatives]
    argument = choices[0] if len(choices) == 1 else \
        Argument("_".join(c.name for c in choices), "oneof", arguments=choices)
    argument.optional = argument.optional or not required
    return argument


# --- docs/commands.md -----------------------------------------------------------------

REFERENCE_PATH = "docs/commands.md"

_REFERENCE_INTRO = """\
# Command reference

<!-- Generated from the command table by `make docs` (redis_clone/commanddocs.py).
     Do not edit: change the @command registration instead. -->

Every command the Redis clone supports, by group. Each one lists its syntax (Redis's
notation: `[x]` optional, `<a | b>` one of, `x [x ...]` one or more), what it does, its
time complexity as Redis documents it, and how it knowingly differs from Redis 7.0.
The same registrations answer `COMMAND DOCS`, which is where `redis-cli` hints come from.
"""


def markdown_reference(table: Iterable[CommandSpec]) -> str:
    """docs/commands.md for the commands in `table`.

    Groups are sorted by name, commands by name within their group, and subcommands
    follow their container, so the text depends only on the table, never on the order
    modules registered their commands in: the file changes exactly when a spec does.
    """
    groups: dict[str, list[CommandSpec]] = {}
    for spec in table:
        groups.setdefault(spec.group, []).append(spec)
    for specs in groups.values():
        specs.sort(key=lambda spec: spec.name)
    ordered = sorted(groups.items())
    entries = [entry for _, specs in ordered for spec in specs for entry in _with_subcommands(spec)]
    subcommands = sum(len(spec.subcommands) for _, specs in ordered for spec in specs)

    lines = [_REFERENCE_INTRO,
             f"{len(entries) - subcommands} commands and {subcommands} subcommands "
             f"in {len(ordered)} groups.", "",
             "| group | commands |", "|---|---|"]
    for group, specs in ordered:
        lines.append(f"| [{group}](#{_anchor('group: ' + group)}) | "
                     + ", ".join(_link(spec) for spec in specs) + " |")
    differing = sorted((spec for spec in entries if spec.differences), key=_title)
    if differing:
        lines += ["", "Known differences from Redis: " + ", ".join(map(_link, differing)) + "."]
    for group, specs in ordered:
        lines += ["", f"## Group: {group}"]
        for spec in specs:
            for entry in _with_subcommands(spec):
                lines += _entry(entry)
    return "\n".join(lines) + "\n"


def _with_subcommands(spec: CommandSpec) -> list[CommandSpec]:
    return [spec, *sorted(spec.subcommands.values(), key=lambda sub: sub.name)]


def _entry(spec: CommandSpec) -> list[str]:
    lines = ["", f"### {_title(spec)}", "", f"`{spec.syntax}`", ""]
    if spec.summary:
        lines += [_escape(spec.summary), ""]
    lines.append(f"- Complexity: {_escape(spec.complexity)}")
    lines.append(f"- Available since: {spec.since}")
    if spec.differences:
        lines.append(f"- **Differs from Redis:** {_escape(spec.differences)}")
    return lines


def _title(spec: CommandSpec) -> str:
    return spec.name.upper().replace("|", " ")  # "config|get" -> "CONFIG GET"


def _link(spec: CommandSpec) -> str:
    return f"[{_title(spec)}](#{_anchor(_title(spec))})"


def _anchor(heading: str) -> str:
    """The id GitHub gives a heading: lowercase, punctuation dropped, spaces -> '-'."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


# Characters that would turn plain text into Markdown: "O(N*M) ... O(M*log(M))" would
# otherwise set the part between the two stars in italics.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>])")


def _escape(text: str) -> str:
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def main(argv: list[str]) -> None:
    """`make docs`: write the reference to the path given (default docs/commands.md)."""
    import redis_clone.commands  # noqa: F401  (fills the table; it imports this module, so late)
    Path(argv[0] if argv else REFERENCE_PATH).write_text(markdown_reference(COMMANDS))


if __name__ == "__main__":
    main(sys.argv[1:])
