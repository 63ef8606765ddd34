"""The report's two pure pieces: the rate limiter burst simulation and the bare server's store.

Both are deterministic (a FakeClock; a dict), so they are tested like any other code:
the simulation must shape a burst the way each algorithm promises, and the bare
server must answer redis-benchmark's commands with Redis's replies.
"""

from common.resp import ErrorReply, Status
from perf.bare_server import BareStore
from perf.ratelimit_bench import burst_simulation, offered_load
from rate_limiter.algorithms import ALGORITHMS, Limit


def test_burst_simulation_is_exactly_reproducible():
    assert burst_simulation() == burst_simulation()


def test_burst_simulation_runs_every_algorithm_and_never_admits_more_than_offered():
    simulation = burst_simulation()
    assert list(simulation["admitted"]) == list(ALGORITHMS)
    for admitted in simulation["admitted"].values():
        assert len(admitted) == len(simulation["offered"])
        assert all(0 <= a <= o for a, o in zip(admitted, simulation["offered"]))


def test_every_algorithm_admits_a_load_under_the_limit_whole():
    steady = [3] * 30   # 30/s against 50/s
    simulation = burst_simulation(Limit(50, 1.0), steady)
    assert all(admitted == steady for admitted in simulation["admitted"].values())


def test_token_bucket_passes_a_full_bucket_then_the_refill_rate():
    burst = [20] * 10   # 200/s into a bucket of 50 refilled at 5 per 100 ms tick
    admitted = burst_simulation(Limit(50, 1.0), burst)["admitted"]["token-bucket"]
    assert admitted[:2] == [20, 20]
    assert admitted[-5:] == [5] * 5
    assert sum(admitted) <= 50 + 5 * 10


def test_fixed_window_lets_twice_its_limit_through_around_a_window_border():
    admitted = burst_simulation()["admitted"]["fixed-window"]
    one_second = 10   # ticks
    worst = max(sum(admitted[start:start + one_second]) for start in range(len(admitted) - one_second))
    assert worst > 50


def test_sliding_log_never_admits_more_than_its_limit_in_any_second():
    admitted = burst_simulation()["admitted"]["sliding-log"]
    assert max(sum(admitted[start:start + 10]) for start in range(len(admitted) - 10)) <= 50


def test_offered_load_is_steady_with_two_one_second_bursts():
    offered = offered_load()
    assert len(offered) == 100
    assert offered.count(20) == 20 and set(offered) == {3, 20}


def test_bare_store_answers_the_headline_commands_as_redis_does():
    store = BareStore()
    run = lambda *args: store.execute([arg.encode() for arg in args])  # noqa: E731
    assert run("PING") == Status("PONG")
    assert run("SET", "k", "v") == Status("OK") and run("GET", "k") == b"v"
    assert run("GET", "missing") is None
    assert run("INCR", "n") == 1 and run("INCR", "n") == 2 and run("GET", "n") == b"2"
    assert run("LPUSH", "l", "a", "b") == 2 and run("LPOP", "l") == b"b"
    assert run("LPOP", "nothing") is None
    assert run("SADD", "s", "x", "y", "x") == 2 and run("SADD", "s", "x") == 0
    assert run("HSET", "h", "f", "1", "g", "2") == 2 and run("HSET", "h", "f", "3") == 0


def test_bare_store_refuses_commands_it_does_not_know():
    assert BareStore().execute([b"FLUSHALL"]) == ErrorReply("ERR unknown command 'FLUSHALL'")
