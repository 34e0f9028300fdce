# PIU developer entry points. Everything runs from the project venv (.venv),
# which `make setup` (scripts/setup.sh) creates/refreshes idempotently.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV   := .venv
PY     := $(VENV)/bin/python
PIU    := $(VENV)/bin/piu
PYTEST := $(PY) -m pytest

# Extra pytest args, e.g. `make test PYTEST_ARGS="-x -k matcher"`.
PYTEST_ARGS ?=
# What the PostgreSQL run covers: every test that touches the database (the model-only,
# browser and subprocess end-to-end tests run on SQLite only).
PG_PYTEST_ARGS ?= -m "not browser and not e2e" --ignore=tests/test_model.py --ignore=tests/test_finetune.py
# The fast tier: no real embedding model (the hashing embedder searches), no browser,
# no subprocess end-to-end run, no PostgreSQL cluster.
FAST_PYTEST_ARGS ?= -m "not slow and not browser and not e2e and not postgres"
# Benchmark command.
BENCH_CMD ?= $(PIU) bench

.PHONY: help setup run serve test test-fast test-sqlite test-pg check fix bench pg clean distclean

help:
	@echo "make setup        create/refresh .venv (+ embedding model)"
	@echo "make run          setup, piu init, piu serve"
	@echo "make test         full suite on SQLite, then DB suite on PostgreSQL"
	@echo "make test-fast    fast tier on SQLite: no real model, browser, e2e or PostgreSQL"
	@echo "make test-sqlite  full suite on SQLite only"
	@echo "make test-pg      DB suite on a throw-away PostgreSQL (PIU_TEST_DB=postgres)"
	@echo "make check        ruff format --check, ruff check, mypy"
	@echo "make fix          ruff format + ruff check --fix, then mypy"
	@echo "make bench        run benchmarks ($(BENCH_CMD))"
	@echo "make clean        remove caches/build artefacts; distclean also .venv and var/"

setup:
	@bash scripts/setup.sh

run: setup
	$(PIU) init
	$(PIU) serve

serve: run

pg:
	@bash scripts/install_postgres.sh >/dev/null

# Both runs always execute; the target fails if either failed
# (pytest's own exit code is kept, so 5 = "no tests collected" fails too).
test: setup pg
	@rc1=0; rc2=0; \
	echo "==> tests on SQLite"; \
	$(PYTEST) $(PYTEST_ARGS) || rc1=$$?; \
	echo "==> tests on PostgreSQL"; \
	PIU_TEST_DB=postgres $(PYTEST) $(PG_PYTEST_ARGS) $(PYTEST_ARGS) || rc2=$$?; \
	echo "==> test summary: sqlite exit=$$rc1, postgres exit=$$rc2"; \
	if [ $$rc1 -ne 0 ]; then exit $$rc1; fi; exit $$rc2

test-fast: setup
	$(PYTEST) $(FAST_PYTEST_ARGS) $(PYTEST_ARGS)

test-sqlite: setup
	$(PYTEST) $(PYTEST_ARGS)

test-pg: setup pg
	PIU_TEST_DB=postgres $(PYTEST) $(PG_PYTEST_ARGS) $(PYTEST_ARGS)

check: setup
	@bash scripts/check

fix: setup
	@bash scripts/check --fix

bench: setup
	$(BENCH_CMD)

clean:
	rm -rf artifacts build dist .pytest_cache .mypy_cache .ruff_cache *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) var
