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

.PHONY: help setup run dryrun test test-fast bench smoke lint report clean

help:
	@echo "make run      set up .venv and run the default pipeline (snakemake --cores $(CORES))"
	@echo "make test     set up .venv and run the tests (slow end-to-end tests included)"
	@echo "make bench    run benchmarks/, writing results/bench/*.json"
	@echo "make smoke    every rule at the paper's image and network sizes, steps cut (CPU, minutes);"
	@echo "              peak memory per job in $(SMOKE_DIR)/results/benchmarks (sizes SLURM mem_mb)"
	@echo "make dryrun   show the jobs of the default pipeline without running them"
	@echo "make lint     ruff, snakefmt --check and snakemake --lint"
	@echo "make report   build Snakemake's report of the last run (results/report/report.zip, linked from index.html)"

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

# config/paper-smoke.yaml over config/paper.yaml, in its own working directory (its results/ beside
# none of the default run's); the data come from the same mirror and cache, by absolute path.
SMOKE_DIR ?= results/paper-smoke
SMOKE_DATA := data={mirrors: [$(abspath ../shared/data)], cache_dir: $(abspath resources)}

smoke: $(STAMP)
	@mkdir -p $(SMOKE_DIR)
	$(BIN)/snakemake --snakefile $(abspath Snakefile) --directory $(SMOKE_DIR) \
		--workflow-profile $(abspath workflow/profiles/default) --cores $(CORES) \
		--configfile $(abspath config/paper.yaml) $(abspath config/paper-smoke.yaml) \
		--config "$(SMOKE_DATA)"
	@echo "peak memory (max_rss, MB) per job:"
	@cd $(SMOKE_DIR)/results/benchmarks && for f in $$(find . -name '*.tsv' | sort); do \
		printf '%-40s %s\n' "$${f#./}" "$$(tail -n 1 $$f | cut -f 3)"; done

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint --configfile $(CONFIG)

report: $(STAMP)
	$(SNAKEMAKE) --report results/report/report.zip

clean:
	rm -rf results/* .snakemake/log
	@touch results/.gitkeep
