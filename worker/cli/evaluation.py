"""`protect eval`: detector quality on labelled data that training never saw.

Two suites per family, printed side by side: the public datasets' test splits
(`evaluate(datasets, limit)`) and the realistic corpus's test half (`evaluate_realistic(corpus,
half, limit)`, evals/), with 95 % intervals, calibration and operating thresholds.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
import time
from collections.abc import Callable
from pathlib import Path

from worker.metrics.backends.scorer import BackendScorer
from worker.metrics.evaluation import EvalRow, datasets_dir
from worker.metrics.evaluation.corpus import corpus_dir
from worker.runtime import Protect
from worker.settings import Settings

# One module per detector family, each with `evaluate(datasets, limit) -> list[EvalRow]` and,
# where the realistic corpus covers it, `evaluate_realistic(corpus, half, limit)`.
FAMILIES: dict[str, str] = {
    "language": "worker.metrics.evaluation.language",
    "adherence": "worker.metrics.evaluation.adherence",
    "tone": "worker.metrics.evaluation.tone",
    "pii": "worker.metrics.evaluation.pii",
    "secrets": "worker.metrics.evaluation.secrets",
    "injection": "worker.metrics.evaluation.injection",
    "toxicity": "worker.metrics.evaluation.toxicity",
    "sexism": "worker.metrics.evaluation.sexism",
}


# Families whose evaluation can run a configured backend instead of the built-in head, and the
# metrics (input first) whose backend they measure: both twins score texts the same way.
BACKEND_METRICS: dict[str, tuple[str, str]] = {
    "toxicity": ("input_toxicity", "output_toxicity"),
    "sexism": ("input_sexist", "output_sexist"),
    "tone": ("input_tone", "output_tone"),
}


def _backends(stages: Path) -> dict[str, BackendScorer]:
    registry = Protect.from_file(stages).evaluator.metrics
    return {s.name: s for s in registry if isinstance(s, BackendScorer)}


def _backend_for(family: str, backends: dict[str, BackendScorer]) -> BackendScorer | None:
    return next((backends[m] for m in BACKEND_METRICS.get(family, ()) if m in backends), None)


def configure(p: argparse.ArgumentParser) -> None:
    """Options of this subcommand (its name and help line are in worker/cli/main.py)."""
    p.add_argument("--datasets", type=Path, help="labelled datasets (default: ../shared/datasets)")
    p.add_argument(
        "--only",
        action="append",
        choices=sorted(FAMILIES),
        help="evaluate these families only (repeatable)",
    )
    p.add_argument("--limit", type=int, help="at most about this many examples per dataset")
    p.add_argument("--corpus", type=Path, help="the realistic corpus (default: evals/)")
    p.add_argument(
        "--half",
        choices=("test", "validation"),
        default="test",
        help="the realistic corpus's half to measure (validation: for tuning; test: reported)",
    )
    p.add_argument(
        "--suite",
        choices=("both", "public", "realistic"),
        default="both",
        help="public test splits, the realistic corpus, or both (default)",
    )
    p.add_argument(
        "--stages",
        type=Path,
        help="measure the backends this stages file configures instead of the built-in "
        "detectors (toxicity, sexism, tone)",
    )
    p.add_argument("--markdown", action="store_true", help="a Markdown table (docs/metrics.md)")
    p.set_defaults(run=run)


def _fmt(value: float | None) -> str:
    return "" if value is None or value != value else f"{value:.3f}"


def _ci(interval: tuple[float, float] | None) -> str:
    if interval is None or interval[0] != interval[0]:
        return ""
    return f"{interval[0]:.2f}-{interval[1]:.2f}"


def run(args: argparse.Namespace, settings: Settings) -> int:
    root = datasets_dir(args.datasets)
    if args.suite != "realistic" and not root.is_dir():
        print(
            f"protect eval: no datasets at {root} (set --datasets or PROTECT_DATASETS_DIR)",
            file=sys.stderr,
        )
        return 2
    backends = _backends(args.stages) if args.stages else {}
    rows: list[EvalRow] = []
    for family in args.only or FAMILIES:
        started = time.perf_counter()
        module = importlib.import_module(FAMILIES[family])
        evaluate: Callable[..., list[EvalRow]] = module.evaluate
        backend = _backend_for(family, backends)
        if args.suite == "realistic":
            pass
        elif backend is None:
            rows += evaluate(root, limit=args.limit)
        else:
            where = backend.spec.model_dump(mode="json", include={"type", "path", "url"})
            rows += [
                dataclasses.replace(row, note=f"backend {where}; {row.note}")
                for row in evaluate(root, limit=args.limit, scorer=backend)
            ]
        realistic = getattr(module, "evaluate_realistic", None)
        if args.suite != "public" and realistic is not None and backend is None:
            rows += realistic(corpus_dir(args.corpus), half=args.half, limit=args.limit)
        print(f"evaluated {family} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    for name in sorted(set(backends) - {m for ms in BACKEND_METRICS.values() for m in ms}):
        print(
            f"protect eval: {name}'s backend is not measured (only toxicity, sexism and tone "
            "backends are); its rows are the built-in detector's",
            file=sys.stderr,
        )
    header = [
        "metric",
        "dataset",
        "n",
        "precision",
        "recall",
        "F1",
        "F1 95% CI",
        "FPR",
        "AUC",
        "AUC 95% CI",
        "ECE",
        "thr P90",
        "thr P95",
        "note",
    ]
    table = [
        [
            r.metric,
            r.dataset,
            str(r.n),
            _fmt(r.precision),
            _fmt(r.recall),
            _fmt(r.f1),
            _ci(r.f1_ci),
            _fmt(r.fpr),
            _fmt(r.auc),
            _ci(r.auc_ci),
            _fmt(r.ece),
            _fmt(r.threshold_p90),
            _fmt(r.threshold_p95),
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
