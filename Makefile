# Terrapin developer commands. The README's quickstart is `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
HOST ?= 127.0.0.1
PORT ?= 8000
# Test processes: much of the suite waits on real servers and subprocesses.
TEST_WORKERS ?= 3

.PHONY: help install run migrate makemigrations migrations-check test test-sqlite lint check format bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)  ## create .venv and install Terrapin with the dev extras

run: $(STAMP)  ## migrate the database, create the dev user if none, serve on $(HOST):$(PORT)
	$(BIN)/python -m project migrate
	$(BIN)/python -m project devuser
	$(BIN)/python -m project runserver --host $(HOST) --port $(PORT)

migrate: $(STAMP)  ## apply pending migrations to DATABASE_URL
	$(BIN)/python -m project migrate

makemigrations: $(STAMP)  ## generate a two-dialect migration: make makemigrations NAME=add_x
	$(BIN)/python -m project makemigrations $(NAME)

migrations-check: $(STAMP)  ## fail if models and migrations disagree, or up/down/up fails
	$(BIN)/python -m pytest -q tests/migrations

# Tests marked `serial` measure wall-clock time: they run alone, after the parallel suite.
test: $(STAMP)  ## the whole suite: SQLite, and PostgreSQL when reachable (mandatory with CI=true)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not serial" --cov --cov-report=
	$(BIN)/python -m pytest -m serial --cov --cov-append --cov-report=term --cov-fail-under=85

lint: $(STAMP)  ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)  ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)  ## side-by-side benchmarks (see benchmarks/README.md)
	$(BIN)/python -m benchmarks

clean:  ## remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage*
