"""SAVE and BGSAVE when the disk says no: a full disk and a directory that went away.

Tests run as root, for whom no directory is unwritable, so the faults are made another
way. A full disk is RLIMIT_FSIZE on the server process: with SIGXFSZ ignored, a write
past the limit fails with EFBIG, as write() on a full disk fails with ENOSPC. A missing
directory is the server's `dir` renamed away after startup (the old dump moves with it,
so we can still check that nobody touched it).

In every case the old dump must stay byte for byte as it was, no temporary file may
be left behind, SAVE must answer Redis's bare `-ERR`, and a failed BGSAVE must turn
writes away with the exact MISCONF text until a save succeeds or
stop-writes-on-bgsave-error is turned off.
"""

from __future__ import annotations

import os
import random
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import RawConnection, free_port
from tests.integration.helpers import wait_until
from tests.integration.test_cli import DEADLINE, ROOT, ServerProcess

redis = pytest.importorskip("redis")

FILE_SIZE_LIMIT = 256 * 1024
MISCONF = (
    b"-MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist "
    b"to disk. Commands that may modify the data set are disabled, because this instance is "
    b"configured to report errors during writes if RDB snapshotting fails "
    b"(stop-writes-on-bgsave-error option). Please check the Redis logs for details about the "
    b"RDB error.\r\n"
)
SET_K = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"


class FileSizeLimitedServer(ServerProcess):
    """`python -m redis_clone` that cannot write a file bigger than FILE_SIZE_LIMIT."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "redis_clone", *args], cwd=ROOT,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     preexec_fn=_limit_file_size)


def _limit_file_size() -> None:
    """In the child, before exec: both survive exec(), and the forked BGSAVE child too."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG from write() instead of death


@pytest.fixture
def start(tmp_path):
    """start(server_class, data_dir) -> (raw connection, redis-py client), save points on."""
    started: list[ServerProcess] = []

    def run(server_class: type[ServerProcess], data_dir: Path):
        port = free_port()
        started.append(server_class("--port", str(port), "--dir", str(data_dir),
                                    "--save", "3600 1", "--rdbcompression", "no"))
        started[-1].wait_ready(port)
        return RawConnection(port, timeout=DEADLINE), redis.Redis(port=port, socket_timeout=DEADLINE)

    yield run
    for server in started:
        server.kill()


def ask(conn: RawConnection, data: bytes) -> bytes:
    """Send one command as raw bytes; return its one-line reply (status, error, integer)
    byte for byte."""
    conn.send(data)
    reply = b""
    while not reply.endswith(b"\r\n"):
        chunk = conn.sock.recv(65536)
        assert chunk, "the server closed the connection"
        reply += chunk
    return reply


def bgsave_and_wait(client) -> str:
    """BGSAVE, wait for the child to finish, return rdb_last_bgsave_status."""
    assert client.bgsave()
    wait_until(lambda: not client.info("persistence")["rdb_bgsave_in_progress"], DEADLINE,
               "the BGSAVE to finish")
    return client.info("persistence")["rdb_last_bgsave_status"]


def saved_small_dump(client, data_dir: Path) -> bytes:
    """A first dump that fits under the limit, then more data than the limit allows."""
    client.set("small", "kept")
    assert client.save()
    client.set("big", random.Random(7).randbytes(FILE_SIZE_LIMIT * 2))  # incompressible
    return (data_dir / "dump.rdb").read_bytes()


def test_save_on_a_full_disk_answers_err_and_leaves_the_old_dump_as_it_was(start, tmp_path):
    conn, client = start(FileSizeLimitedServer, tmp_path)
    old = saved_small_dump(client, tmp_path)
    assert ask(conn, b"SAVE\r\n") == b"-ERR\r\n"
    assert (tmp_path / "dump.rdb").read_bytes() == old
    assert os.listdir(tmp_path) == ["dump.rdb"]  # the partial temp file is gone
    assert ask(conn, SET_K) == b"+OK\r\n"  # a failed SAVE is no reason for MISCONF


def test_bgsave_on_a_full_disk_refuses_writes_with_misconf_until_a_save_succeeds(start, tmp_path):
    conn, client = start(FileSizeLimitedServer, tmp_path)
    old = saved_small_dump(client, tmp_path)
    assert bgsave_and_wait(client) == "err"
    assert (tmp_path / "dump.rdb").read_bytes() == old
    assert os.listdir(tmp_path) == ["dump.rdb"]
    assert ask(conn, SET_K) == MISCONF
    assert client.get("small") == b"kept"  # reads still work
    # Writes come back when the operator turns the check off...
    assert ask(conn, b"CONFIG SET stop-writes-on-bgsave-error no\r\n") == b"+OK\r\n"
    assert ask(conn, b"DEL big\r\n") == b":1\r\n"
    assert ask(conn, b"CONFIG SET stop-writes-on-bgsave-error yes\r\n") == b"+OK\r\n"
    assert ask(conn, SET_K) == MISCONF  # ...while the last BGSAVE still counts as failed
    # ...or when a save succeeds again.
    assert bgsave_and_wait(client) == "ok"
    assert ask(conn, SET_K) == b"+OK\r\n"
    assert (tmp_path / "dump.rdb").read_bytes() != old


@pytest.mark.parametrize("command", ["SAVE", "BGSAVE"])
def test_saving_into_a_directory_that_went_away_fails_and_works_again_once_it_is_back(
        start, tmp_path, command):
    data_dir, moved = tmp_path / "data", tmp_path / "moved"
    data_dir.mkdir()
    conn, client = start(ServerProcess, data_dir)
    old = saved_small_dump(client, data_dir)
    data_dir.rename(moved)
    if command == "SAVE":
        assert ask(conn, b"SAVE\r\n") == b"-ERR\r\n"
        assert ask(conn, SET_K) == b"+OK\r\n"
    else:
        assert bgsave_and_wait(client) == "err"
        assert ask(conn, SET_K) == MISCONF
    assert (moved / "dump.rdb").read_bytes() == old
    assert os.listdir(moved) == ["dump.rdb"]
    moved.rename(data_dir)
    assert ask(conn, f"{command}\r\n".encode()) in (b"+OK\r\n", b"+Background saving started\r\n")
    if command == "BGSAVE":
        wait_until(lambda: client.info("persistence")["rdb_last_bgsave_status"] == "ok", DEADLINE,
                   "the BGSAVE to succeed")
    assert ask(conn, SET_K) == b"+OK\r\n"
    assert (data_dir / "dump.rdb").read_bytes() != old
