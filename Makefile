# greentwin: two commands on a fresh machine.
#   make demo   set up (venv, Python and npm packages) and run the demo district
#   make test   set up (plus Chromium) and run lint, type checks and the whole test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PACKAGES := core citygml green_model tiles kernels traffic twin server cli

.PHONY: setup demo test lint typecheck pytest bench system clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.installed node_modules/.installed

system:
	bash scripts/system-deps.sh

demo: setup
	$(VENV)/bin/greentwin demo

test: setup system lint typecheck pytest

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup
	bash scripts/typecheck.sh

pytest: setup
	$(PY) -m pytest -p no:cacheprovider

bench: setup
	$(PY) bench/convert.py

clean:
	rm -rf $(VENV) node_modules .typecheck build *.egg-info .pytest_cache .mypy_cache
