# One entry point. Every target installs what it needs (idempotently), so on a fresh clone each
# one is a single command.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin

# CDK (jsii) runs on this Node; keep its caches inside the repo and its telemetry off.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true
export JSII_RUNTIME_PACKAGE_CACHE_ROOT := $(CURDIR)/.jsii-cache
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test soak bench lint format synth clean

run: $(VENV)/.installed node_modules/.installed
	$(BIN)/switchyard dev --config examples/workspace.yaml --demo-receiver 9000

test: $(VENV)/.installed node_modules/.installed chromium
	$(BIN)/pytest

# Headless Chromium for the browser tests (tests/e2e/test_browser.py): Debian's package, driven by
# the Playwright pin in pyproject.toml, which never downloads a browser of its own.
.PHONY: chromium
chromium:
	@command -v chromium >/dev/null || { \
		sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$sudo apt-get update -qq && $$sudo apt-get install -y --no-install-recommends chromium; }

# 10,000 events from the real SDKs through the local stack while faults are injected (tests/soak/).
soak: $(VENV)/.installed
	$(PY) -m tests.soak.run --events 10000

# 100,000 generated requests against the tracking API (tests/fuzz/): prints the count, the status
# codes and the 5xx; fails on any violation. FUZZ_SEED=<n> replays a run (the seed is printed).
.PHONY: fuzz
fuzz: $(VENV)/.installed
	$(PY) -m tests.fuzz

bench: $(VENV)/.installed
	$(PY) bench/run.py

# The AWS bill per million events: measured on the local stack, priced, written into README.md.
.PHONY: cost
cost: $(VENV)/.installed
	$(PY) -m bench.cost

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

synth: $(VENV)/.installed node_modules/.installed
	npx cdk synth --quiet

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

clean:
	rm -rf cdk.out .build .pytest_cache .ruff_cache
