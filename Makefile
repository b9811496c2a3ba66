# Thin targets over pyproject-configured tools: CI and people run the same commands.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SOURCES ?= ../shared/geodata-sources

.PHONY: demo test lint geodata install check clean bench

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "demine needs Python >= 3.11 (set PYTHON=python3.X)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip>=25.1"
	$(BIN)/python -m pip install -q -e . --group dev
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/demine report --access-date 2027-06-01 --start-date 2027-01-01

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check estimator tests bench
	$(BIN)/ruff format --check estimator tests bench

geodata: $(STAMP)
	$(BIN)/python -m estimator.build_geodata --sources $(SOURCES) --out geodata

check: lint test

# Not part of `make test` or CI: generates ~2.5 GB of rasters into $${XDG_CACHE_HOME:-~/.cache}/demine-bench
# (or $$DEMINE_BENCH_CACHE) and runs for 20-40 minutes on 2 cores.
bench: $(STAMP)
	$(BIN)/python -m pip install -q --group bench
	$(BIN)/python bench/run.py
	$(BIN)/python bench/bench_model.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build dist
