"""A short coverage-guided run of every atheris target (atheris_targets.py), when atheris
is installed: libFuzzer exits non-zero, with the crashing input, on any exception other
than the parser's documented error, a hang or an out-of-bounds allocation."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.integration.helpers import ROOT

atheris = pytest.importorskip("atheris", reason="atheris is not installed (pip install atheris)")

from tests.fuzz.atheris_targets import TARGETS  # noqa: E402  (needs atheris)

RUNS = 20_000  # a few seconds per target on two cores; raise it for a real hunt


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_a_short_atheris_run_finds_nothing(target, tmp_path):
    result = subprocess.run([sys.executable, "-m", "tests.fuzz.atheris_targets", target, f"-runs={RUNS}",
                             "-seed=1", "-max_len=4096", f"-artifact_prefix={tmp_path}/",
                             str(tmp_path / "corpus")],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Done {RUNS} runs" in result.stderr
