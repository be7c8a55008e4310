"""`protect demo`: the whole product in one command, on an embedded broker by default."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from worker.demo.run import run_demo
from worker.settings import Settings

EXAMPLE_STAGES = Path("examples/stages.yaml")


def configure(p: argparse.ArgumentParser) -> None:
    """Options of this subcommand (its name and help line are in worker/cli/main.py)."""
    p.add_argument(
        "--stages",
        type=Path,
        default=EXAMPLE_STAGES,
        help="stages file (default: examples/stages.yaml)",
    )
    p.add_argument("--events", type=int, default=3000, help="events to produce (default 3000)")
    p.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="events per second to produce (default: as fast as possible)",
    )
    p.add_argument("--bootstrap", help="use this cluster instead of an embedded broker")
    p.add_argument(
        "--no-webhooks",
        action="store_true",
        help="skip the notifier and the example webhook receiver",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    # The demo's stages live in a project of their own unless configured otherwise.
    summary = asyncio.run(
        run_demo(
            settings,
            args.stages,
            events=args.events,
            rate=args.rate,
            bootstrap_servers=args.bootstrap or settings.kafka_bootstrap_servers,
            webhooks=not args.no_webhooks,
        )
    )
    return 0 if summary.screened == args.events else 1
