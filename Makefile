# `make run` and `make test` install into .venv on first use (and again when pyproject.toml changes).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-matrix docs bench fuzz install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# uv installs what pip would, from the same index, in a fraction of the time (pip took a minute of
	# `make test` from a clean clone); pip itself where uv cannot be installed.
	if $(BIN)/python -m pip install --quiet uv; then \
	    $(BIN)/python -m uv pip install --quiet --python $(BIN)/python -e '.[test,docs]'; \
	else \
	    $(BIN)/python -m pip install --quiet --upgrade pip && $(BIN)/python -m pip install --quiet -e '.[test,docs]'; \
	fi
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

# The suite under other Pythons (3.12 and 3.13 by default), each in a venv of its own (.venv-3.12, ...). The
# interpreter is pyenv's newest 3.X, else python3.X on the PATH (one that runs: not a pyenv shim without it).
MATRIX ?= 3.12 3.13
test-matrix:
	@set -e; for version in $(MATRIX); do \
	    python=""; \
	    for candidate in $$(ls -d $$(pyenv root 2>/dev/null)/versions/$$version*/bin/python 2>/dev/null | tail -1) \
	                     $$(command -v python$$version); do \
	        if $$candidate -c 'import sys' 2>/dev/null; then python=$$candidate; break; fi; \
	    done; \
	    if [ -z "$$python" ]; then echo "test-matrix: no Python $$version (pyenv or python$$version)"; exit 1; fi; \
	    venv=.venv-$$version; \
	    if [ ! -e $$venv/.installed ] || [ pyproject.toml -nt $$venv/.installed ]; then \
	        $$python -m venv $$venv || exit 1; \
	        $$venv/bin/python -m pip install --quiet --upgrade pip || exit 1; \
	        $$venv/bin/python -m pip install --quiet -e '.[test]' || exit 1; \
	        $$venv/bin/python -c 'import pathlib, site; pathlib.Path(site.getsitepackages()[0], "configsvc-checkout.pth").write_text(str(pathlib.Path.cwd()) + "\n")'; \
	        touch $$venv/.installed; \
	    fi; \
	    echo "== Python $$version ($$python)"; \
	    $$venv/bin/pytest -p no:cacheprovider || exit 1; \
	done

# The docs: every command output they show is made first by running the commands (scripts/doc_outputs.py,
# which asks a real worker over the local RabbitMQ); then Sphinx with warnings as errors, which also fails
# on a link to a page or heading that does not exist.
docs: $(STAMP)
	$(BIN)/python scripts/doc_outputs.py
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz --seconds $(or $(SECONDS),600)

bench: $(STAMP)
	$(BIN)/python -m benchmarks.bench_resolve
	$(BIN)/python -m benchmarks.bench_settings
	$(BIN)/python -m benchmarks.bench_metrics
	$(BIN)/python -m benchmarks.bench_scan
	$(BIN)/python -m benchmarks.bench_encrypted
	$(BIN)/python -m benchmarks.bench_sops
	$(BIN)/python -m benchmarks.bench_cli
	$(BIN)/python -m benchmarks.bench_startup
	$(BIN)/python -m benchmarks.bench_app
	$(BIN)/python -m benchmarks.bench_rotation
	$(BIN)/python -m benchmarks.bench_rollout
	$(BIN)/python -m benchmarks.soak_rotation
	$(BIN)/python -m benchmarks.bench_tokens
	$(BIN)/python -m benchmarks.bench_vault

# Everything make and the tests create in the checkout: the venv, the reference app's instance folder (the
# embedded broker's queues and results), caches, builds and the generated docs outputs.
clean:
	rm -rf $(VENV) instance build dist *.egg-info .hypothesis .pytest_cache .mypy_cache .ruff_cache \
		docs/_build docs/_generated
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
