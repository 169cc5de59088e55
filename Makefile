# driftwatch: `make demo` shows the pipeline detecting drift; `make test` installs and runs every check.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q

.PHONY: demo test test-fast test-unit test-conformance test-integration lint typecheck pytest venv dev clean \
	bench bench-all system-deps dashboards dashboards-deps

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "driftwatch needs Python >= 3.11 (found $$($(PYTHON) --version)); set PYTHON=python3.11"; exit 2; }
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null && $(PYTHON) -m venv $(VENV); \
	  else echo "python3 -m venv failed: install the python3-venv package (sudo apt-get install python3-venv)"; exit 2; fi; }
	$(PIP) install --upgrade pip

venv: $(PY)

$(VENV)/.demo-installed: pyproject.toml | $(PY)
	$(PIP) install -e ".[demo]"
	@touch $@

$(VENV)/.dev-installed: pyproject.toml | $(PY)
	$(PIP) install -e ".[dev]"
	@touch $@ $(VENV)/.demo-installed

dev: $(VENV)/.dev-installed

demo: $(VENV)/.demo-installed
	$(VENV)/bin/driftwatch demo

lint: dev
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/lint-imports --no-cache

typecheck: dev
	$(VENV)/bin/mypy --strict src

# Prometheus, promtool, Alertmanager and amtool for the alert-rule and end-to-end alerting tests
# (Debian's prometheus and prometheus-alertmanager; apt installs them without starting them here),
# and stunnel, the TLS endpoint in front of the test broker for the Kafka TLS test (Debian's stunnel4).
system-deps:
	@command -v promtool >/dev/null && command -v amtool >/dev/null && command -v prometheus >/dev/null \
	  && { command -v prometheus-alertmanager >/dev/null || command -v alertmanager >/dev/null; } \
	  && { command -v stunnel4 >/dev/null || command -v stunnel >/dev/null; } && exit 0; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager stunnel4 >/dev/null; \
	else echo "prometheus/alertmanager/stunnel not found: install them (sudo apt-get install prometheus prometheus-alertmanager stunnel4); the alerting and Kafka TLS tests are skipped without them (fail under CI=true)"; fi

# Type-checks grafana/dashboards/*.json against Grafana's schema types (@grafana/schema, tsc --strict),
# with the versions pinned in grafana/schema-check/package-lock.json. As root it installs Debian's
# nodejs and npm when npm is missing. `make test` only installs them (dashboards-deps): the type check
# itself runs once, as tests/integration/test_dashboards.py.
SCHEMA_CHECK := grafana/schema-check
dashboards-deps:
	@command -v npm >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null; \
	  else echo "npm not found: install Node.js and npm (sudo apt-get install nodejs npm)"; exit 2; fi; }
	cd $(SCHEMA_CHECK) && npm ci --no-audit --no-fund --loglevel=error

dashboards: dashboards-deps
	cd $(SCHEMA_CHECK) && npm run -s check

# The test lanes are folders (see tests/conftest.py). pytest exits 5 when a lane collects no test: make
# stops on it like on a failure. With pytest-xdist (the dev extra) the unit and conformance lanes
# spread their tests over the cores, and the integration lane its files over INTEGRATION_WORKERS
# workers, each with its own broker: its tests mostly wait on the broker and daemon processes, so
# twice as many workers as cores, the longest files first (tests/integration/conftest.py).
PYTEST := $(PY) -m pytest -q -p no:cacheprovider
XDIST = $(shell $(PY) -c 'import xdist' 2>/dev/null && echo yes)
INTEGRATION_WORKERS ?= $(shell echo $$(( 2 * $$(nproc 2>/dev/null || echo 1) )))
PARALLEL_FILES = $(if $(XDIST),-n $(INTEGRATION_WORKERS) --dist loadfile --no-loadscope-reorder)
PARALLEL_TESTS = $(if $(XDIST),-n auto)

test-unit: dev
	$(PYTEST) $(PARALLEL_TESTS) tests/unit

test-conformance: dev
	$(PYTEST) $(PARALLEL_TESTS) tests/conformance

test-integration: dev system-deps dashboards-deps
	$(PYTEST) $(PARALLEL_FILES) tests/integration

pytest: test-unit test-conformance test-integration

test: lint typecheck dashboards-deps pytest

# The developers' lane: lint and the unit tests (no broker, no servers, no oracles), in under a minute.
test-fast: lint test-unit

bench: dev
	$(PY) bench/drift_vs_evidently.py

bench-all: bench
	$(PY) bench/ingest.py
	$(PY) bench/memory.py
	$(PY) bench/cbpe_study.py
	$(PY) bench/false_alarms.py
	$(PY) bench/performance_false_alarms.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache $(SCHEMA_CHECK)/node_modules $(SCHEMA_CHECK)/generated
