"""`protect train HEAD`: retrain a detector head from the labelled datasets, reproducibly."""

from __future__ import annotations

import argparse
import importlib

from worker.settings import Settings

# head -> (module with `main(argv) -> int`, arguments it takes before the user's)
HEADS: dict[str, tuple[str, list[str]]] = {
    "context_adherence": ("worker.metrics.training.adherence", []),
    "completeness": ("worker.metrics.training.adherence", ["completeness"]),
    "tone": ("worker.metrics.training.tone", []),
    "prompt_injection": ("worker.metrics.training.injection", []),
    "toxicity": ("worker.metrics.training.heads", ["toxicity"]),
    "sexism": ("worker.metrics.training.heads", ["sexism"]),
    "pii_names": ("worker.metrics.training.pii_names", []),
    "language": ("worker.metrics.training.language", []),
    # Not a head: the fast tier's encoder, distilled from the shipped MiniLM.
    "static_embedding": ("worker.metrics.training.static_embedding", []),
}


def configure(p: argparse.ArgumentParser) -> None:
    """Options of this subcommand (its name and help line are in worker/cli/main.py)."""
    p.add_argument("head", choices=sorted(HEADS))
    p.add_argument("--datasets", help="labelled datasets (default: ../shared/datasets)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    module, fixed = HEADS[args.head]
    argv = [*fixed, *(["--datasets", args.datasets] if args.datasets else [])]
    code: int = importlib.import_module(module).main(argv)
    return code
