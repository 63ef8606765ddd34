"""Benchmarks and the performance report: `python -m perf` (or `make report`).

servers.py starts our clone and a real redis-server side by side; redis_bench.py drives
redis-benchmark against both, interleaved; memory.py measures RSS per key and BGSAVE;
report.py turns the raw numbers into reports/performance.pdf. lb_bench.py and
ratelimit_bench.py are the load balancer and rate limiter benchmarks, also runnable alone.
"""
