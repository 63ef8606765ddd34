"""Profile our server under redis-benchmark load: where does a request's time go?

    .venv/bin/python -m perf.profile_server [--tests set,get,...] [--clients 50] [--pipeline 1]
                                            [--requests 20000] [--out reports/profile.txt]

The server runs in this process; every connection thread runs under its own cProfile
profiler (cProfile sees only the thread it was enabled in; perf/profiling.py), and the
profiles are merged at the end and sorted by own time (tottime). cProfile slows every
Python call down, so read the ranking, not the absolute times.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from perf.profiling import ThreadProfiles  # noqa: E402
from redis_clone.config import Config  # noqa: E402
from redis_clone.server import RedisServer  # noqa: E402


def profile(tests: str, clients: int, pipeline: int, requests: int) -> str:
    config = Config()
    for name, value in (("port", "0"), ("save", ""), ("appendonly", "no"), ("bind", "127.0.0.1")):
        config.set(name, value, startup=True)
    server = RedisServer(config)
    profiles = ThreadProfiles()
    server._tcp.handle = profiles.wrap(server._serve_client)  # per-connection handler (test hook, not API)
    server.start()
    try:
        subprocess.run(["redis-benchmark", "-p", str(server.port), "-c", str(clients), "-P", str(pipeline),
                        "-n", str(requests), "-t", tests, "-q"], check=True, capture_output=True)
    finally:
        server.stop()
    return profiles.report(f"redis-benchmark -t {tests} -c {clients} -P {pipeline} -n {requests}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tests", default="set,get,incr,lpush,lpop,sadd,hset")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--pipeline", type=int, default=1)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--out", help="also write the summary to this file")
    args = parser.parse_args()
    text = profile(args.tests, args.clients, args.pipeline, args.requests)
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
