"""`protect eval`: detector quality on labelled data that training never saw."""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from worker.metrics.evaluation import EvalRow, datasets_dir
from worker.settings import Settings

# One module per detector family, each with `evaluate(datasets, limit) -> list[EvalRow]`.
FAMILIES: dict[str, str] = {
    "language": "worker.metrics.eval_language",
    "adherence": "worker.metrics.eval_adherence",
    "tone": "worker.metrics.eval_tone",
    "pii": "worker.metrics.eval_pii",
    "secrets": "worker.metrics.eval_secrets",
    "injection": "worker.metrics.eval_injection",
    "toxicity": "worker.metrics.eval_toxicity",
    "sexism": "worker.metrics.eval_sexism",
}


def register(commands: Any) -> None:
    p: argparse.ArgumentParser = commands.add_parser(
        "eval",
        help="print precision/recall/F1 (and false-positive rates) per metric on test splits",
    )
    p.add_argument("--datasets", type=Path, help="labelled datasets (default: ../shared/datasets)")
    p.add_argument(
        "--only",
        action="append",
        choices=sorted(FAMILIES),
        help="evaluate these families only (repeatable)",
    )
    p.add_argument("--limit", type=int, help="at most about this many examples per dataset")
    p.add_argument("--markdown", action="store_true", help="a Markdown table (docs/metrics.md)")
    p.set_defaults(run=run)


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def run(args: argparse.Namespace, settings: Settings) -> int:
    root = datasets_dir(args.datasets)
    if not root.is_dir():
        print(
            f"protect eval: no datasets at {root} (set --datasets or PROTECT_DATASETS_DIR)",
            file=sys.stderr,
        )
        return 2
    rows: list[EvalRow] = []
    for family in args.only or FAMILIES:
        started = time.perf_counter()
        evaluate: Callable[..., list[EvalRow]] = importlib.import_module(FAMILIES[family]).evaluate
        rows += evaluate(root, limit=args.limit)
        print(f"evaluated {family} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    header = ["metric", "dataset", "n", "precision", "recall", "F1", "FPR", "AUC", "note"]
    table = [
        [
            r.metric,
            r.dataset,
            str(r.n),
            _fmt(r.precision),
            _fmt(r.recall),
            _fmt(r.f1),
            _fmt(r.fpr),
            _fmt(r.auc),
            r.note,
        ]
        for r in rows
    ]
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for line in table:
            print("| " + " | ".join(line) + " |")
    else:
        widths = [max(len(h), *(len(line[i]) for line in table)) for i, h in enumerate(header)]
        for line in [header, *table]:
            print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
    return 0
