"""Snapshots: when and how the dataset goes to disk, and comes back at startup.

One `Persistence` per server (`ServerState.persistence`) does what Redis's rdb.c and
parts of server.c do around the file format:

* SAVE: write the snapshot now, holding the keyspace lock *shared* so no write can
  change the data half-way (reads go on, until a writer queues for the lock).
* BGSAVE: fork. The child gets a copy-on-write image of the whole process frozen at
  the instant of fork(), writes it to disk and exits; the parent goes on serving. The
  fork happens while we hold the keyspace lock (shared), so no write command is
  half-done in the image. A waiter thread reaps the child and records the outcome.
  docs/persistence.md explains the scheme and its costs.
* Save points (`save 3600 1 300 100 ...`): the server's cron thread calls `cron()`
  every tick; a BGSAVE starts once "at least N changes and more than S seconds since
  the last save" holds for some point. After a failure, it retries after 5 seconds.
* Crash safety: the file is written under a temporary name, flushed and fsync()ed,
  then renamed over the old one, and the directory is fsync()ed so the rename itself
  is durable. A crash or a full disk at any moment leaves the previous dump whole.
* MISCONF: after a failed BGSAVE, with save points configured and
  `stop-writes-on-bgsave-error yes`, write commands (and PING) are refused until a
  save succeeds, so nobody keeps writing data that silently will not be persisted.
* Loading: `load()` reads the whole file before touching the keyspace, then installs
  it, so a corrupted file leaves the current data alone.

Locks, always taken in this order: the keyspace lock, then `_save_lock`, held for a
whole synchronous save (two of them at once, say SAVE and a SIGTERM, both under the
shared keyspace lock, would write the same temporary file), then `_lock`, which guards
the status fields (the running child, last results) and is never held while waiting for
anything. Changes are counted by `Keyspace.dirty`, which only ever grows; we remember its
value at the last save, so no thread but the writers ever modifies it.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import psutil

from redis_clone import errors
from redis_clone.densedict import DenseDict, StampedDict
from redis_clone.errors import RedisError
from redis_clone.persistence.rdb import EncodingLimits, RdbError
from redis_clone.persistence.rdb_reader import RdbReader
from redis_clone.persistence.rdb_writer import RdbWriter
from redis_clone.registry import WRITE, CommandSpec

if TYPE_CHECKING:
    from redis_clone.keyspace import Keyspace
    from redis_clone.state import ServerState

log = logging.getLogger("redis_clone")

RETRY_DELAY = 5  # seconds before save points retry a failed BGSAVE (CONFIG_BGSAVE_RETRY_DELAY)
KILL_SIGNAL = signal.SIGUSR1  # how we stop a child on purpose; any other signal is a failure
WRITE_BUFFER = 1 << 20


@dataclass
class _Child:
    """A BGSAVE in progress."""

    pid: int
    started: float            # wall clock, for INFO rdb_current_bgsave_time_sec
    changes_at_fork: int      # Keyspace.dirty when the image was taken
    error_pipe: int           # read end: the child writes why it failed
    reaped: threading.Event
    killed: bool = False      # we stopped it (FLUSHALL, shutdown): not a failure


@dataclass(frozen=True)
class LoadedDataset:
    """A whole file read into fresh tables, not yet visible to clients."""

    tables: list[tuple[DenseDict | StampedDict, DenseDict]]  # per database: (data, expires)
    keys_loaded: int
    keys_expired: int
    aux: dict[str, bytes]


class Persistence:
    def __init__(self, state: "ServerState") -> None:
        self._state = state
        self._lock = threading.Lock()
        self._save_lock = threading.Lock()
        self._child: _Child | None = None
        # At startup the dataset counts as saved, as in Redis.
        self.last_save = int(state.clock.time())
        self._changes_at_last_save = state.keyspace.dirty
        self.last_bgsave_ok = True
        self.last_bgsave_seconds = -1
        self.latest_fork_usec = 0
        self._last_bgsave_try = 0.0
        self.bgsave_scheduled = False
        self.loading = False
        self.last_load_keys_loaded = 0
        self.last_load_keys_expired = 0

    # --- status (INFO persistence, LASTSAVE, MISCONF) ---------------------------

    @property
    def path(self) -> str:
        config = self._state.config
        return os.path.join(config.get("dir"), config.get("dbfilename"))

    def save_points(self) -> list[tuple[int, int]]:
        """`save 3600 1 300 100` -> [(3600, 1), (300, 100)]."""
        numbers = [int(word) for word in self._state.config.get("save").split()]
        return list(zip(numbers[0::2], numbers[1::2]))

    @property
    def changes_since_last_save(self) -> int:
        return self._state.keyspace.dirty - self._changes_at_last_save

    @property
    def bgsave_in_progress(self) -> bool:
        return self._child is not None

    def current_bgsave_seconds(self) -> int:
        child = self._child
        return -1 if child is None else int(self._state.clock.time() - child.started)

    def check_command_allowed(self, spec: CommandSpec) -> None:
        """MISCONF: refuse writes after a failed background save (see module docstring).
        Redis refuses PING too, so that a monitoring probe notices the problem."""
        if (spec.writes or spec.name == "ping") and self._writes_denied():
            raise RedisError(errors.MISCONF)

    def _writes_denied(self) -> bool:
        return (not self.last_bgsave_ok
                and self._state.config.get_bool("stop-writes-on-bgsave-error")
                and bool(self._state.config.get("save")))

    # --- SAVE --------------------------------------------------------------------

    def save(self) -> None:
        """SAVE: write the snapshot now. Raises RedisError if a BGSAVE runs or the
        save fails (the reason goes to the log, as in Redis)."""
        if self._child is not None:
            raise RedisError(errors.BGSAVE_IN_PROGRESS)
        self._state.stats.incr("rdb_saves")
        with self._state.keyspace.lock.read():
            self.save_locked()

    def save_locked(self) -> None:
        """Write the snapshot; the caller holds the keyspace lock (either way)."""
        keyspace = self._state.keyspace
        changes = keyspace.dirty
        try:
            with self._save_lock:
                write_snapshot(self.path, keyspace, **self._snapshot_options())
        except (OSError, RdbError) as err:
            log.warning("Error saving DB on disk: %s", err)
            raise RedisError(errors.SAVE_FAILED) from None
        log.info("DB saved on disk")
        with self._lock:
            self._changes_at_last_save = changes
            self.last_save = int(self._state.clock.time())
            self.last_bgsave_ok = True  # a good save lifts MISCONF, as in Redis

    def _snapshot_options(self) -> dict:
        """Everything the writer needs, read now: a forked child must not touch the
        config (or anything else that has a lock)."""
        from redis_clone.state import REDIS_VERSION  # here: state.py imports this module
        config = self._state.config
        return dict(version=REDIS_VERSION, limits=EncodingLimits.from_config(config),
                    compression=config.get_bool("rdbcompression"),
                    checksum=config.get_bool("rdbchecksum"),
                    # Redis's hidden rdb-key-save-delay (microseconds per key) makes a
                    # BGSAVE slow on purpose, so tests can act while one runs.
                    key_delay=max(config.get_int("rdb-key-save-delay"), 0) / 1e6,
                    now=self._state.clock.time(),
                    used_memory=psutil.Process().memory_info().rss)

    # --- BGSAVE ------------------------------------------------------------------

    def background_save(self) -> None:
        """BGSAVE: fork a child that writes the snapshot. Raises RedisError when one
        is already running or fork() fails."""
        keyspace = self._state.keyspace
        options, path = self._snapshot_options(), self.path
        # Lock order: the keyspace lock, then ours. Shared is enough: it keeps every
        # writer out, and readers never change the keyspace.
        with keyspace.lock.read(), self._lock:
            if self._child is not None:
                raise RedisError(errors.BGSAVE_IN_PROGRESS)
            self._last_bgsave_try = self._state.clock.time()
            self._state.stats.incr("rdb_saves")
            read_end, write_end = os.pipe()
            started = time.perf_counter()
            try:
                pid = os.fork()
            except OSError as err:
                os.close(read_end)
                os.close(write_end)
                self.last_bgsave_ok = False
                log.warning("Can't save in background: fork: %s", err.strerror)
                raise RedisError(errors.SAVE_FAILED) from None
            if pid == 0:
                _child_main(path, keyspace, options, write_end)  # never returns
            self.latest_fork_usec = int((time.perf_counter() - started) * 1_000_000)
            os.close(write_end)
            self._state.stats.incr("total_forks")
            child = _Child(pid, self._state.clock.time(), keyspace.dirty, read_end,
                           threading.Event())
            self._child = child
            self.bgsave_scheduled = False
        log.info("Background saving started by pid %d (fork took %.1f ms)", pid,
                 self.latest_fork_usec / 1000)
        threading.Thread(target=self._reap, args=(child,), name="redis-bgsave-waiter",
                         daemon=True).start()

    def _reap(self, child: _Child) -> None:
        """Waiter thread: block until the child exits, then record how it went."""
        _, status = os.waitpid(child.pid, 0)
        with os.fdopen(child.error_pipe, "rb") as pipe:
            reason = pipe.read().decode("utf-8", "replace")
        code = os.waitstatus_to_exitcode(status)  # negative: killed by that signal
        seconds = int(self._state.clock.time() - child.started)
        if code != 0:
            _remove_quietly(_temp_path(os.path.dirname(self.path), child.pid))
        with self._lock:
            self._child = None
            self.last_bgsave_seconds = seconds
            if code == 0:
                self._changes_at_last_save = child.changes_at_fork
                self.last_save = int(self._state.clock.time())
                self.last_bgsave_ok = True
            elif not (child.killed or code == -KILL_SIGNAL):
                self.last_bgsave_ok = False
        if code == 0:
            log.info("Background saving terminated with success")
        elif code < 0:
            log.warning("Background saving terminated by signal %d", -code)
        else:
            log.warning("Background saving error: %s", reason or "unknown")
        child.reaped.set()

    def wait_for_background_save(self, timeout: float | None = None) -> bool:
        """Block until the running BGSAVE (if any) has been reaped; False on timeout."""
        child = self._child
        return child is None or child.reaped.wait(timeout)

    def kill_background_save(self) -> None:
        """Stop a running BGSAVE and wait until it is reaped (FLUSHALL, shutdown):
        its temporary file is removed and the old dump stays as it was."""
        with self._lock:
            child = self._child
            if child is None:
                return
            child.killed = True
            log.warning("There is a child saving an .rdb. Killing it!")
            try:
                os.kill(child.pid, KILL_SIGNAL)
            except ProcessLookupError:
                pass  # it exited already; the waiter thread is reaping it
        child.reaped.wait()

    # --- the cron: save points ---------------------------------------------------

    def cron(self) -> None:
        """Called by the server's cron thread every tick: start a BGSAVE when a save
        point is reached, or when one was scheduled (BGSAVE SCHEDULE)."""
        if self._child is not None:
            return
        now = self._state.clock.time()
        may_retry = self.last_bgsave_ok or now - self._last_bgsave_try > RETRY_DELAY
        if not may_retry:
            return
        changes = self.changes_since_last_save
        reached = next(((seconds, wanted) for seconds, wanted in self.save_points()
                        if changes >= wanted and now - self.last_save > seconds), None)
        if reached is None and not self.bgsave_scheduled:
            return
        if reached is not None:
            log.info("%d changes in %d seconds. Saving...", reached[1], reached[0])
        try:
            self.background_save()
        except RedisError:
            pass  # already logged; the next tick retries after RETRY_DELAY

    # --- FLUSHALL and shutdown ---------------------------------------------------

    def after_flushall(self) -> None:
        """FLUSHALL (caller holds the write lock): a running BGSAVE would write the
        old data, so it is killed; with save points, the empty dataset is saved at
        once, so a restart does not bring the flushed keys back."""
        self.kill_background_save()
        if self.save_points():
            try:
                self.save_locked()
            except RedisError:
                pass  # logged; FLUSHALL still succeeds, as in Redis

    def prepare_for_shutdown(self, *, save: bool | None, force: bool) -> bool:
        """What Redis does before exiting: stop a BGSAVE, then save if asked (by
        default: if save points are configured). False when the save failed and
        `force` is off, in which case the server must keep running."""
        self.kill_background_save()
        if save is None:
            save = bool(self.save_points())
        if not save:
            return True
        log.warning("Saving the final RDB snapshot before exiting.")
        try:
            with self._state.keyspace.lock.read():
                self.save_locked()
        except RedisError:
            if not force:
                log.warning("Error trying to save the DB, can't exit.")
                return False
            log.warning("Error trying to save the DB. Exit anyway.")
        return True

    # --- loading -----------------------------------------------------------------

    def load(self) -> LoadedDataset | None:
        """Read the dump (`dir`/`dbfilename`) into fresh tables; None if there is no
        file. Raises RdbError or OSError, naming the problem."""
        state = self._state
        try:
            with open(self.path, "rb") as file:
                data = file.read()
        except FileNotFoundError:
            return None
        config = state.config
        reader = RdbReader(data, EncodingLimits.from_config(config),
                           verify_checksum=config.get_bool("rdbchecksum"),
                           databases=len(state.keyspace.dbs))
        tables = [(state.keyspace.new_table(), DenseDict()) for _ in state.keyspace.dbs]
        now_ms = state.clock.time_ms()
        loaded = expired = 0
        for db, key, value, deadline in reader.entries():
            if deadline is not None and deadline < now_ms:
                expired += 1  # a master drops keys that expired while it was down
                continue
            values, deadlines = tables[db]
            if key in values:
                raise RdbError(f"duplicated key '{key.decode('utf-8', 'replace')}' in db {db}")
            values[key] = value
            if deadline is not None:
                deadlines[key] = deadline
            loaded += 1
        if reader.empty_keys_skipped:
            log.warning("Done loading RDB, empty keys skipped: %d", reader.empty_keys_skipped)
        return LoadedDataset(tables, loaded, expired, reader.aux)

    def install(self, dataset: LoadedDataset, *, flush: bool = True, merge: bool = False) -> None:
        """Make a loaded dataset the server's (caller holds the write lock, or no
        client is connected yet). Without `flush`, the loaded keys join the current
        ones; a key in both is an error unless `merge` (the file's version wins)."""
        keyspace = self._state.keyspace
        if flush:
            for db, (values, deadlines) in zip(keyspace.dbs, dataset.tables):
                db.flush()  # through the keyspace, so WATCHed keys see the change
                db.data, db.expires = values, deadlines
        else:
            _merge_into(keyspace, dataset, overwrite=merge)
        keyspace.recount_memory()  # the tables were filled directly, bypassing set()
        self.last_load_keys_loaded = dataset.keys_loaded
        self.last_load_keys_expired = dataset.keys_expired

    def load_at_startup(self) -> None:
        """Load the dump before serving; raises RdbError/OSError if it is unusable."""
        started = time.perf_counter()
        self.loading = True
        try:
            dataset = self.load()
        finally:
            self.loading = False
        if dataset is None:
            return
        self.install(dataset)
        version = dataset.aux.get("redis-ver", b"?").decode("utf-8", "replace")
        log.info("Loading RDB produced by version %s", version)
        log.info("Done loading RDB, keys loaded: %d, keys expired: %d.",
                 dataset.keys_loaded, dataset.keys_expired)
        log.info("DB loaded from disk: %.3f seconds", time.perf_counter() - started)

    def reload(self, *, save: bool, flush: bool, merge: bool) -> None:
        """DEBUG RELOAD: save (unless told not to), then load the file back in place.
        Caller holds the write lock."""
        if save:
            self.save_locked()
        self.loading = True
        try:
            dataset = self.load()
        except (OSError, RdbError) as err:
            log.warning("Error trying to load the RDB dump: %s", err)
            dataset = None
        finally:
            self.loading = False
        if dataset is None:
            raise RedisError(errors.RELOAD_FAILED)
        changes = self._state.keyspace.dirty
        self.install(dataset, flush=flush, merge=merge)
        # Reloading is not a change to persist: Redis's dirty counter ignores it too.
        self._changes_at_last_save += self._state.keyspace.dirty - changes
        log.warning("DB reloaded by DEBUG RELOAD")


def _merge_into(keyspace: "Keyspace", dataset: LoadedDataset, *, overwrite: bool) -> None:
    pairs = list(zip(keyspace.dbs, dataset.tables))
    if not overwrite and any(key in db.data for db, (values, _) in pairs for key in values):
        raise RedisError(errors.RELOAD_FAILED)  # checked first: all of it or nothing
    for db, (values, deadlines) in pairs:
        for key, value in values.items():
            db.data[key] = value
            deadline = deadlines.get(key)
            if deadline is None:
                db.expires.pop(key)
            else:
                db.expires[key] = deadline


# --- writing a file (safe to run in a forked child) --------------------------------

def write_snapshot(path: str, keyspace: "Keyspace", *, version: str, limits: EncodingLimits,
                   compression: bool, checksum: bool, key_delay: float, now: float,
                   used_memory: int) -> None:
    """Write the whole keyspace to `path` atomically: a temporary file, fsync, rename,
    fsync of the directory. On any error the temporary file is removed and `path`
    is untouched.

    Takes no lock and logs nothing, so it can run in a forked child. The caller makes
    sure no write runs meanwhile (keyspace lock, or the child's frozen image).
    """
    directory = os.path.dirname(path)
    temp = _temp_path(directory, os.getpid())
    try:
        with open(temp, "wb", buffering=WRITE_BUFFER) as file:
            writer = RdbWriter(file, limits, compression=compression, checksum=checksum,
                               key_delay=key_delay)
            writer.start({"redis-ver": version.encode(), "redis-bits": b"64",
                          "ctime": b"%d" % now, "used-mem": b"%d" % used_memory,
                          "aof-base": b"0"})
            for db in keyspace.dbs:
                writer.database(db.index, db.data.items(), dict(db.expires.items()), len(db.data))
            writer.finish()
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        _remove_quietly(temp)
        raise
    _fsync_directory(directory)


def _child_main(path: str, keyspace: "Keyspace", options: dict, write_end: int) -> None:
    """The forked child: write the snapshot and exit, reporting failure through the
    pipe and the exit status. It must never return into the server's code, never
    take a lock (one another thread held at fork time is held forever here) and
    never flush the parent's stdio buffers: hence os._exit() on every path."""
    status = 1
    try:
        # Every descriptor but the pipe belongs to the server: the listening sockets
        # (which would keep the port busy if the server died before us) and the
        # clients' connections (which would stay open after the server closed them).
        os.closerange(3, write_end)
        os.closerange(write_end + 1, os.sysconf("SC_OPEN_MAX"))
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, signal.SIG_DFL)  # the server's handlers are not ours
        gc.disable()  # a collection would touch (and so copy) every object's page
        write_snapshot(path, keyspace, **options)
        status = 0
    except BaseException as err:  # report anything: the parent logs it
        os.write(write_end, f"{type(err).__name__}: {err}".encode("utf-8", "replace")[:4096])
    finally:
        os._exit(status)


def _temp_path(directory: str, pid: int) -> str:
    return os.path.join(directory, f"temp-{pid}.rdb")  # Redis's name for it


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass  # never created, or already renamed into place


def _fsync_directory(directory: str) -> None:
    """A rename is only durable once the directory entry itself reaches the disk."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
