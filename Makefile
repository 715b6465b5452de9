# Run `make help` to see the targets.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
export DO_NOT_TRACK := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export RUNTIME__DLTHUB_TELEMETRY := false

.DEFAULT_GOAL := help

help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.lock
	@touch $@

venv: $(VENV)/.installed ## Create .venv with the pinned dependencies (requirements.lock)

demo: venv ## Run the whole pipeline on sandbox data: emulators -> loaders -> DuckDB -> dbt build
	$(PY) -m sandbox.demo

test: venv ## Run every test (loaders against emulators, dbt unit + data tests, end-to-end)
	$(PY) -m pytest -q -p no:cacheprovider; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 1; fi; exit $$rc

faults: venv ## The fault matrix (kill -9, overlapping runs, full disks, bad input): prints the table, writes tests/faults/RESULTS.md
	FAULTS_TABLE=tests/faults/RESULTS.md $(PY) -m pytest -q -p no:cacheprovider -m faults tests/faults

bench: venv ## Benchmark loaders and dbt at two scales; writes bench/results/
	$(PY) -m bench

lint: venv ## ruff on the Python code
	$(VENV)/bin/ruff check loaders sandbox tests bench warehouse
	$(VENV)/bin/ruff format --check loaders sandbox tests bench warehouse

docs: venv ## Generate dbt docs (open with: make docs-serve)
	$(VENV)/bin/dbt docs generate --profiles-dir .

docs-serve: docs ## Serve the dbt docs on http://127.0.0.1:8080
	$(VENV)/bin/dbt docs serve --profiles-dir . --port 8080

lock: ## Re-resolve requirements.lock from pyproject.toml (needs the package registry)
	rm -rf /tmp/lockvenv && $(PYTHON) -m venv /tmp/lockvenv && /tmp/lockvenv/bin/pip install -q -e '.[dev]' && /tmp/lockvenv/bin/pip freeze --exclude-editable > requirements.lock

clean: ## Remove the venv, dbt artifacts and the demo warehouse
	rm -rf $(VENV) target logs warehouse.duckdb sandbox/data .dlt/pipelines

.PHONY: help venv demo test faults bench lint docs docs-serve lock clean
