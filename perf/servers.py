"""Start our Redis clone and a real redis-server with the same settings, side by side.

Both run as child processes on free loopback ports, without persistence (`--save ''`,
`--appendonly no`) and with their working directory in a throwaway folder, so that an
explicit BGSAVE writes there and nowhere else. Each `Server` knows its process, so its
resident memory (RSS) can be read with psutil, and has a small client for setup
commands (SCRIPT LOAD, FLUSHALL, INFO); the load itself comes from redis-benchmark.
On request a third contestant, "bare" (perf/bare_server.py), starts the same way: the
architecture baseline.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import psutil

from common.resp_client import RedisClient

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ["--save", "", "--appendonly", "no", "--bind", "127.0.0.1"]
NAMES = ("ours", "redis")   # the order runs are interleaved in
BASELINE = "bare"           # the architecture baseline, measured only where asked for
REQUIRED_TOOLS = ("redis-server", "redis-benchmark")
INSTALL_HINT = ("apt-get install redis-server redis-tools   (Debian/Ubuntu: redis-benchmark "
                "ships with redis-tools; macOS: brew install redis)")


def missing_tools() -> list[str]:
    return [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]


@dataclass
class Server:
    name: str                 # "ours", "redis" or "bare"
    port: int
    proc: subprocess.Popen

    @property
    def client(self) -> RedisClient:
        return RedisClient("127.0.0.1", self.port, connect_timeout=5.0, timeout=600.0)

    def rss(self) -> int:
        return psutil.Process(self.proc.pid).memory_info().rss

    def info(self, section: str) -> dict[str, str]:
        text = self.client.execute("INFO", section).decode()
        return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _command_line(name: str, port: int, workdir: str, ours_flags: tuple[str, ...] = ()) -> list[str]:
    if name == "ours":
        return [sys.executable, "-m", "redis_clone", "--port", str(port), "--dir", workdir, *SETTINGS,
                *ours_flags]
    if name == BASELINE:
        return [sys.executable, "-m", "perf.bare_server", "--port", str(port)]   # keeps nothing on disk
    return ["redis-server", "--port", str(port), "--dir", workdir, *SETTINGS]


def _wait_until_ready(server: Server, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} server exited at start (code {server.proc.returncode})")
        try:
            if server.client.execute("PING") is not None:
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{server.name} server did not answer PING in {timeout:g}s")
            time.sleep(0.05)


@contextmanager
def running_pair(*, baseline: bool = False, names: tuple[str, ...] = NAMES,
                 ours_flags: tuple[str, ...] = ()) -> Iterator[dict[str, Server]]:
    """{"ours": Server, "redis": Server} (+ "bare" with `baseline`), all ready; stopped
    (and their dirs removed) after. `names` picks fewer; `ours_flags` are extra
    command-line settings for our server (e.g. a maxmemory-policy)."""
    servers: dict[str, Server] = {}
    with tempfile.TemporaryDirectory(prefix="perf-") as workdir:
        try:
            for name in names + ((BASELINE,) if baseline else ()):
                port = free_port()
                proc = subprocess.Popen(_command_line(name, port, workdir, ours_flags), cwd=ROOT,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                servers[name] = Server(name, port, proc)
                _wait_until_ready(servers[name])
            yield servers
        finally:
            for server in servers.values():
                server.proc.terminate()
            for server in servers.values():
                try:
                    server.proc.wait(10)
                except subprocess.TimeoutExpired:
                    server.proc.kill()
                    server.proc.wait()


def versions(servers: dict[str, Server]) -> dict[str, str]:
    return {name: server.info("server").get("redis_version", "?") for name, server in servers.items()}
