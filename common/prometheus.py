"""The Prometheus text exposition format: writing metric families and reading them back.

Where it sits: the rate limiter (rate_limiter/metrics.py) and the load balancer
(load_balancer/admin.py) serve `/metrics` in this format; `parse()` reads it back for
the rate limiter's monitor and for tests, so writer and reader live side by side.

    # HELP lb_server_requests_total Requests forwarded to the server.
    # TYPE lb_server_requests_total counter
    lb_server_requests_total{pool="default",server="10.0.0.1:80"} 1520

Label values are quoted with backslash, quote and newline escaped; histograms and
summaries are written by their owners as plain samples (`_bucket`, `_sum`, `_count`).
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Labels = Mapping[str, str]


def family(name: str, kind: str, help_text: str,
           samples: Iterable[tuple[str, Labels, float]]) -> list[str]:
    """A `# HELP`/`# TYPE` header and its samples, each `(suffix, labels, value)`.

    The suffix ("", "_sum", "_bucket"...) is appended to `name`; lines end in "\\n".
    """
    lines = [f"# HELP {name} {help_text}\n", f"# TYPE {name} {kind}\n"]
    for suffix, labels, value in samples:
        lines.append(f"{name}{suffix}{format_labels(labels)} {_number(value)}\n")
    return lines


def format_labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f"{key}={quote(value)}" for key, value in labels.items()) + "}"


def quote(value: str) -> str:
    """A label value: in double quotes, with backslash, quote and newline escaped."""
    return '"' + value.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n") + '"'


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else repr(float(value))


_SAMPLE = re.compile(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}

Sample = tuple[str, tuple[tuple[str, str], ...]]  # (name, sorted labels)


def parse(text: str) -> dict[Sample, float]:
    """Prometheus text -> {(name, ((label, value), ...)): value}. Comments are skipped."""
    samples: dict[Sample, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.fullmatch(line)
        if match is None:
            raise ValueError(f"not a metrics line: {line!r}")
        name, labels, value = match.groups()
        pairs = tuple(sorted((key, re.sub(r"\\.", lambda m: _UNESCAPE.get(m.group(), m.group()), raw))
                             for key, raw in _LABEL.findall(labels or "")))
        samples[name, pairs] = float(value)
    return samples
