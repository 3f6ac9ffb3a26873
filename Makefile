# Lifeline — `make help` lists every target.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PORT ?= 8000
BIN := $(VENV)/bin
PIP_QUIET := --quiet --disable-pip-version-check
export DJANGO_SETTINGS_MODULE ?= lifeline.settings.dev
export PYTHONDONTWRITEBYTECODE := 1

.DEFAULT_GOAL := help
.PHONY: help run test lint bench lock messages clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sort | \
	  awk 'BEGIN {FS = ":.*## "} {printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.base: requirements/base.txt | $(BIN)/python
	$(BIN)/pip install $(PIP_QUIET) --require-hashes -r requirements/base.txt 2> >(grep -v "is ignored" >&2)
	touch $@

$(VENV)/.dev: requirements/dev.txt $(VENV)/.base
	$(BIN)/pip install $(PIP_QUIET) --require-hashes -r requirements/dev.txt 2> >(grep -v "is ignored" >&2)
	touch $@

run: $(VENV)/.base ## set up (venv, install, migrate, keys, demo data) and serve on http://127.0.0.1:$(PORT)/
	$(BIN)/python manage.py init_keys
	$(BIN)/python manage.py migrate --noinput -v 0
	$(BIN)/python manage.py load_demo
	$(BIN)/python manage.py serve --port $(PORT)

test: lint ## ruff, mypy, then pytest on SQLite and on PostgreSQL (required when CI=true)
	$(BIN)/python scripts/test_all.py

lint: $(VENV)/.dev ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DJANGO_SETTINGS_MODULE=lifeline.settings.test $(BIN)/mypy lifeline tests scripts bench

bench: $(VENV)/.dev ## benchmarks: figures, targets, ratios against references run alongside (BENCH_QUICK=1: shorter)
	$(BIN)/python bench/run.py

lock: ## re-resolve the pinned dependencies in pyproject.toml into hashed lock files
	$(PYTHON) -m venv /tmp/lifeline-piptools && /tmp/lifeline-piptools/bin/pip install $(PIP_QUIET) pip-tools
	/tmp/lifeline-piptools/bin/pip-compile -q --generate-hashes --strip-extras --allow-unsafe -o requirements/base.txt pyproject.toml
	/tmp/lifeline-piptools/bin/pip-compile -q --generate-hashes --strip-extras --allow-unsafe --extra dev -o requirements/dev.txt pyproject.toml

messages: $(VENV)/.dev ## extract and compile the ru/uk/en translations
	cd lifeline && ../$(BIN)/python ../manage.py makemessages -l ru -l uk -l en --no-obsolete
	cd lifeline && ../$(BIN)/python ../manage.py compilemessages

clean: ## remove the virtualenv (keeps ./var: your data and keys)
	rm -rf $(VENV)
