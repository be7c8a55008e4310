"""The `protect` command: one entry point, thin subcommands over the modules that do the work."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from worker.cli import demo, evaluation, invoke, metrics, notify, run, schemas, stages, train
from worker.errors import ConfigurationError
from worker.logging import configure_logging
from worker.settings import load_settings


def build_parser() -> argparse.ArgumentParser:
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
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (run, notify, demo, invoke, stages, metrics, evaluation, train, schemas):
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
