"""`protect schemas`: write (or check) the JSON Schema files of the wire contract."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from worker.contract.jsonschema import render_all
from worker.settings import Settings


def configure(p: argparse.ArgumentParser) -> None:
    """Options of this subcommand (its name and help line are in worker/cli/main.py)."""
    p.add_argument("--out", type=Path, default=Path("schemas"), help="directory (default: schemas)")
    p.add_argument("--check", action="store_true", help="fail if the files differ; write nothing")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    stale = []
    for name, text in render_all().items():
        path = args.out / name
        current = path.read_text("utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(name)
        if not args.check:
            args.out.mkdir(parents=True, exist_ok=True)
            path.write_text(text, "utf-8")
    if args.check and stale:
        print(
            f"protect schemas: out of date: {', '.join(stale)} (run `protect schemas`)",
            file=sys.stderr,
        )
        return 1
    for name in stale:
        print(f"wrote {args.out / name}")
    return 0
