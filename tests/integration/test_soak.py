"""The soak (perf/soak.py) for ~25 s: clone, balancer and limiter together, with faults.

One run is shared by the module (it takes most of its time budget); each test reads
one of its findings. `pytest -m soak` runs just this; it also runs in every `make test`.
"""

from __future__ import annotations

import pytest

from perf.soak import FAULTS, SoakResult, most_in_a_window, run_soak

pytestmark = pytest.mark.soak

DURATION = 25.0
SEED = 11


@pytest.fixture(scope="module")
def soak() -> SoakResult:
    result = run_soak(DURATION, SEED)
    print(result.table())  # shown with -s, or with the failure report
    return result


def test_every_kind_of_work_was_done(soak):
    kinds = {"clone redis-py", "clone raw RESP", "http keep-alive", "http new-connection", "http limited"}
    assert kinds <= set(soak.requests)
    assert all(soak.requests[kind]["ok"] > 100 for kind in kinds), soak.table()


def test_every_kind_of_fault_was_injected(soak):
    assert set(soak.faults) == set(FAULTS)


def test_no_answer_was_wrong_and_no_error_unexpected(soak):
    assert soak.total("wrong") == 0, soak.problems
    assert soak.total("unexpected") == 0, soak.problems


def test_no_work_was_lost_or_duplicated(soak):
    assert soak.lost == []


def test_the_limiter_admitted_some_refused_some_and_never_more_than_its_allowance(soak):
    assert soak.admitted > 0 and soak.requests["http limited"]["refused"] > 0
    assert soak.most_admitted_in_a_window <= soak.allowance


def test_threads_fds_clients_and_memory_are_back_to_baseline(soak):
    assert soak.leaks == []
    assert set(soak.resources) == {"python threads", "os threads", "open fds", "rss MB"}


def test_the_allowance_check_counts_only_requests_decided_inside_the_window():
    # Sent at 0.0 and answered at 1.5: decided somewhere in between, maybe outside [0, 1].
    assert most_in_a_window([(0.0, 0.1), (0.2, 0.3), (0.4, 1.5)], window=1.0) == 2
    assert most_in_a_window([(0.0, 0.1), (0.5, 0.6), (0.9, 1.0), (1.2, 1.3)], window=1.0) == 3
    assert most_in_a_window([], window=1.0) == 0
