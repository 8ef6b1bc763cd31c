# Nuanliu — `make run` starts everything embedded; `make test` runs the whole suite.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: help run test lint fmt typecheck bench migration vendor clean
help: ## list targets
	@grep -E '^[a-z-]+:.*## ' Makefile | sed 's/:.*## /\t/'

$(PY):
	python3 -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install (editable, with test tools)

run: $(STAMP) ## start API, board, consumers, scheduler and the embedded broker
	$(VENV)/bin/nuanliu run

test: $(STAMP) ## the whole suite (set TEST_DATABASE_URL for PostgreSQL)
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP) ## ruff check + format check + the layers' import contracts (lint-imports)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

fmt: $(STAMP) ## ruff format + autofix
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: $(STAMP) ## mypy on the four packages
	$(VENV)/bin/mypy nuanliu coordinator events consumers

migration: $(STAMP) ## regenerate the initial migration from the models (pre-release only)
	$(PY) -m nuanliu.migrations.regenerate

vendor: $(STAMP) ## re-vendor the board's front-end files from npm (needs npm; the result is committed)
	$(PY) -m coordinator.board.vendor

bench: $(STAMP) ## run every benchmark
	$(VENV)/bin/nuanliu bench pipeline

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
