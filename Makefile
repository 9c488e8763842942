# Every target bootstraps .venv itself: `make run` and `make test` work on a fresh clone.
# `make run`/`make demo` install what running needs; `make test` adds the development tools
# (the dev extra: pytest, ruff, the CDK, cfn-lint, ...). One stamp each, so going from one to
# the other installs only the difference.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.runtime-stamp
DEV_STAMP := $(VENV)/.dev-stamp

CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-stamp

.PHONY: runtime venv checkov run demo test lint bench clean

$(RUNTIME_STAMP): pyproject.toml constraints.txt
	@echo "make: 1/2 a virtualenv in $(VENV)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "make: 2/2 what running needs (pyproject.toml's dependencies; the first time takes a minute or two)"
	$(BIN)/python -m pip install --progress-bar on -c constraints.txt -e .
	touch $(RUNTIME_STAMP)

$(DEV_STAMP): $(RUNTIME_STAMP)
	@echo "make: the development tools (the dev extra: tests, linters, the CDK; a few minutes the first time)"
	$(BIN)/python -m pip install --progress-bar on -c constraints.txt -e '.[dev]'
	touch $(DEV_STAMP)

runtime: $(RUNTIME_STAMP)

venv: $(DEV_STAMP)

# checkov pins its own boto3, older than ours: it gets a virtualenv of its own.
$(CHECKOV_STAMP): requirements-checkov.txt
	@echo "make: checkov in a virtualenv of its own ($(CHECKOV_VENV))"
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	touch $(CHECKOV_STAMP)

checkov: $(CHECKOV_STAMP)

# The whole pipeline on this machine against Binance's live stream.
run: runtime
	$(BIN)/cryptotrades run

# The same pipeline on bundled real trades, for a machine with no internet; the fake Binance also
# serves Binance's published kline of 00:00, so minute_check has a minute to agree on.
demo: runtime
	$(BIN)/cryptotrades run --replay data/demo/BTCUSDT-aggTrades-2026-01-01_first5000rows.csv \
		--klines data/demo/BTCUSDT-1m-2026-01-01_published.csv --speed 0

test: venv checkov
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: venv
	$(BIN)/python bench/aggregate.py

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .pytest_cache .ruff_cache cdk.out data/onebox
