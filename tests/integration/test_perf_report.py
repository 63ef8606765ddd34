"""Smoke test of the report pipeline (`python -m perf --quick`): tiny sizes, a real PDF.

It starts our server, a real redis-server and the bare baseline server, runs a few
redis-benchmark cells, the rate limiter burst simulation, the memory section and
BGSAVE, and checks that the PDF and its raw data were written and agree. Skipped when redis-server or redis-benchmark is not installed.
"""

import json

import pytest

from perf.__main__ import main
from perf.servers import missing_tools

pytestmark = pytest.mark.skipif(bool(missing_tools()), reason=f"needs {', '.join(missing_tools())}")


def test_quick_run_writes_a_pdf_and_raw_data_that_agree(tmp_path, capsys):
    assert main(["--quick", "--out", str(tmp_path), "--tests", "set,get", "--clients", "2",
                 "--pipelines", "1,4", "--sizes", "3", "--memory-keys", "500"]) == 0

    pdf = (tmp_path / "performance.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
    results = json.loads((tmp_path / "performance.json").read_text())
    cells = {(row["server"], row["test"], row["pipeline"]) for row in results["matrix"]}
    # 2 clients is the headline count here, so the bare baseline joins every cell
    assert cells == {(server, test, pipeline) for server in ("ours", "redis", "bare")
                     for test in ("SET", "GET") for pipeline in (1, 4)}
    assert all(row["rps"] > 0 for row in results["matrix"])
    assert {row["server"] for row in results["memory"]["memory"]} == {"ours", "redis", "ours (allkeys-lru)"}
    assert all(row["dbsize"] == 500 for row in results["memory"]["memory"])
    assert (tmp_path / "performance.csv").read_text().startswith("server,test,clients")
    burst = results["ratelimit_burst"]
    assert all(len(admitted) == len(burst["offered"]) for admitted in burst["admitted"].values())
    out = capsys.readouterr().out
    assert "Throughput ratio at 2 clients, -P 1" in out
    assert "Architecture baseline (bare thread-per-connection server), -P 4:" in out
    assert "under allkeys-lru (per-key access stamps)" in out
