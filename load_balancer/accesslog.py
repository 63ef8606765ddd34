"""The access log: one line per request, written when its response is finished.

    127.0.0.1 [2024-05-01T12:00:00.123+00:00] "GET /cart HTTP/1.1" 200 512 backend=10.0.0.2:8080 upstream=0.003 total=0.004

or the same fields as one JSON object per line (`--log-format json`). `bytes` is the
response body sent (nginx's $body_bytes_sent); `upstream` runs from the first pick to
the end of the backend's response, across retries ("-" when the proxy answered alone).
Errors and health transitions go to stderr through `logging`, not here.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TextIO

from common.http1 import quoted_string


@dataclass
class AccessRecord:
    time: float                 # wall clock when the request head arrived
    client: str
    method: str
    path: str
    version: str
    status: int = 0
    bytes: int = 0
    backend: str | None = None
    upstream_time: float | None = None
    total_time: float = 0.0


class AccessLog:
    def __init__(self, stream: TextIO, fmt: str = "text") -> None:
        self.stream = stream
        self.format = {"text": format_text, "json": format_json}[fmt]
        self._lock = threading.Lock()  # one whole line at a time from many threads

    def write(self, record: AccessRecord) -> None:
        line = self.format(record) + "\n"
        with self._lock:
            self.stream.write(line)
            self.stream.flush()


def format_text(r: AccessRecord) -> str:
    request = quoted_string(f"{r.method} {r.path} {r.version}")
    upstream = "-" if r.upstream_time is None else f"{r.upstream_time:.3f}"
    return (f'{r.client} [{_timestamp(r.time)}] {request} {r.status} {r.bytes} '
            f"backend={r.backend or '-'} upstream={upstream} total={r.total_time:.3f}")


def format_json(r: AccessRecord) -> str:
    return json.dumps({
        "time": _timestamp(r.time), "client": r.client, "method": r.method, "path": r.path,
        "protocol": r.version, "status": r.status, "bytes": r.bytes, "backend": r.backend,
        "upstream_time": None if r.upstream_time is None else round(r.upstream_time, 6),
        "total_time": round(r.total_time, 6),
    })


def _timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="milliseconds")
