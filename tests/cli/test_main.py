"""The `protect` entry point: version, help, and what importing it costs."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from worker.cli.main import COMMANDS, build_parser

PROTECT = str(Path(sys.executable).with_name("protect"))
HEAVY = ("worker.runtime", "worker.metrics.pii", "onnxruntime", "spacy", "presidio_analyzer")


def test_version() -> None:
    result = subprocess.run([PROTECT, "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == f"protect {version('protect-worker')}"


def test_help_lists_every_command() -> None:
    result = subprocess.run([PROTECT, "--help"], capture_output=True, text=True, check=True)
    for name in COMMANDS:
        assert f"    {name} " in result.stdout


def test_every_command_builds_its_options() -> None:
    parser = build_parser()
    for name in COMMANDS:
        assert parser.parse_args([name, *_minimal(name)]).command == name


def _minimal(name: str) -> list[str]:
    # The least each subcommand needs to parse (required arguments).
    return {"stages": ["list"], "train": ["tone"]}.get(name, [])


def _modules_loaded_by(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint('\\n'.join(sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    return set(result.stdout.split())


def test_help_and_light_commands_load_no_engine_or_model() -> None:
    loaded = _modules_loaded_by(
        "from worker.cli.main import build_parser\n"
        "build_parser('schemas').parse_args(['schemas', '--check'])"
    )
    assert not loaded & set(HEAVY)


def test_importing_the_package_or_the_webhook_verifier_loads_no_engine() -> None:
    # A webhook receiver imports the verifier; it must cost milliseconds, not the detectors.
    loaded = _modules_loaded_by("import worker\nfrom worker.notify.signing import verify")
    assert not loaded & set(HEAVY)
    assert "worker.runtime" in _modules_loaded_by("from worker import invoke_protect")
