"""The live monitor (`python -m redis_clone.monitor`) against our server and real Redis."""

from __future__ import annotations

import pytest

from redis_clone import monitor

pytest.importorskip("matplotlib")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_once_prints_figures_and_a_table_of_connections(server, raw, capsys):
    other = raw()
    other.command("CLIENT", "SETNAME", "worker-7")
    other.command("SET", "k", "v")
    other.command("GET", "k")
    other.command("GET", "missing")
    assert monitor.main(["--port", str(server.port), "--once"]) == 0
    out = capsys.readouterr().out
    assert "clients: 2 connected, 0 blocked" in out
    assert "hit ratio: 50.0%" in out
    assert "memory: " in out and "of no limit" in out
    worker_row = [line for line in out.splitlines() if "worker-7" in line][0]
    assert worker_row.split()[-1] == "get"  # its last command


def test_record_writes_a_png_chart(server, tmp_path):
    path = tmp_path / "server.png"
    assert monitor.main(["--port", str(server.port), "--record", "0.3", "--interval", "0.1",
                         "--plot", str(path)]) == 0
    assert path.read_bytes().startswith(PNG_MAGIC)


def test_record_against_real_redis_writes_a_pdf(real_redis_port, tmp_path):
    path = tmp_path / "redis.pdf"
    assert monitor.main(["--port", str(real_redis_port), "--record", "0.3", "--interval", "0.1",
                         "--plot", str(path)]) == 0
    assert path.read_bytes().startswith(b"%PDF")


def test_unreachable_server_is_reported_not_raised(capsys):
    from tests.conftest import free_port
    assert monitor.main(["--port", str(free_port()), "--once"]) == 1
    assert "cannot reach" in capsys.readouterr().err


def test_record_without_plot_is_a_usage_error():
    with pytest.raises(SystemExit):
        monitor.main(["--record", "1"])


def test_per_second_rates_come_from_two_snapshots():
    before = monitor.Snapshot(at=10.0, ops_per_sec=0, connected_clients=1, blocked_clients=0,
                              used_memory=0, maxmemory=0, keyspace_hits=3, keyspace_misses=1,
                              evicted_keys=100, expired_keys=5)
    now = monitor.Snapshot(**{**before.__dict__, "at": 12.0, "evicted_keys": 140})
    assert monitor.per_second(now, before, "evicted_keys") == 20.0
    assert monitor.per_second(now, None, "evicted_keys") == 0.0
    assert now.hit_ratio == 0.75
