# One command each: `make test` (unit, property and interop tests, both
# backends, mypy) and `make conformance` (the Autobahn suite, both sides).
# Each creates its virtual environment and installs what it needs.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Conformance options passed to autobahn/run.py (e.g. ARGS="--quick").
ARGS ?=
# Extra pytest arguments (CI narrows the suite on the other CPythons with it).
PYTEST_ARGS ?=
# Test processes (pytest-xdist). A test file stays in one process, so its
# module-scoped servers start once; WORKERS=0 runs everything in this process.
WORKERS ?= 2
PYTEST := -m pytest -q -p no:cacheprovider -n $(WORKERS) --dist loadfile

.PHONY: test test-compiled conformance bench install system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,conformance]'

# Debian's redis-server, redis-cli, chromium and chromedriver for the Redis and
# browser tests, when missing and root (or sudo) is at hand.
system-deps:
	./tools/system-deps.sh

test: install system-deps
	WSPROTO6455_REQUIRE_SPEEDUPS=1 $(BIN)/python $(PYTEST) $(PYTEST_ARGS)
	WSPROTO6455_NO_SPEEDUPS=1 $(BIN)/python $(PYTEST) $(PYTEST_ARGS)
	$(BIN)/python -m mypy --strict wsproto6455

# The compiled backend only, then mypy: what CI runs on the other CPythons
# (the two backends' agreement is checked by `make test`).
test-compiled: install system-deps
	WSPROTO6455_REQUIRE_SPEEDUPS=1 $(BIN)/python $(PYTEST) $(PYTEST_ARGS)
	$(BIN)/python -m mypy --strict wsproto6455

conformance: install
	$(BIN)/python autobahn/run.py $(ARGS)

bench: install
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m benchmarks $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info wsproto6455/*.so
