"""`protect stages`: check stage files (the Kafka-backed registry commands build on this)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from worker.runtime import Protect
from worker.settings import Settings


def register(commands: Any) -> None:
    p: argparse.ArgumentParser = commands.add_parser("stages", help="stage definitions")
    sub = p.add_subparsers(dest="stages_command", required=True, metavar="SUBCOMMAND")
    v = sub.add_parser(
        "validate", help="validate a stages file: field errors, unknown metrics, rule warnings"
    )
    v.add_argument("-f", "--file", type=Path, required=True)
    v.set_defaults(run=validate)


def validate(args: argparse.Namespace, settings: Settings) -> int:
    # Loading validates everything: a field error or an unknown metric raises (exit 2 with the
    # field named); rules that can never trigger are logged as warnings.
    protect = Protect.from_file(args.file)
    for stage in sorted(protect.stages.latest(), key=lambda s: (s.project_name or "", s.name)):
        print(
            json.dumps(
                {
                    "project": stage.project_name,
                    "stage": stage.name,
                    "type": stage.type.value,
                    "version": stage.version,
                    "rulesets": len(stage.prioritized_rulesets),
                }
            )
        )
    return 0
