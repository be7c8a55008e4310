# Two entry points a fresh clone needs: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench schemas clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# The main job: an embedded broker, the worker, a realistic event stream and a live summary.
demo: $(BIN)/.installed
	$(BIN)/protect demo

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/protect schemas --check
	$(BIN)/pytest

bench: $(BIN)/.installed
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/stream.py
	$(BIN)/python bench/notify.py
	$(BIN)/python bench/metrics.py

schemas: $(BIN)/.installed
	$(BIN)/protect schemas

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
