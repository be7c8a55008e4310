"""`protect invoke`: evaluate one request in-process and print the Response as JSON."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from pydantic import ValidationError

from worker.api import build_request
from worker.contract.request import DEFAULT_TIMEOUT_S, Request
from worker.contract.statuses import ExecutionStatus
from worker.contract.validation import describe
from worker.runtime import Protect
from worker.settings import Settings


def configure(p: argparse.ArgumentParser) -> None:
    """Options of this subcommand (its name and help line are in worker/cli/main.py)."""
    p.description = "Evaluate a payload against a stage from a stages file; print the Response."
    p.add_argument("--stages", type=Path, help="stages file (default: $PROTECT_STAGES_FILE)")
    p.add_argument("--request", help="a Request as JSON: a file path, or - for stdin")
    p.add_argument("--stage", help="stage name")
    p.add_argument("--stage-id", help="stage id (instead of --stage)")
    p.add_argument("--project", help="project name (default: the project holding --stage)")
    p.add_argument("--version", type=int, help="stage version (default: latest)")
    p.add_argument("--input", help="the user's prompt")
    p.add_argument("--output", help="the model's response")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds")
    p.add_argument("--seed", type=int, help="seed the override choice (reproducible)")
    p.add_argument("--compact", action="store_true", help="one-line JSON")
    p.add_argument(
        "--fail-on",
        type=_statuses,
        default=frozenset(),
        metavar="STATUS[,STATUS]",
        help="exit 1 when the Response's status is one of these (e.g. triggered,error), for "
        f"scripts and CI; statuses: {', '.join(s.value for s in ExecutionStatus)}",
    )
    p.set_defaults(run=run)


# Exit statuses of `protect invoke` (documented in the README): the Response is printed in
# both of the first two cases.
EXIT_OK = 0
EXIT_FAIL_ON = 1  # the Response's status is one of --fail-on
EXIT_INVALID = 2  # an invalid request, stages file or setting: nothing was evaluated


def _statuses(text: str) -> frozenset[ExecutionStatus]:
    try:
        return frozenset(ExecutionStatus(word.strip().lower()) for word in text.split(",") if word)
    except ValueError:
        known = ", ".join(s.value for s in ExecutionStatus)
        raise argparse.ArgumentTypeError(f"statuses are {known}; got {text!r}") from None


def run(args: argparse.Namespace, settings: Settings) -> int:
    stages_file = args.stages or settings.stages_file
    protect = Protect.from_file(
        stages_file,
        seed=args.seed if args.seed is not None else settings.seed,
        cpu_threads=settings.cpu_threads,
    )
    try:
        request = _request(args, protect)
    except ValidationError as exc:
        print(f"protect invoke: invalid request\n{describe(exc)}", file=sys.stderr)
        return EXIT_INVALID
    except (OSError, ValueError) as exc:
        print(f"protect invoke: {exc}", file=sys.stderr)
        return EXIT_INVALID
    # Load models before the clock starts, so the Response's execution times measure the
    # evaluation rather than a one-off model load.
    protect.warm_up(freeze_heap=False)
    response = asyncio.run(protect.ainvoke(request))
    print(response.model_dump_json(indent=None if args.compact else 2))
    return EXIT_FAIL_ON if response.status in args.fail_on else EXIT_OK


def _request(args: argparse.Namespace, protect: Protect) -> Request:
    if args.request:
        raw = sys.stdin.read() if args.request == "-" else Path(args.request).read_text("utf-8")
        try:
            document = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"--request is not valid JSON: {exc}") from exc
        return Request.model_validate(document)
    if args.input is None and args.output is None:
        raise ValueError("give --input and/or --output, or --request")
    if args.stage is None and args.stage_id is None:
        raise ValueError("give --stage NAME (or --stage-id ID)")
    return build_request(
        {"input": args.input, "output": args.output},
        stage_name=args.stage,
        stage_id=args.stage_id,
        project_name=args.project,
        stage_version=args.version,
        timeout=args.timeout,
        protect=protect,
    )
