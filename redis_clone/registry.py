"""The command table: every command's contract, and the one dispatcher that enforces it.

Redis describes each command by a small record (name, arity, flags, key positions) in
`src/commands/*.json`; the dispatcher checks the record *before* the handler runs, so a
handler can trust that it got the right number of arguments. We do the same:

    @command("incrby", arity=3, flags=WRITE | DENYOOM | FAST, group="string", since="1.0.0")
    def incrby(ctx, args):
        '''INCRBY key increment'''
        ...

Arity counts the command name: `GET key` has arity 2. A negative arity means "at least":
`SET key value [options]` is -3. Subcommands (`CONFIG GET`) are registered as
"config|get" under a container registered with `container("config", ...)`.

A handler receives the `CommandContext` (client, database, server state) and the
arguments after the command (and subcommand) name, and *returns* its reply value (see
`common.resp`); it never writes to a socket. It raises `RedisError` to fail, and
`execute()` below is the only place that turns that into an error reply.

`execute()` also takes the keyspace lock the flags ask for: a shared read lock for
READONLY commands, the exclusive write lock for WRITE commands, none for commands that
do not touch keys (PING, CLIENT...). The handler's docstring's first line is its syntax;
COMMAND DOCS builds its argument lists from it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable

from common.resp import ErrorReply
from redis_clone import errors
from redis_clone.errors import RedisError

if TYPE_CHECKING:
    from redis_clone.context import CommandContext


class Flag(enum.Flag):
    """Command flags, named as in Redis's COMMAND reply."""

    WRITE = enum.auto()      # modifies the keyspace: runs under the exclusive lock
    READONLY = enum.auto()   # only reads keys: runs under the shared lock
    DENYOOM = enum.auto()    # may grow memory: refused when over maxmemory
    ADMIN = enum.auto()
    PUBSUB = enum.auto()
    NOSCRIPT = enum.auto()   # not callable from Lua
    BLOCKING = enum.auto()
    LOADING = enum.auto()    # allowed while loading a dataset
    STALE = enum.auto()
    SKIP_MONITOR = enum.auto()
    SKIP_SLOWLOG = enum.auto()
    FAST = enum.auto()       # O(1) or O(log N): never blocks the server for long
    NO_AUTH = enum.auto()
    NO_MULTI = enum.auto()
    ALLOW_BUSY = enum.auto()

    @property
    def names(self) -> list[str]:
        return [f.name.lower() for f in Flag if f in self]  # "skip_monitor", as Redis spells them


WRITE, READONLY, DENYOOM, ADMIN = Flag.WRITE, Flag.READONLY, Flag.DENYOOM, Flag.ADMIN
NOSCRIPT, LOADING, STALE, FAST = Flag.NOSCRIPT, Flag.LOADING, Flag.STALE, Flag.FAST
BLOCKING, NO_AUTH, NO_MULTI, PUBSUB = Flag.BLOCKING, Flag.NO_AUTH, Flag.NO_MULTI, Flag.PUBSUB
NONE = Flag(0)

Handler = Callable[["CommandContext", list[bytes]], object]


@dataclass
class CommandSpec:
    name: str                      # lowercase; "config|get" for a subcommand
    arity: int
    flags: Flag
    handler: Handler | None
    keys: tuple[int, int, int] = (0, 0, 0)   # first key, last key (-1: last arg), step
    group: str = "generic"
    since: str = "1.0.0"
    summary: str = ""
    complexity: str = ""
    syntax: str = ""               # e.g. "SET key value [NX | XX]"
    subcommands: dict[str, "CommandSpec"] = field(default_factory=dict)
    # For COMMAND INFO (see commanddocs.py), where Redis's commands/*.json says more
    # than flags, keys and group imply:
    acl_categories: tuple[str, ...] = ()  # extra ACL categories, e.g. ("dangerous",)
    tips: tuple[str, ...] = ()            # e.g. ("nondeterministic_output",)
    key_flags: tuple[str, ...] = ()       # key-spec flags, e.g. ("RW", "access", "update")
    key_notes: str = ""                   # key-spec notes

    def arity_ok(self, argc: int) -> bool:
        return argc == self.arity if self.arity >= 0 else argc >= -self.arity

    def key_positions(self, argc: int) -> Iterable[int]:
        """Indexes into argv of the key arguments (used by COMMAND GETKEYS, WATCH...)."""
        first, last, step = self.keys
        if not first:
            return range(0)
        last = argc + last if last < 0 else last
        return range(first, min(last, argc - 1) + 1, step)


class CommandTable:
    """Name -> CommandSpec, filled by the @command decorators when modules are imported."""

    def __init__(self) -> None:
        self._commands: dict[str, CommandSpec] = {}

    def add(self, spec: CommandSpec) -> None:
        parent, _, child = spec.name.partition("|")
        if child:
            self._commands[parent].subcommands[child] = spec
        else:
            self._commands[parent] = spec

    def get(self, name: bytes | str) -> CommandSpec | None:
        if isinstance(name, bytes):
            name = name.decode("utf-8", "surrogateescape")
        return self._commands.get(name.lower())

    def __iter__(self):
        return iter(self._commands.values())

    def __len__(self) -> int:
        return len(self._commands)

    def resolve(self, argv: list[bytes]) -> tuple[CommandSpec, list[bytes]]:
        """Find the spec for argv and check its arity; return it with the handler's args.

        Raises the exact Redis error for an unknown command, unknown subcommand or
        wrong number of arguments.
        """
        spec = self.get(argv[0])
        if spec is None:
            raise RedisError(errors.unknown_command(argv[0], argv[1:]))
        if spec.subcommands and (len(argv) > 1 or spec.handler is None):
            # A container alone ("CONFIG") is an arity error, unless it has a handler of
            # its own for that case, as COMMAND does (it lists every command).
            if len(argv) < 2:
                raise RedisError(errors.wrong_arity(spec.name))
            sub = spec.subcommands.get(argv[1].decode("utf-8", "surrogateescape").lower())
            if sub is None:
                raise RedisError(errors.unknown_subcommand(argv[1], argv[0]))
            if not sub.arity_ok(len(argv)):
                raise RedisError(errors.wrong_arity(sub.name))
            return sub, argv[2:]
        if not spec.arity_ok(len(argv)):
            raise RedisError(errors.wrong_arity(spec.name))
        return spec, argv[1:]


COMMANDS = CommandTable()

NO_REPLY = object()
"""A handler returns this when the client must get no reply at all (SHUTDOWN)."""


def command(name: str, arity: int, flags: Flag = NONE, *, keys: tuple[int, int, int] = (0, 0, 0),
            group: str = "generic", since: str = "1.0.0", summary: str = "",
            complexity: str = "O(1)", acl_categories: tuple[str, ...] = (),
            tips: tuple[str, ...] = (), key_flags: tuple[str, ...] = (), key_notes: str = "",
            table: CommandTable = COMMANDS):
    """Register the decorated function as the handler of `name`."""

    def register(handler: Handler) -> Handler:
        doc = (handler.__doc__ or "").strip().splitlines()
        table.add(CommandSpec(
            name=name, arity=arity, flags=flags, handler=handler, keys=keys, group=group,
            since=since, summary=summary, complexity=complexity, acl_categories=acl_categories,
            tips=tips, key_flags=key_flags, key_notes=key_notes,
            syntax=doc[0].strip() if doc else name.upper().replace("|", " "),
        ))
        return handler

    return register


def container(name: str, arity: int = -2, *, group: str, since: str, summary: str,
              flags: Flag = NONE, table: CommandTable = COMMANDS) -> None:
    """Register a command that only holds subcommands (CONFIG, CLIENT, COMMAND...)."""
    table.add(CommandSpec(name=name, arity=arity, flags=flags, handler=None, group=group,
                          since=since, summary=summary, complexity="Depends on subcommand.",
                          syntax=name.upper()))


def execute(ctx: "CommandContext", argv: list[bytes], table: CommandTable = COMMANDS):
    """Run one command and return its reply value; the one place errors become replies.

    A blocking command (BLPOP...) with nothing to pop returns a `blocking.Block`
    instead: the caller (server.py) waits for it to be served or to time out.
    """
    try:
        spec, args = table.resolve(argv)
        ctx.command = spec
        ctx.client.last_command = spec.name  # CLIENT LIST's cmd=
        ctx.server.stats.incr("total_commands_processed")
        keyspace = ctx.server.keyspace
        if spec.flags & WRITE:
            with keyspace.lock.write():
                try:
                    return spec.handler(ctx, args)
                finally:
                    # Hand what this write pushed to clients blocked on those keys
                    # before any other command can take it (see blocking.py). EXEC
                    # and scripts will call it once, at the end of the outermost one.
                    keyspace.blocking.serve()
        if spec.flags & READONLY:
            with keyspace.lock.read():
                return spec.handler(ctx, args)
        return spec.handler(ctx, args)
    except RedisError as err:
        ctx.server.stats.incr("total_error_replies")
        return ErrorReply(err.message)
