"""The monitor: counter snapshots become rates, and rates become a picture."""

from __future__ import annotations

import itertools

import pytest

from rate_limiter.metrics import Metrics
from rate_limiter.monitor import History, draw, poll


def snapshot(**counts: int) -> str:
    """/metrics text with ratelimit_requests_total{policy="p",result=<name>} = count."""
    metrics = Metrics()
    for result, count in counts.items():
        for _ in range(count):
            metrics.count("p", result)
    return metrics.render()


def test_counter_growth_between_polls_becomes_a_rate():
    history = History()
    history.add(100.0, snapshot(allowed=10))
    history.add(102.0, snapshot(allowed=30, limited=4))
    history.add(103.0, snapshot(allowed=35, limited=10))
    assert history.times == [2.0, 3.0]
    assert history.rates["p", "allowed"] == [10.0, 5.0]
    assert history.rates["p", "limited"] == [2.0, 6.0]


def test_a_gateway_restart_does_not_show_as_a_negative_rate():
    history = History()
    history.add(0.0, snapshot(allowed=50))
    history.add(1.0, snapshot(allowed=3))
    assert history.rates["p", "allowed"] == [3.0]


def test_poll_samples_until_told_to_stop_without_real_time():
    texts = iter([snapshot(allowed=1), snapshot(allowed=5), snapshot(allowed=9, limited=2)])
    ticks = itertools.count()
    history = History()
    poll("http://metrics", history, interval=1, until=lambda: len(history.times) == 2,
         clock=lambda: float(next(ticks)), sleep=lambda seconds: None, fetch=lambda url: next(texts))
    assert history.rates["p", "allowed"] == [4.0, 4.0]


def test_the_plot_has_a_line_per_policy_and_result(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    history = History()
    for when, (allowed, limited) in enumerate([(0, 0), (10, 0), (20, 5), (30, 15)]):
        history.add(float(when), snapshot(allowed=allowed, limited=limited))
    figure, axes = plt.subplots()
    draw(history, axes)
    assert [line.get_label() for line in axes.get_lines()] == ["p allowed", "p limited"]
    figure.savefig(tmp_path / "monitor.png")
    plt.close(figure)
    assert (tmp_path / "monitor.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
