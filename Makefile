# Run `make help` to see the targets.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
export DO_NOT_TRACK := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export RUNTIME__DLTHUB_TELEMETRY := false
# the dbt target of `make demo` (profiles.yml): duckdb, postgres or spark
TARGET ?= duckdb
# Dagster's instance (runs, schedule state, logs) for `make orchestrate`; orchestration/dagster.yaml is copied in
DAGSTER_HOME ?= $(CURDIR)/.dagster

.DEFAULT_GOAL := help

help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.lock
	@touch $@

venv: $(VENV)/.installed ## Create .venv with the pinned dependencies (requirements.lock)

demo: venv ## Run the whole pipeline on sandbox data: emulators -> loaders -> dbt build (TARGET=duckdb|postgres|spark)
	DBT_TARGET=$(TARGET) $(PY) -m sandbox.demo

dashboard: venv ## Serve the dashboards on http://127.0.0.1:8501 over DUCKDB_PATH's last build (DASHBOARD_ADDRESS, DASHBOARD_PORT)
	$(PY) -m dashboard

screenshots: venv ## Redraw docs/img/*.png: the dashboards in headless Chromium over a small demo warehouse
	DASHBOARD_SCREENSHOT_DIR=$(CURDIR)/docs/img $(PY) -m pytest -q -p no:cacheprovider tests/test_dashboard_browser.py

test: venv ## Run every test (loaders against emulators, dbt unit + data tests, end-to-end)
	$(PY) -m pytest -q -p no:cacheprovider; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 1; fi; exit $$rc

daily: venv ## The daily job once (cron): every configured loader, then dbt build of what changed
	$(PY) -m orchestration daily

weekly: venv ## Every data test on every row (schedule it weekly next to `make daily`)
	$(PY) -m orchestration weekly

orchestrate: venv $(DAGSTER_HOME)/dagster.yaml ## Dagster UI on http://127.0.0.1:3000: the daily and weekly jobs, schedules, lineage
	DAGSTER_HOME=$(DAGSTER_HOME) $(VENV)/bin/dagster dev -m orchestration.definitions -h 127.0.0.1 -p 3000

$(DAGSTER_HOME)/dagster.yaml: orchestration/dagster.yaml
	mkdir -p $(DAGSTER_HOME) && cp $< $@

faults: venv ## The fault matrix (kill -9, overlapping runs, full disks, bad input): prints the table, writes tests/faults/RESULTS.md
	FAULTS_TABLE=tests/faults/RESULTS.md $(PY) -m pytest -q -p no:cacheprovider -m faults tests/faults

bench: venv ## Benchmark loaders, dbt, the engines and the dashboards (in Chromium) at two scales; writes bench/results/
	$(PY) -m bench

lint: venv ## ruff on the Python code
	$(VENV)/bin/ruff check loaders sandbox tests bench orchestration dashboard warehouse
	$(VENV)/bin/ruff format --check loaders sandbox tests bench orchestration dashboard warehouse

docs: venv ## Generate dbt docs (open with: make docs-serve)
	$(VENV)/bin/dbt docs generate --profiles-dir .

docs-serve: docs ## Serve the dbt docs on http://127.0.0.1:8080
	$(VENV)/bin/dbt docs serve --profiles-dir . --port 8080

lock: ## Re-resolve requirements.lock from pyproject.toml (needs the package registry)
	rm -rf /tmp/lockvenv && $(PYTHON) -m venv /tmp/lockvenv && /tmp/lockvenv/bin/pip install -q -e '.[dev]' && /tmp/lockvenv/bin/pip freeze --exclude-editable > requirements.lock

clean: ## Remove the venv, dbt artifacts, the demo warehouse, its dashboard snapshot and daily-job state, Dagster's instance
	rm -rf $(VENV) target logs warehouse.duckdb warehouse.duckdb.dashboard warehouse.duckdb.daily .daily .dagster sandbox/data .dlt/pipelines lake spark-warehouse

.PHONY: help venv demo dashboard screenshots test faults daily weekly orchestrate bench lint docs docs-serve lock clean
