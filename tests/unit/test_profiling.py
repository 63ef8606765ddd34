"""perf/profiling.py: per-thread cProfile merged, and bytecodes counted per call."""

from __future__ import annotations

import sys
import threading

import pytest

from perf.profiling import ThreadProfiles, count_bytecodes, count_calls


def spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i
    return total


def test_every_wrapped_thread_is_profiled_and_merged_into_one_report():
    profiles = ThreadProfiles()
    handler = profiles.wrap(lambda n: spin(n))
    threads = [threading.Thread(target=handler, args=(1000,)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(profiles) == 3
    assert profiles.stats().total_calls >= 6  # the lambda and spin, in each thread
    report = profiles.report("three spins")
    assert report.startswith("three spins; cProfile (wall time) merged over 3 threads")
    assert "(spin)" in report


def test_cpu_time_profiles_say_so_in_the_report():
    profiles = ThreadProfiles(cpu_time=True)
    profiles.wrap(spin)(10)
    assert "cProfile (thread CPU time) merged over 1 threads" in profiles.report("one spin")


def test_a_report_with_nothing_profiled_is_an_error():
    with pytest.raises(ValueError):
        ThreadProfiles().report("nothing")


def test_bytecodes_are_counted_per_function_and_grow_with_the_work():
    result, small = count_bytecodes(lambda: spin(10))
    _, large = count_bytecodes(lambda: spin(100))
    assert result == 45
    assert small["test_profiling.py:spin"] > 0
    assert large["test_profiling.py:spin"] > 5 * small["test_profiling.py:spin"]


def test_counting_bytecodes_restores_the_previous_tracer():
    before = sys.gettrace()
    count_bytecodes(lambda: spin(1))
    assert sys.gettrace() is before


def test_calls_are_counted_by_cprofile():
    result, calls = count_calls(lambda: [spin(1) for _ in range(5)])
    assert result == [0] * 5
    assert calls >= 6  # the lambda (with its comprehension) and five spins
