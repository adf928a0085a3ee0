# `make run` and `make test` install into .venv on first use (and again when pyproject.toml changes).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench fuzz install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	# The reference app (app/, worker_entry.py) runs from the checkout: put the checkout on the venv's path.
	$(BIN)/python -c 'import pathlib, site; pathlib.Path(site.getsitepackages()[0], "configsvc-checkout.pth").write_text(str(pathlib.Path.cwd()) + "\n")'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python scripts/run_dev.py

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest

fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz --seconds $(or $(SECONDS),600)

bench: $(STAMP)
	$(BIN)/python -m benchmarks.bench_resolve
	$(BIN)/python -m benchmarks.bench_scan
	$(BIN)/python -m benchmarks.bench_encrypted
	$(BIN)/python -m benchmarks.bench_sops
	$(BIN)/python -m benchmarks.bench_cli
	$(BIN)/python -m benchmarks.bench_startup
	$(BIN)/python -m benchmarks.bench_app
	$(BIN)/python -m benchmarks.bench_rotation

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache
