"""The `protect` command: one entry point, thin subcommands over the modules that do the work."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from worker.errors import ConfigurationError
from worker.logging import configure_logging
from worker.settings import load_settings

# command -> (module with `configure(parser)` and `run(args, settings)`, its help line). Only the
# module of the command being run is imported: `protect --help` or `protect schemas` must not
# load the engine and the detectors' models (seconds) to print a few lines.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("worker.cli.run", "run the screening worker"),
    "notify": ("worker.cli.notify", "run the notifier: deliver Responses to subscription webhooks"),
    "demo": (
        "worker.cli.demo",
        "start a broker and a worker, stream realistic events, show a live summary",
    ),
    "invoke": ("worker.cli.invoke", "evaluate one request against a stage and print the Response"),
    "stages": ("worker.cli.stages", "stage definitions and the central stage registry"),
    "metrics": (
        "worker.cli.metrics",
        "list the known metrics (with custom ones from a stages file)",
    ),
    "eval": (
        "worker.cli.evaluation",
        "print precision/recall/F1 (and false-positive rates) per metric on test splits",
    ),
    "train": (
        "worker.cli.train",
        "retrain a detector head (writes its weights and model card under "
        "worker/metrics/models/); needs the `train` extra",
    ),
    "schemas": (
        "worker.cli.schemas",
        "write the JSON Schema files of the records (request, response, stage, stage "
        "definition, stage state, notification)",
    ),
}


def _version() -> str:
    try:
        return version("protect-worker")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The CLI's parser; with `command`, only that subcommand's options are built (the others
    show their help line only)."""
    parser = argparse.ArgumentParser(
        prog="protect",
        description="Runtime protection for LLM applications (Galileo Protect's contract).",
    )
    parser.add_argument("--log-format", type=str.lower, choices=["auto", "json", "console"])
    parser.add_argument(
        "--log-level", type=str.lower, choices=["debug", "info", "warning", "error"]
    )
    # Set by a supervisor (`--processes N`) on the children it starts: their log lines carry it.
    parser.add_argument("--process-index", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--version", action="version", version=f"protect {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, summary) in COMMANDS.items():
        sub = commands.add_parser(name, help=summary)
        if command is None or command == name:
            importlib.import_module(module).configure(sub)
    return parser


def _command_in(argv: Sequence[str]) -> str | None:
    # The first word naming a command is the command: the top-level options take values that
    # are never command names (auto, json, debug, ...).
    return next((word for word in argv if word in COMMANDS), None)


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(_command_in(words) or "").parse_args(words)
    try:
        settings = load_settings()
    except ConfigurationError as exc:
        print(f"protect: {exc}", file=sys.stderr)
        return 2
    configure_logging(
        args.log_format or settings.log_format,
        args.log_level or settings.log_level,
        process=args.process_index,
    )
    try:
        code: int = args.run(args, settings)
    except ConfigurationError as exc:
        print(f"protect: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
