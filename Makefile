# cometrecon: two commands for a newcomer, `make demo` and `make test`.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo
SEED ?= 42

# dbt and Great Expectations never phone home from this project.
export DO_NOT_TRACK := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export GX_ANALYTICS_ENABLED := false
export DBT_PROFILES_DIR := $(CURDIR)

.PHONY: help setup setup-spark demo test test-spark lint format pytest chromium lock lock-spark clean bench

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: $(STAMP)  ## create .venv with the exact pinned versions of requirements.lock

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "cometrecon needs Python 3.11+"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

SPARK_STAMP := $(VENV)/.installed-spark

setup-spark: $(SPARK_STAMP)  ## add dbt-spark and pyspark (requirements-spark.lock) to .venv

$(SPARK_STAMP): $(STAMP) requirements-spark.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock -r requirements-spark.lock
	touch $@

# Builds the demo on DuckDB and on Spark (local[2]) and compares every public mart row by row.
test-spark: setup-spark  ## the same project on Spark: every public mart must equal the DuckDB build
	COMETRECON_SPARK_TESTS=1 $(BIN)/pytest -q tests/spark

BENCH_CASES ?= small=30000,medium=300000,skewed=1000000:skewed,distinct=1000000,large=10000000
BENCH_HISTORY_DAYS ?= 30
BENCH_HISTORY_ATTEMPTS ?= 1000000

bench: setup  ## time cometrecon run from 30k to 10M attempts (and skewed keys) against the DuckDB floor and a pandas notebook; writes docs/benchmarks.md
	$(BIN)/python bench/run_bench.py --cases $(BENCH_CASES) --history-days $(BENCH_HISTORY_DAYS) --history-attempts $(BENCH_HISTORY_ATTEMPTS) --out docs/benchmarks.md

demo: setup  ## write a demo landing folder and run the main job on it
	$(BIN)/cometrecon demo $(DEMO_DIR) --seed $(SEED)
	$(BIN)/cometrecon run $(DEMO_DIR)/landing
	@echo "demo landing folder: $(DEMO_DIR)/landing   ground truth: $(DEMO_DIR)/ground_truth.json"
	@echo "incident outputs: reports/<incident_id>/ (reconciliation_record.json, support_packet.md, closure.md, report.html)"
	@echo "warehouse: warehouse/cometrecon.duckdb   (try: $(BIN)/python -c \"import duckdb; print(duckdb.connect('warehouse/cometrecon.duckdb', read_only=True).sql('show all tables'))\")"

test: setup lint chromium pytest  ## lint, then every test (pytest runs dbt build on demo data)

pytest: setup
	$(BIN)/pytest -q

# Debian's chromium renders report.html in a test; installed when we are root (CI is).
chromium:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	    || echo "could not install chromium: the report rendering test will be skipped"; \
	  else echo "chromium missing (sudo apt-get install chromium): the report rendering test will be skipped"; fi; }

lint: setup  ## ruff, mypy and sqlfluff
	$(BIN)/ruff check ingest cometrecon tests bench
	$(BIN)/ruff format --check ingest cometrecon tests bench
	$(BIN)/mypy
	$(BIN)/sqlfluff lint models macros tests/dbt --processes 2

format: setup  ## apply ruff and sqlfluff fixes
	$(BIN)/ruff check --fix ingest cometrecon tests bench
	$(BIN)/ruff format ingest cometrecon tests bench
	$(BIN)/sqlfluff fix models macros tests/dbt --processes 2

lock: setup  ## re-resolve requirements.in into exact pins
	$(BIN)/python -m pip install --quiet -r requirements.in
	(echo "# Exact pins for every machine. Regenerate with: make lock"; \
	 $(BIN)/python -m pip freeze --all --exclude-editable | grep -vE '^(pip|cometrecon)==' \
	 | grep -vxF -f <(grep -v '^#' requirements-spark.lock)) > requirements.lock

lock-spark: setup-spark  ## re-resolve requirements-spark.in into exact pins on top of requirements.lock
	(echo "# Exact pins for the Spark target, installed on top of requirements.lock by make test-spark."; \
	 echo "# Regenerate with: make lock-spark"; \
	 $(BIN)/python -m pip freeze --all --exclude-editable | grep -vE '^(pip|cometrecon)==' \
	 | grep -vxF -f <(grep -v '^#' requirements.lock)) > requirements-spark.lock

clean:  ## remove the warehouse, demo data and build outputs (keeps .venv)
	rm -rf warehouse demo target logs reports spark
