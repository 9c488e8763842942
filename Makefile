# Every target bootstraps .venv itself: `make run` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-stamp

.PHONY: venv checkov run demo test lint bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# checkov pins its own boto3, older than ours: it gets a virtualenv of its own.
$(CHECKOV_STAMP): requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	touch $(CHECKOV_STAMP)

checkov: $(CHECKOV_STAMP)

# The whole pipeline on this machine against Binance's live stream.
run: venv
	$(BIN)/cryptotrades run

# The same pipeline on bundled real trades, for a machine with no internet; the fake Binance also
# serves Binance's published kline of 00:00, so minute_check has a minute to agree on.
demo: venv
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
