"""The keyspace's readers-writer lock: who may be inside together, and who goes first.

Concurrency is proved with barriers (N readers all inside at once, or the barrier
breaks), and blocking is observed rather than slept on: `wait_until_parked` watches the
lock's condition variable until the expected number of threads wait on it.
"""

from __future__ import annotations

import threading
import time

import pytest

from common.rwlock import RWLock

BOUND = 10.0  # seconds: only reached when the lock is broken, never in a passing run


def parked(lock: RWLock) -> int:
    """How many threads are blocked inside acquire_read/acquire_write right now."""
    # CPython's Condition keeps one waiter per blocked thread; readers and writers
    # queue on two conditions sharing one mutex.
    return len(lock._read_ok._waiters) + len(lock._write_ok._waiters)


def wait_until_parked(lock: RWLock, count: int) -> None:
    deadline = time.monotonic() + BOUND
    while parked(lock) != count:
        assert time.monotonic() < deadline, f"expected {count} blocked threads, have {parked(lock)}"
        time.sleep(0.001)


def start(target, *args) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def join_all(*threads: threading.Thread) -> None:
    for thread in threads:
        thread.join(BOUND)
        assert not thread.is_alive(), "a thread is stuck on the lock"


def test_readers_hold_the_lock_together():
    lock, readers = RWLock(), 4
    all_inside = threading.Barrier(readers, timeout=BOUND)

    def read():
        with lock.read():
            all_inside.wait()  # breaks (and raises) unless every reader is inside at once

    threads = [start(read) for _ in range(readers)]
    join_all(*threads)
    assert not all_inside.broken


def test_a_writer_excludes_readers_until_it_leaves():
    lock, order = RWLock(), []
    lock.acquire_write()

    def read():
        with lock.read():
            order.append("reader")

    reader = start(read)
    wait_until_parked(lock, 1)
    order.append("writer leaves")
    lock.release_write()
    join_all(reader)
    assert order == ["writer leaves", "reader"]


def test_a_writer_waits_for_every_reader_to_leave():
    lock, order = RWLock(), []
    lock.acquire_read()
    lock.acquire_read()  # two readers (held by this thread on behalf of two)

    def write():
        with lock.write():
            order.append("writer")

    writer = start(write)
    wait_until_parked(lock, 1)
    lock.release_read()
    order.append("one reader left")
    # The writer is still blocked: one reader remains inside.
    wait_until_parked(lock, 1)
    order.append("last reader leaves")
    lock.release_read()
    join_all(writer)
    assert order == ["one reader left", "last reader leaves", "writer"]


def test_writers_exclude_each_other():
    lock, order = RWLock(), []
    lock.acquire_write()

    def write():
        with lock.write():
            order.append("second writer")

    second = start(write)
    wait_until_parked(lock, 1)
    order.append("first writer leaves")
    lock.release_write()
    join_all(second)
    assert order == ["first writer leaves", "second writer"]


def test_a_waiting_writer_blocks_new_readers():
    lock, order = RWLock(), []
    lock.acquire_read()  # a reader is inside

    def write():
        with lock.write():
            order.append("writer")

    def read(name):
        with lock.read():
            order.append(name)

    writer = start(write)
    wait_until_parked(lock, 1)
    # Only a reader holds the lock, yet newcomers must queue behind the waiting writer.
    late_readers = [start(read, f"reader {i}") for i in range(5)]
    wait_until_parked(lock, 6)
    assert order == []
    lock.release_read()
    join_all(writer, *late_readers)
    assert order[0] == "writer"
    assert sorted(order[1:]) == [f"reader {i}" for i in range(5)]


def test_a_continuous_stream_of_readers_cannot_starve_a_writer():
    lock = RWLock()
    stop = threading.Event()
    inside = threading.Semaphore(0)

    def reader():
        # Readers overlap all the time: without writer preference the lock would
        # never be free of readers and the writer would wait forever.
        while not stop.is_set():
            with lock.read():
                inside.release()
                time.sleep(0.0005)

    readers = [start(reader) for _ in range(4)]
    try:
        for _ in range(4):
            assert inside.acquire(timeout=BOUND)  # the readers are really running
        for _ in range(20):
            writer_done = threading.Event()
            writer = start(lambda: (lock.acquire_write(), lock.release_write(), writer_done.set()))
            assert writer_done.wait(BOUND), "the writer was starved by readers"
            join_all(writer)
    finally:
        stop.set()
        join_all(*readers)


def test_mixed_readers_and_writers_never_overlap_wrongly():
    lock = RWLock()
    guard = threading.Lock()
    state = {"readers": 0, "writers": 0, "max_readers": 0}
    violations = []

    def enter(kind):
        with guard:
            if state["writers"] or (kind == "writers" and state["readers"]):
                violations.append(dict(state, entering=kind))
            state[kind] += 1
            state["max_readers"] = max(state["max_readers"], state["readers"])

    def leave(kind):
        with guard:
            state[kind] -= 1

    def worker(seed):
        for i in range(300):
            if (i + seed) % 5 == 0:
                with lock.write():
                    enter("writers")
                    leave("writers")
            else:
                with lock.read():
                    enter("readers")
                    time.sleep(0)
                    leave("readers")

    join_all(*[start(worker, seed) for seed in range(6)])
    assert violations == []
    assert state == {"readers": 0, "writers": 0, "max_readers": state["max_readers"]}


@pytest.mark.parametrize("mode", ["read", "write"])
def test_context_managers_release_the_lock_when_the_body_raises(mode):
    lock = RWLock()
    with pytest.raises(ZeroDivisionError):
        with getattr(lock, mode)():
            1 / 0
    # If the lock were still held, this writer (and the reader after it) would block.
    done = threading.Event()
    thread = start(lambda: (lock.acquire_write(), lock.release_write(),
                            lock.acquire_read(), lock.release_read(), done.set()))
    assert done.wait(BOUND)
    join_all(thread)


def test_a_writer_that_is_interrupted_while_waiting_does_not_block_readers_forever():
    # acquire_write's `finally` keeps the waiting-writer count right even when the wait
    # is abandoned with an exception (here: a KeyboardInterrupt-like failure in wait()).
    lock = RWLock()
    lock.acquire_read()
    original_wait = lock._write_ok.wait

    def failing_wait(*args):
        raise RuntimeError("interrupted")

    lock._write_ok.wait = failing_wait
    with pytest.raises(RuntimeError):
        lock.acquire_write()
    lock._write_ok.wait = original_wait
    done = threading.Event()
    thread = start(lambda: (lock.acquire_read(), lock.release_read(), done.set()))
    assert done.wait(BOUND), "a reader is blocked by a writer that gave up"
    join_all(thread)
    lock.release_read()


# --- acquiring with a timeout (how a client waiting behind a long script notices BUSY) ---

def test_acquire_write_with_a_timeout_gives_up_while_a_reader_holds_the_lock():
    lock = RWLock()
    lock.acquire_read()
    assert lock.acquire_write(timeout=0.01) is False
    lock.release_read()
    assert lock.acquire_write(timeout=0.01) is True
    lock.release_write()


def test_acquire_read_with_a_timeout_gives_up_while_a_writer_holds_the_lock():
    lock = RWLock()
    lock.acquire_write()
    assert lock.acquire_read(timeout=0.01) is False
    lock.release_write()
    assert lock.acquire_read(timeout=0.01) is True
    lock.release_read()


def test_a_writer_that_times_out_lets_the_readers_queued_behind_it_in():
    lock = RWLock()
    lock.acquire_read()
    reader_inside = threading.Event()
    writer = start(lambda: lock.acquire_write(timeout=0.2))
    wait_until_parked(lock, 1)             # the writer waits: new readers now queue behind it
    reader = start(lambda: (lock.acquire_read(), reader_inside.set(), lock.release_read()))
    wait_until_parked(lock, 2)
    assert reader_inside.wait(BOUND), "the reader stayed blocked after the writer gave up"
    join_all(writer, reader)
    lock.release_read()


def test_a_timed_out_writer_does_not_release_the_writer_that_holds_the_lock():
    lock = RWLock()
    lock.acquire_write()
    assert lock.acquire_write(timeout=0.01) is False
    assert lock.acquire_read(timeout=0.01) is False   # still held by the first writer
    lock.release_write()
