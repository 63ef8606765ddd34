"""The admin listener (`--admin 127.0.0.1:8081`): live statistics for operators and scrapers.

    GET /stats    every pool and server as JSON (state, weights, connections, requests,
                  errors, retries, last check, latency percentiles)
    GET /         the same as a small HTML dashboard that reloads itself every 2 s
    GET /health   the balancer's own health: 200 while it serves, 503 while it drains
                  or when its default pool has no server up (for a balancer in front)
    GET /metrics  the same numbers in Prometheus's text format

Where it sits: a separate port (common/adminhttp.py) so clients of the public port
cannot read it. Every page is rendered from one `LoadBalancer.report()` dictionary, so
the three views never disagree; the numbers come from stats.py.
"""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING, Any

from common.adminhttp import AdminHTTPServer, Page
from common.prometheus import CONTENT_TYPE, family
from load_balancer.stats import QUANTILES, quantile_name

if TYPE_CHECKING:  # the balancer creates its admin server
    from load_balancer.balancer import LoadBalancer

JSON = "application/json"
HTML = "text/html; charset=utf-8"
REFRESH_SECONDS = 2


def admin_server(balancer: LoadBalancer, host: str, port: int) -> AdminHTTPServer:
    return AdminHTTPServer(host, port, {
        "/": lambda: Page(dashboard(balancer.report()), HTML),
        "/stats": lambda: Page(json.dumps(balancer.report(), indent=2) + "\n", JSON),
        "/health": lambda: health(balancer),
        "/metrics": lambda: Page(metrics(balancer.report()), CONTENT_TYPE),
    }, name="lb-admin")


def health(balancer: LoadBalancer) -> Page:
    pools = {name: {"up": len(pool.backends.snapshot.servers), "servers": len(pool.backends.backends)}
             for name, pool in balancer.router.pools.items()}
    if balancer.activity.draining:
        status = "draining"
    elif not pools[balancer.config.default_pool]["up"]:
        status = "no-server"
    else:
        status = "ok"
    return Page(json.dumps({"status": status, "pools": pools}) + "\n", JSON, 200 if status == "ok" else 503)


# --- Prometheus ------------------------------------------------------------------------

SERVER_METRICS = (  # report key, metric name, type, help
    ("active", "lb_server_active", "gauge", "Requests in flight (TCP mode: open connections)."),
    ("connections", "lb_server_connections_total", "counter", "TCP connections opened to the server."),
    ("requests", "lb_server_requests_total", "counter", "Forwards with an outcome (TCP mode: connects)."),
    ("errors", "lb_server_errors_total", "counter", "Failed forwards (TCP mode: failed connects)."),
    ("retries", "lb_server_retries_total", "counter", "Failed forwards that were tried again."),
    ("effective_weight", "lb_server_weight", "gauge", "Weight in use (lower while warming up)."),
)


def metrics(report: dict[str, Any]) -> str:
    servers = [({"pool": pool, "server": name}, server)
               for pool, details in report["pools"].items() for name, server in details["servers"].items()]
    out = family("lb_in_flight", "gauge", "Client requests in flight (TCP mode: connections).",
                 [("", {}, report["in_flight"])])
    out += family("lb_server_up", "gauge", "1 if health checks let the server take traffic.",
                  (("", labels, int(server["state"] == "up")) for labels, server in servers))
    for key, name, kind, help_text in SERVER_METRICS:
        out += family(name, kind, help_text, (("", labels, server[key]) for labels, server in servers))
    latency = []
    for labels, server in servers:
        latency += [("", {**labels, "quantile": str(q)}, server["latency_ms"][quantile_name(q)] / 1000)
                    for q in QUANTILES if quantile_name(q) in server["latency_ms"]]
        latency += [("_sum", labels, server["latency_seconds_sum"]), ("_count", labels, server["latency_count"])]
    out += family("lb_server_latency_seconds", "summary",
                  "Time per attempt (TCP mode: to connect); quantiles over recent attempts.", latency)
    pools = report["pools"].items()
    out += family("lb_pool_requests_total", "counter", "Requests (TCP mode: connections) routed to the pool.",
                  (("", {"pool": pool}, details["requests"]) for pool, details in pools))
    out += family("lb_pool_responses_total", "counter", "Responses sent to clients, by status class.",
                  (("", {"pool": pool, "code": code}, n)
                   for pool, details in pools for code, n in details["responses"].items()))
    out += family("lb_pool_serving", "gauge", "What the pool serves from: primaries, backups or nobody.",
                  (("", {"pool": pool, "from": source}, int(details["serving"] == source))
                   for pool, details in pools for source in ("primaries", "backups", "nobody")))
    return "".join(out)


# --- the dashboard ----------------------------------------------------------------------

STYLE = """
body { font: 14px system-ui, sans-serif; margin: 2em; color: #222 }
table { border-collapse: collapse; margin-bottom: 2em }
th, td { padding: 4px 10px; border-bottom: 1px solid #ddd; text-align: right }
th:first-child, td:first-child { text-align: left }
tr.down td:first-child { color: #b00020; font-weight: bold }
tr.up td:first-child { color: #0a7d32 }
.backup { color: #777 }
"""
COLUMNS = ("server", "state", "weight", "active", "connections", "requests", "errors",
           "retries", "p50 ms", "p99 ms", "last check")


def dashboard(report: dict[str, Any]) -> str:
    e = html.escape  # every text that comes from config or requests
    parts = [f"<!doctype html><html><head><meta charset='utf-8'>"
             f"<meta http-equiv='refresh' content='{REFRESH_SECONDS}'>"
             f"<title>load balancer {e(report['listen'])}</title><style>{STYLE}</style></head><body>",
             f"<h1>load balancer on {e(report['listen'])}</h1>",
             f"<p>{e(report['mode'])} mode, up {report['uptime_seconds']:.0f} s, "
             f"{report['in_flight']} in flight{', draining' if report['draining'] else ''}. "
             "Raw numbers: <a href='/stats'>/stats</a>, <a href='/metrics'>/metrics</a>.</p>"]
    for name, pool in report["pools"].items():
        codes = ", ".join(f"{code}: {n}" for code, n in pool["responses"].items()) or "none yet"
        parts.append(f"<h2>pool {e(name)}</h2><p>{e(pool['algorithm'])}"
                     f"{', sticky by ' + e(pool['sticky']) if pool['sticky'] else ''}, "
                     f"serving from {e(pool['serving'])}; {pool['requests']} requests "
                     f"(responses {e(codes)})</p><table><tr>"
                     + "".join(f"<th>{column}</th>" for column in COLUMNS) + "</tr>")
        for address, server in pool["servers"].items():
            check = server["last_check"]
            cells = [e(address) + (" <span class='backup'>backup</span>" if server["backup"] else ""),
                     e(server["state"]), f"{server['effective_weight']:g}/{server['weight']}",
                     *(str(server[key]) for key in ("active", "connections", "requests", "errors", "retries")),
                     *(str(server["latency_ms"].get(p, "-")) for p in ("p50", "p99")),
                     "-" if check is None else e(f"{check['detail']} ({check['seconds_ago']:.1f} s ago)")]
            parts.append(f"<tr class='{e(server['state'])}'>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        parts.append("</table>")
    parts.append("</body></html>\n")
    return "".join(parts)
