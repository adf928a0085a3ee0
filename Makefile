# `make run` and `make test` install into .venv on first use (and again when pyproject.toml changes).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]' --config-settings editable_mode=compat
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python scripts/run_dev.py

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_resolve.py
	$(BIN)/python benchmarks/bench_encrypted.py
	$(BIN)/python benchmarks/bench_app.py
	$(BIN)/python benchmarks/bench_rotation.py

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache
