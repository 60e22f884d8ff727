# Two commands on a fresh machine: `make demo` and `make test`. Both create the virtual
# environment and install what they need themselves.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: demo test lint unit integration check bench reliability cluster-test clean lock

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/minwon-hub demo

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/mypy

check: $(BIN)/.installed
	$(BIN)/minwon-hub templates check

test: $(BIN)/.installed
	bash scripts/ensure-services.sh
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/minwon-hub templates check > /dev/null
	$(BIN)/pytest

unit: $(BIN)/.installed
	$(BIN)/pytest tests/unit

integration: $(BIN)/.installed
	bash scripts/ensure-services.sh
	$(BIN)/pytest -m integration

bench: $(BIN)/.installed
	bash scripts/ensure-services.sh
	$(BIN)/python -m bench

reliability: $(BIN)/.installed
	bash scripts/ensure-services.sh
	$(BIN)/python -m tests.reliability --events 20000

# Three RabbitMQ nodes, PostgreSQL, two workers per channel; faults while events flow.
# CI runs 1,000 events per fault; `python -m tests.cluster` runs 20,000.
CLUSTER_EVENTS ?= 1000
cluster-test: $(BIN)/.installed
	bash scripts/ensure-services.sh
	MINWON_CLUSTER_TEST=1 MINWON_CLUSTER_EVENTS=$(CLUSTER_EVENTS) $(BIN)/pytest -s -p no:cacheprovider tests/cluster

clean:
	rm -rf $(VENV) outbox minwon-ledger.db* .pytest_cache .mypy_cache .ruff_cache

# The image's lock file (Dockerfile: pip install --require-hashes -r requirements.lock).
# Run after changing dependencies in pyproject.toml; tests/deploy/test_lock.py checks it.
lock: $(BIN)/.installed
	$(BIN)/pip install -q uv
	$(BIN)/uv pip compile pyproject.toml --extra postgres --extra redis --generate-hashes \
		--python-version 3.11 -o requirements.lock
