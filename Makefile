# Quick start: `make run` starts the Redis clone on port 6379, `make test` runs the suite.
# Both create the virtualenv in .venv on first use and install what they need.
# `make docs` regenerates docs/commands.md from the command table (a test checks it).
# `make report` benchmarks the clone against real Redis (needs redis-server and redis-benchmark)
# and writes reports/performance.pdf and its raw data; REPORT_ARGS=--quick for a tiny run.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
PORT   ?= 6379
ARGS   ?=

.PHONY: run test docs report clean

$(VENV)/.runtime: requirements.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null || { echo "need Python 3.11+ (set PYTHON=...)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@# atheris (coverage-guided fuzzing) only where a wheel installs; its tests skip otherwise.
	@$(PY) -m pip install --quiet --disable-pip-version-check --only-binary :all: 'atheris>=2.3' \
		|| echo "atheris not installed: tests/fuzz/test_atheris.py will be skipped"
	@touch $@

run: $(VENV)/.runtime
	$(PY) -m redis_clone --port $(PORT) $(ARGS)

test: $(VENV)/.dev
	$(PY) -m pytest $(PYTEST_ARGS)

docs: $(VENV)/.runtime
	$(PY) -m redis_clone.commanddocs docs/commands.md

report: $(VENV)/.runtime
	$(PY) -m perf $(REPORT_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
