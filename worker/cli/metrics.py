"""`protect metrics`: the metrics a stage can use, their value kinds and label vocabularies."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from worker.metrics.backends.scorer import BackendScorer
from worker.metrics.registry import GALILEO_ALIASES
from worker.runtime import Protect
from worker.settings import Settings


def configure(p: argparse.ArgumentParser) -> None:
    """Options of this subcommand (its name and help line are in worker/cli/main.py)."""
    p.add_argument("--stages", type=Path, help="stages file declaring custom metrics and backends")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    registry = Protect.from_file(args.stages or settings.stages_file).evaluator.metrics
    for scorer in sorted(registry, key=lambda s: s.name):
        aliases = sorted(a for a, target in GALILEO_ALIASES.items() if target == scorer.name)
        print(
            json.dumps(
                {
                    "metric": scorer.name,
                    "aliases": aliases,
                    "reads": [r.value for r in scorer.reads],
                    "value": scorer.kind.value,
                    "labels": list(scorer.labels) if scorer.labels is not None else None,
                    # Which model computes it: the default detector, or a configured backend.
                    "backend": (
                        scorer.spec.model_dump(mode="json", include={"type", "path", "url"})
                        if isinstance(scorer, BackendScorer)
                        else "builtin"
                    ),
                }
            )
        )
    return 0
