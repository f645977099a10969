# The two commands of the README: `make run` and `make test`. Everything they need is set up here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test browser-deps postgres-deps demo bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/aggregator db upgrade
	$(BIN)/aggregator serve --host $(HOST) --port $(PORT)

# Lint and format check first (settings in pyproject.toml), then the whole suite on SQLite (the
# default), then everything that touches the database again on PostgreSQL, in a throwaway
# cluster the tests start and remove (tests/postgres.py).
test: $(STAMP) browser-deps postgres-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest
	AGGREGATOR_TEST_DB=postgres $(BIN)/python -m pytest -m "not browser and not corpus and not wheel"

postgres-deps:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { echo "make: installing postgresql for the tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

# The browser tests drive Debian's chromium (Playwright cannot download its own browsers here).
# Installed once when missing; if it cannot be (no apt, no root), those tests skip and say why.
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { echo "make: installing chromium for the browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
	  || echo "make: could not install chromium; the browser tests will be skipped"; }

demo: $(STAMP)
	$(BIN)/python -m demo --host $(HOST) --port $(PORT)

# Benchmarks (not part of `make test`): BENCH="--quick" or BENCH="ingest poll" to run less.
bench: $(STAMP)
	command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)
	$(BIN)/python -m bench $(BENCH)

clean:
	rm -rf $(VENV) *.egg-info
