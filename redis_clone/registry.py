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
do not touch keys (PING, CLIENT...). Commands that run other commands (EXEC, EVAL)
take the write lock themselves with `locked()` and run each inner command with
`call()`, which never takes it again (the lock is not reentrant). The handler's
docstring's first line is its syntax; COMMAND DOCS builds its argument lists from it.
"""

from __future__ import annotations

import enum
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

from common.resp import ErrorReply
from redis_clone import errors, transactions
from redis_clone.blocking import Block
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
    NO_ASYNC_LOADING = enum.auto()  # refused while a replica loads in the background
    NO_MULTI = enum.auto()
    ALLOW_BUSY = enum.auto()

    @property
    def names(self) -> list[str]:
        return [f.name.lower() for f in Flag if f in self]  # "skip_monitor", as Redis spells them


WRITE, READONLY, DENYOOM, ADMIN = Flag.WRITE, Flag.READONLY, Flag.DENYOOM, Flag.ADMIN
NOSCRIPT, LOADING, STALE, FAST = Flag.NOSCRIPT, Flag.LOADING, Flag.STALE, Flag.FAST
BLOCKING, NO_AUTH, NO_MULTI, PUBSUB = Flag.BLOCKING, Flag.NO_AUTH, Flag.NO_MULTI, Flag.PUBSUB
ALLOW_BUSY, SKIP_SLOWLOG, SKIP_MONITOR = Flag.ALLOW_BUSY, Flag.SKIP_SLOWLOG, Flag.SKIP_MONITOR
NO_ASYNC_LOADING = Flag.NO_ASYNC_LOADING
NONE = Flag(0)

SUBSCRIBED_MODE_COMMANDS = frozenset({"subscribe", "unsubscribe", "psubscribe", "punsubscribe",
                                      "ssubscribe", "sunsubscribe", "ping", "quit", "reset"})

BUSY_POLL_SECONDS = 0.05  # how often a client waiting for the lock checks for a busy script

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
    # The handler takes the keyspace lock itself, with registry.locked(): commands that
    # run other commands (EXEC, EVAL...) whatever their READONLY/WRITE flags say.
    own_lock: bool = False
    # Where our behaviour knowingly differs from Redis 7.0 (docs/commands.md lists it).
    differences: str = ""

    def __post_init__(self) -> None:
        # The dispatcher's per-command questions, answered once: testing an enum.Flag
        # (`flags & WRITE`) builds a new Flag object each time, which cost more than
        # the rest of a GET's dispatch when profiled under redis-benchmark.
        self.writes = bool(self.flags & WRITE)
        self.locks = bool(self.flags & (WRITE | READONLY)) and not self.own_lock
        self.denyoom = bool(self.flags & DENYOOM)
        self.allow_busy = bool(self.flags & ALLOW_BUSY)
        self.no_multi = bool(self.flags & NO_MULTI)

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

    SPELLINGS_CACHED = 1024  # bounded: clients choose the spellings, in any letter case

    def __init__(self) -> None:
        self._commands: dict[str, CommandSpec] = {}
        # b"SET", b"set"... -> spec: one dict lookup per command instead of decode + lower.
        self._spellings: dict[bytes, CommandSpec] = {}

    def add(self, spec: CommandSpec) -> None:
        parent, _, child = spec.name.partition("|")
        if child:
            self._commands[parent].subcommands[child] = spec
        else:
            self._commands[parent] = spec
        self._spellings.clear()

    def get(self, name: bytes | str) -> CommandSpec | None:
        if isinstance(name, bytes):
            spec = self._spellings.get(name)
            if spec is not None:
                return spec
            spec = self._commands.get(name.decode("utf-8", "surrogateescape").lower())
            if spec is not None and len(self._spellings) < self.SPELLINGS_CACHED:
                self._spellings[name] = spec
            return spec
        return self._commands.get(name.lower())

    def __iter__(self):
        return iter(self._commands.values())

    def __len__(self) -> int:
        return len(self._commands)

    def rename(self, old: str, new: str) -> None:
        """rename-command, at startup: the command `old` named is found as `new` from now
        on ("" removes it). Like Redis, it keeps its own name everywhere else (COMMAND
        INFO, INFO commandstats). Raises ValueError with Redis's reason."""
        spec = self._commands.get(old.lower())
        if spec is None:
            raise ValueError(errors.RENAME_NO_SUCH_COMMAND)
        if new and new.lower() != old.lower() and new.lower() in self._commands:
            raise ValueError(errors.RENAME_TARGET_EXISTS)
        del self._commands[old.lower()]
        if new:
            self._commands[new.lower()] = spec
        self._spellings.clear()  # the old spellings must stop finding it

    def resolve(self, argv: list[bytes]) -> tuple[CommandSpec, list[bytes]]:
        """Find the spec for argv and check its arity; return it with the handler's args.

        Raises the exact Redis error for an unknown command, unknown subcommand or
        wrong number of arguments (as `UnknownCommand` / `WrongArity`, which scripts
        report in words of their own).
        """
        spec = self.get(argv[0])
        if spec is None:
            raise errors.UnknownCommand(errors.unknown_command(argv[0], argv[1:]))
        if spec.subcommands and (len(argv) > 1 or spec.handler is None):
            # A container alone ("CONFIG") is an arity error, unless it has a handler of
            # its own for that case, as COMMAND does (it lists every command).
            if len(argv) < 2:
                raise errors.WrongArity(errors.wrong_arity(spec.name))
            sub = spec.subcommands.get(argv[1].decode("utf-8", "surrogateescape").lower())
            if sub is None:
                raise errors.UnknownCommand(errors.unknown_subcommand(argv[1], argv[0]))
            if not sub.arity_ok(len(argv)):
                raise errors.WrongArity(errors.wrong_arity(sub.name))
            return sub, argv[2:]
        if not spec.arity_ok(len(argv)):
            raise errors.WrongArity(errors.wrong_arity(spec.name))
        return spec, argv[1:]


COMMANDS = CommandTable()

NO_REPLY = object()
"""A handler returns this when the client must get no reply at all (SHUTDOWN)."""


def command(name: str, arity: int, flags: Flag = NONE, *, keys: tuple[int, int, int] = (0, 0, 0),
            group: str = "generic", since: str = "1.0.0", summary: str = "",
            complexity: str = "O(1)", acl_categories: tuple[str, ...] = (),
            tips: tuple[str, ...] = (), key_flags: tuple[str, ...] = (), key_notes: str = "",
            differences: str = "", own_lock: bool = False, table: CommandTable = COMMANDS):
    """Register the decorated function as the handler of `name`."""

    def register(handler: Handler) -> Handler:
        doc = (handler.__doc__ or "").strip().splitlines()
        table.add(CommandSpec(
            name=name, arity=arity, flags=flags, handler=handler, keys=keys, group=group,
            since=since, summary=summary, complexity=complexity, acl_categories=acl_categories,
            tips=tips, key_flags=key_flags, key_notes=key_notes, differences=differences,
            own_lock=own_lock, syntax=doc[0].strip() if doc else name.upper().replace("|", " "),
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
    """Run one command from a client and return its reply value.

    The steps of Redis's processCommand: find the command and check it may run now
    (`_admit`); inside MULTI, queue it instead (transactions.py); otherwise run it under
    the keyspace lock its flags ask for. A command refused before running also dooms
    an open transaction. This is the one place errors become replies.

    A blocking command (BLPOP...) with nothing to pop returns a `blocking.Block`
    instead: the caller (server.py) waits for it to be served or to time out.
    """
    transaction = ctx.client.transaction
    spec = None
    try:
        spec, args = table.resolve(argv)
        _admit(ctx, spec)
    except RedisError as err:
        return _refused(ctx, spec or table.get(argv[0]), err)
    ctx.command = spec
    ctx.client.last_command = spec.name  # CLIENT LIST's cmd=
    if transaction.active and transactions.queues(transaction, spec):
        return transactions.queue(transaction, spec, args)
    server = ctx.server
    if server.client_pause.active:
        server.client_pause.wait(spec)  # CLIENT PAUSE: hold the command until it ends
    failed = False
    started = server.clock.monotonic()
    try:
        if spec.locks:
            # acquire()/release() rather than `with locked()`: the generator behind a
            # @contextmanager costs more than the rest of a GET's locking.
            write = spec.writes
            taken = acquire(ctx, write)
            try:
                if spec.denyoom and server.evictor.maxmemory:
                    # Over maxmemory: evict first (it mutates the keyspace, hence here,
                    # under the write lock every DENYOOM command holds), or refuse: -OOM.
                    server.evictor.make_room()
                    reply = spec.handler(ctx, args)
                    server.evictor.make_room(refuse=False)  # and settle what it added
                else:
                    reply = spec.handler(ctx, args)
            finally:
                if taken:
                    release(ctx, write)
        else:
            reply = spec.handler(ctx, args)
    except errors.Refused as err:
        return _refused(ctx, spec, err)
    except RedisError as err:
        reply, failed = _error_reply(ctx, err.message), True
    # Statistics, SLOWLOG and MONITOR (commandlog.py).
    usec = int((server.clock.monotonic() - started) * 1e6)
    server.commandlog.record(ctx.client, spec, argv, usec, failed)
    return reply


def call(ctx: "CommandContext", spec: CommandSpec, args: list[bytes]):
    """Run a resolved command while the caller already holds the write lock: EXEC's
    queue and a script's redis.call(). Errors come back as ErrorReply values, and a
    blocking command that finds nothing answers its timeout reply at once, as Redis's
    commands do inside MULTI and Lua (they must never wait there)."""
    ctx.command = spec
    failed = False
    started = ctx.server.clock.monotonic()
    try:
        reply = spec.handler(ctx, args)
    except RedisError as err:
        reply, failed = _error_reply(ctx, err.message), True
    ctx.server.commandlog.record(ctx.client, spec, [*spec.name.encode().split(b"|"), *args],
                                 int((ctx.server.clock.monotonic() - started) * 1e6), failed)
    return reply.nonblocking_reply if isinstance(reply, Block) else reply


@contextmanager
def locked(ctx: "CommandContext", *, write: bool) -> Iterator[None]:
    """Hold the keyspace lock, shared or exclusive, for the command in `ctx.command`
    (see acquire()): what EXEC, scripts and CONFIG SET use around their work."""
    taken = acquire(ctx, write)
    try:
        yield
    finally:
        if taken:
            release(ctx, write)


def acquire(ctx: "CommandContext", write: bool) -> bool:
    """Take the keyspace lock for `ctx.command`; False if there was nothing to take.

    A Lua script holds the write lock for as long as it runs. A client waiting behind
    it wakes up every BUSY_POLL_SECONDS, and once the script has run longer than
    busy-reply-threshold it gives up with -BUSY (unless its command may run while a
    script is busy, like WATCH). Inside EXEC or a script the caller already holds the
    lock (`ctx.holds_lock`): nothing to take, and clients blocked on keys pushed to
    are served once, when the outermost EXEC or script lets go (see blocking.py).
    """
    if ctx.holds_lock:
        return False
    lock = ctx.server.keyspace.lock
    take = lock.acquire_write if write else lock.acquire_read
    while not take(timeout=BUSY_POLL_SECONDS):
        if not ctx.command.allow_busy:
            ctx.server.scripts.refuse_if_busy()
    if write:
        ctx.holds_lock = True
    return True


def release(ctx: "CommandContext", write: bool) -> None:
    """Let go of what acquire() took."""
    keyspace = ctx.server.keyspace
    if not write:
        keyspace.lock.release_read()
        return
    ctx.holds_lock = False
    try:
        # Hand what this write pushed to clients blocked on those keys before
        # any other command can take it (see blocking.py).
        keyspace.blocking.serve()
        keyspace.settle_memory()  # re-measure containers changed in place (memory.py)
    finally:
        keyspace.lock.release_write()


def _admit(ctx: "CommandContext", spec: CommandSpec) -> None:
    """Refuse a command that may not run now, before it is queued or run."""
    if not ctx.client.admitted:
        ctx.server.acl.check(ctx.client, spec)  # -NOAUTH, -NOPERM
    server = ctx.server
    # The two checks below cost a call each, so only when a script runs or a
    # background save failed (the methods decide the rest).
    if not spec.allow_busy and server.scripts.running is not None:
        server.scripts.refuse_if_busy()
    if spec.no_multi and ctx.client.transaction.active:
        raise RedisError(errors.NOT_ALLOWED_IN_MULTI)
    if not server.persistence.last_bgsave_ok:
        server.persistence.check_command_allowed(spec)  # MISCONF after a failed BGSAVE
    client = ctx.client
    if (client.channels or client.patterns) and client.protocol == 2 \
            and spec.name not in SUBSCRIBED_MODE_COMMANDS:
        # A RESP2 connection carries pushed messages and replies on one stream: while
        # subscribed, only commands whose replies cannot be mistaken for messages.
        raise RedisError(errors.subscribed_context(spec.name))


def _refused(ctx: "CommandContext", spec: CommandSpec | None, err: RedisError) -> ErrorReply:
    """A command turned away before running. Inside MULTI that dooms the transaction;
    an EXEC turned away (BUSY, wrong arity) ends it, and says why (execCommandAbort)."""
    transaction = ctx.client.transaction
    message = err.message
    transactions.doom(transaction)
    if not isinstance(err, errors.UnknownCommand):
        ctx.server.commandlog.rejected(spec)  # INFO commandstats' rejected_calls
    if spec is not None and spec.name == "exec":
        message = transactions.abort(ctx.server.keyspace, transaction, message)
    return _error_reply(ctx, message)


def _error_reply(ctx: "CommandContext", message: str) -> ErrorReply:
    ctx.server.stats.incr("total_error_replies")
    ctx.server.commandlog.error(message)  # INFO errorstats
    return ErrorReply(message)
