# flowem: `make run` runs the default pipeline, `make test` the tests; both set everything up first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
CORES ?= all
CONFIG ?= config/config.yaml
SNAKEMAKE := $(BIN)/snakemake --workflow-profile workflow/profiles/default --configfile $(CONFIG)

.PHONY: help setup run dryrun test test-fast bench lint report clean

help:
	@echo "make run      set up .venv and run the default pipeline (snakemake --cores $(CORES))"
	@echo "make test     set up .venv and run the tests (slow end-to-end tests included)"
	@echo "make bench    run benchmarks/, writing results/bench/*.json"
	@echo "make dryrun   show the jobs of the default pipeline without running them"
	@echo "make lint     ruff, snakefmt --check and snakemake --lint"
	@echo "make report   build Snakemake's report of the last run (results/report/snakemake.html)"

setup: $(STAMP)

# The virtual environment: exact versions from requirements/lock.txt (torch 2.13.0 CPU wheel).
$(STAMP): pyproject.toml requirements/lock.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements/lock.txt -e '.[test,cluster]'
	@touch $@

run: $(STAMP)
	$(SNAKEMAKE) --cores $(CORES)

dryrun: $(STAMP)
	$(SNAKEMAKE) --cores $(CORES) --dry-run

test: $(STAMP)
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

bench: $(STAMP)
	@mkdir -p results/bench
	@set -e; for b in benchmarks/bench_*.py; do \
		echo "== $$b"; $(BIN)/python $$b --out results/bench/$$(basename $$b .py | sed 's/^bench_//').json; \
	done

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint --configfile $(CONFIG)

report: $(STAMP)
	$(SNAKEMAKE) --report results/report/snakemake.html

clean:
	rm -rf results/* .snakemake/log
	@touch results/.gitkeep
