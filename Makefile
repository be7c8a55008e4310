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

# The main job: screen example prompts and answers against examples/stages.yaml, in-process.
demo: $(BIN)/.installed
	$(BIN)/protect invoke --stages examples/stages.yaml --stage input-guard --seed 1 --compact \
		--input "my ssn is 123-45-6789"
	$(BIN)/protect invoke --stages examples/stages.yaml --stage input-guard --compact \
		--input "What is the capital of France?"
	$(BIN)/protect invoke --stages examples/stages.yaml --stage output-guard --compact \
		--input "Where are the logs?" --output "See ticket OPS-1234 on build7.corp.internal"

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/protect schemas --check
	$(BIN)/pytest

bench: $(BIN)/.installed
	$(BIN)/python bench/engine.py

schemas: $(BIN)/.installed
	$(BIN)/protect schemas

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
