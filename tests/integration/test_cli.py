"""`python -m redis_clone` as a real process: real clients, redis.conf files, signals, errors.

Each test starts the server on a free port and waits for it by trying to connect (with
a deadline), never by sleeping a fixed time.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from redis_clone.config import Config, ConfigError
from tests.conftest import RawConnection, free_port

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 15.0


class ServerProcess:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "redis_clone", *args], cwd=ROOT,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def wait_ready(self, port: int) -> None:
        deadline = time.monotonic() + DEADLINE
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    pytest.fail(f"server exited with {self.proc.returncode}: {self.proc.stderr.read()}")
                assert time.monotonic() < deadline, "server did not start listening in time"
                time.sleep(0.02)

    def finish(self, timeout: float = DEADLINE) -> tuple[int, str, str]:
        """Wait for the process to exit on its own; return (exit code, stdout, stderr)."""
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


@pytest.fixture
def launch():
    started: list[ServerProcess] = []

    def start(*args: str) -> ServerProcess:
        started.append(ServerProcess(*args))
        return started[-1]

    yield start
    for server in started:
        server.kill()


@pytest.fixture
def running(launch):
    """A server process on a free port, ready: (process, port)."""
    port = free_port()
    server = launch("--port", str(port), "--save", "")
    server.wait_ready(port)
    return server, port


# --------------------------------------------------------------------------- real clients

def test_redis_cli_talks_to_the_server(running):
    cli = shutil.which("redis-cli")
    if cli is None:
        pytest.skip("redis-cli is not installed (apt-get install redis-tools)")
    _, port = running

    def run(*args: str) -> str:
        done = subprocess.run([cli, "-p", str(port), *args], capture_output=True, text=True, timeout=DEADLINE)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert run("PING") == "PONG\n"
    assert run("ECHO", "hello world") == "hello world\n"
    assert run("NOSUCH").startswith("ERR unknown command 'NOSUCH', with args beginning with:")


def test_redis_py_talks_to_the_server(running):
    redis = pytest.importorskip("redis")
    _, port = running
    client = redis.Redis(port=port, socket_timeout=DEADLINE)
    try:
        assert client.ping() is True
        assert client.echo("héllo") == "héllo".encode()
    finally:
        client.close()


# --------------------------------------------------------------------------- configuration

def test_config_file_is_read_and_the_command_line_port_wins(launch, tmp_path):
    file_port, cli_port = free_port(), free_port()
    conf = tmp_path / "redis.conf"
    conf.write_text(
        "# a redis.conf written by hand\n"
        f"port {file_port}\n"
        "\n"
        '   bind "127.0.0.1"\n'          # indented and quoted
        "# save 900 1\n"
        "save ''\n"
        "loglevel warning\n")
    server = launch(str(conf), "--port", str(cli_port))
    server.wait_ready(cli_port)
    conn = RawConnection(cli_port)
    assert conn.command("PING") == "PONG"
    conn.close()
    with pytest.raises(OSError):  # the file's port lost to --port
        socket.create_connection(("127.0.0.1", file_port), timeout=1).close()


def test_config_file_alone_sets_the_port(launch, tmp_path):
    port = free_port()
    conf = tmp_path / "redis.conf"
    conf.write_text(f"port {port}\nsave \"\"\n")
    server = launch(str(conf))
    server.wait_ready(port)
    assert RawConnection(port).command("ECHO", "from file") == b"from file"


def test_config_text_splits_lines_like_redis_does():
    config = Config()
    config.load_text(
        "# comment\n"
        "  \t\n"
        "  port 7001  \r\n"                # indented, CRLF line end
        'requirepass "a b\\x41\\n"\n'      # double quotes: spaces kept, escapes decoded
        "dbfilename 'it\\'s.rdb'\n"        # single quotes: only \' is special
        "logfile C:\\logs\\redis.log\n")   # unquoted backslashes stay as they are
    assert config.get("port") == "7001"
    assert config.get("requirepass") == "a bA\n"
    assert config.get("dbfilename") == "it's.rdb"
    assert config.get("logfile") == "C:\\logs\\redis.log"


def test_command_line_options_override_the_file_in_order():
    config = Config()
    config.load_text("port 7001\nhz 20\n")
    config.load_args(["--port", "7002", "--hz", "30", "--port", "7003"])
    assert (config.get("port"), config.get("hz")) == ("7003", "30")


@pytest.mark.parametrize("text", ['requirepass "unbalanced\n', "port abc\n", "no-such-directive 1\n",
                                  "port 1 2\n"])
def test_bad_config_text_raises_a_config_error_naming_the_line(text):
    with pytest.raises(ConfigError) as caught:
        Config().load_text("# first line is fine\n" + text)
    assert "line 2" in str(caught.value)


@pytest.mark.parametrize("content, needle", [
    ("port abc\n", "port abc"),
    ("bind 127.0.0.1\nnot-a-directive yes\n", "not-a-directive"),
    ('dir "unterminated\n', "Unbalanced quotes"),
])
def test_a_bad_config_file_prints_a_clear_error_and_exits_non_zero(launch, tmp_path, content, needle):
    conf = tmp_path / "redis.conf"
    conf.write_text(content)
    code, _, err = launch(str(conf)).finish()
    assert code != 0
    assert "FATAL CONFIG FILE ERROR" in err and needle in err


def test_a_missing_config_file_is_an_error(launch, tmp_path):
    code, _, err = launch(str(tmp_path / "missing.conf")).finish()
    assert code != 0
    assert "missing.conf" in err


def test_a_bad_command_line_option_is_an_error(launch):
    code, _, err = launch("--port", "not-a-port").finish()
    assert code != 0
    assert "not-a-port" in err


def test_a_port_already_in_use_is_reported(launch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        code, _, err = launch("--port", str(taken.getsockname()[1])).finish()
    assert code != 0
    assert "listening socket" in err


# --------------------------------------------------------------------------- signals

@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_makes_the_server_exit_cleanly_and_promptly(running, signum):
    server, port = running
    client = RawConnection(port)
    assert client.command("PING") == "PONG"  # a client stays connected through the shutdown
    began = time.monotonic()
    server.proc.send_signal(signum)
    code, _, err = server.finish(timeout=DEADLINE)
    assert code == 0, err
    assert time.monotonic() - began < 5.0
    assert "Traceback" not in err
    client.close()
