"""Fixtures of the Galileo compatibility tests: a stages file and service built from Galileo's
objects, the loopback Galileo API, and the venv of legacy galileo-protect."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.galileo.api import GalileoApi
from tests.galileo.factories import stages_document
from worker.runtime import Protect

ROOT = Path(__file__).resolve().parents[2]
# `make test` sets it; pytest run directly falls back to the Makefile's venv if it exists.
LEGACY_PYTHON_ENV = "PROTECT_TEST_GALILEO_PROTECT_PYTHON"
LEGACY_VENV_PYTHON = ROOT / ".venv-galileo-protect" / "bin" / "python"


@pytest.fixture
def galileo_stages_file(tmp_path: Path) -> Path:
    path = tmp_path / "galileo-stages.json"  # JSON is YAML: the file loader reads both
    path.write_text(json.dumps(stages_document()), "utf-8")
    return path


@pytest.fixture
def galileo_protect(galileo_stages_file: Path) -> Protect:
    return Protect.from_file(galileo_stages_file, seed=0)


@pytest.fixture
def galileo_api(galileo_protect: Protect) -> Iterator[GalileoApi]:
    with GalileoApi(galileo_protect) as api:
        yield api


@pytest.fixture(scope="session")
def legacy_python() -> Path:
    """The interpreter of the venv holding galileo-protect 1.0.1 (it needs galileo-core 3.x)."""
    configured = os.environ.get(LEGACY_PYTHON_ENV)
    if configured:
        path = Path(configured)
        # Set by `make test`: a missing interpreter is a broken setup, not a reason to skip.
        assert path.exists(), f"{LEGACY_PYTHON_ENV}={configured} does not exist"
        return path
    if LEGACY_VENV_PYTHON.exists():
        return LEGACY_VENV_PYTHON
    pytest.skip(
        f"galileo-protect 1.0.1 venv not found ({LEGACY_VENV_PYTHON}); `make test` creates it, "
        f"or set {LEGACY_PYTHON_ENV} to a python with galileo-protect==1.0.1"
    )
