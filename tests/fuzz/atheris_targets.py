"""Coverage-guided fuzzing of the same parsers with atheris (libFuzzer), where it installs.

    .venv/bin/python -m tests.fuzz.atheris_targets resp-request -runs=200000 corpus/resp/
    .venv/bin/python -m tests.fuzz.atheris_targets rdb -max_total_time=600 corpus/rdb/

Hypothesis (the test_fuzz_*.py files) draws inputs from strategies shaped like the
protocols; atheris instruments the parsers' bytecode and mutates inputs towards
branches not taken yet, which reaches a different kind of corner. Each target holds the
parser to the same property as its hypothesis test, through the same `drain`/`load`
helpers (bounded time and memory, only the documented error allowed). Arguments after
the target name go to libFuzzer; a corpus directory that does not exist yet is created
with the target's seeds (valid inputs to mutate from). test_atheris.py runs each target
briefly in the suite.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["common", "redis_clone"]):
    from common import http1, resp
    from tests.fuzz.test_fuzz_http1 import drain as drain_http
    from tests.fuzz.test_fuzz_rdb import dataset_dump, load
    from tests.fuzz.test_fuzz_resp import drain as drain_resp

MAX_CUTS = 4           # as many recv() boundaries as the hypothesis tests try
RDB_MAGIC = b"REDIS0010"  # past the magic, so mutations reach the type and length decoding

TARGETS = {
    "resp-request": lambda data, cuts: drain_resp(resp.RequestParser(), data, cuts),
    "resp-reply": lambda data, cuts: drain_resp(resp.ReplyParser(), data, cuts),
    "http-request": lambda data, cuts: drain_http(
        http1.RequestParser(max_head_size=1024, max_body_size=4096), data, cuts, eof=True),
    "http-response": lambda data, cuts: drain_http(http1.ResponseParser("GET"), data, cuts, eof=True),
    "rdb": lambda data, cuts: load(RDB_MAGIC + data, verify=False),
}


# Valid inputs to start from: mutating these reaches the deep states (a chunked body, an
# RDB of every type) that random bytes almost never spell. Each is prefixed with the byte
# that `one_input` reads as "no recv() cuts".
SEEDS = {
    "resp-request": [resp.encode_command(b"SET", b"key", b"value"), b"PING\r\n",
                     b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n"],
    "resp-reply": [resp.encode(value, protocol) for protocol in (2, 3) for value in
                   ([b"a", 1, None, [b"x", -2]], {b"k": 1.5}, resp.Status("OK"),
                    resp.ErrorReply("ERR no"), True)],
    "http-request": [b"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
                     b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
                     b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"3;x=1\r\nabc\r\n0\r\nT: 1\r\n\r\n"],
    "http-response": [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                      b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
                      b"HTTP/1.0 204 No Content\r\n\r\n", b"HTTP/1.1 100 Continue\r\n\r\n"],
    "rdb": [dataset_dump(checksum=False)[len(RDB_MAGIC):]],
}


def write_seeds(target: str, directory: Path) -> None:
    """The target's seed inputs as files in `directory` (a libFuzzer corpus directory)."""
    directory.mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(SEEDS[target]):
        (directory / f"seed-{i}").write_bytes(b"\x00" + seed)


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: python -m tests.fuzz.atheris_targets {{{'|'.join(TARGETS)}}} "
                 "[libFuzzer options] [corpus directory, seeded if new]")
    target = TARGETS[sys.argv[1]]
    for arg in sys.argv[2:]:
        if not arg.startswith("-") and not Path(arg).exists():
            write_seeds(sys.argv[1], Path(arg))

    def one_input(raw: bytes) -> None:
        source = atheris.FuzzedDataProvider(raw)
        cuts = [source.ConsumeIntInRange(0, 400) for _ in range(source.ConsumeIntInRange(0, MAX_CUTS))]
        target(source.ConsumeBytes(source.remaining_bytes()), cuts)

    atheris.Setup([sys.argv[0], *sys.argv[2:]], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
