"""Measured quality of the sexism head (`input_sexist` / `output_sexist`).

Precision, recall, F1 and ROC AUC at the deployed threshold (the card's, 0.5) on the EDOS test
split, and the false-positive rate on CLINC150 test queries and on XSTest's 250 `safe` prompts.
Texts go through the scorer's own path (chunking, max over chunks).
"""

from __future__ import annotations

from pathlib import Path

from worker.metrics.base import Scorer
from worker.metrics.evaluation import EvalRow
from worker.metrics.evaluation.corpus import Half
from worker.metrics.evaluation.realistic import binary_family
from worker.metrics.sexism import HEAD
from worker.metrics.training.heads import evaluate_head

METRIC = "sexist"


def evaluate(
    datasets: Path, limit: int | None = None, scorer: Scorer | None = None
) -> list[EvalRow]:
    """Eval rows on test splits; `limit` samples at most that many texts per dataset.

    `scorer`: a configured backend to measure instead of the built-in head.
    """
    return evaluate_head(METRIC, HEAD, datasets, limit=limit, xstest_safe=True, scorer=scorer)


def evaluate_realistic(
    corpus: Path | None = None, half: Half = "test", limit: int | None = None
) -> list[EvalRow]:
    """Rows on the realistic corpus (evals/sexism.jsonl): the `gte 0.5` decision, AUC,
    calibration, thresholds for 90/95 % precision, false positives on the traps."""
    return binary_family("sexism", METRIC, "sexist", corpus, half, limit)


__all__ = ["METRIC", "evaluate", "evaluate_realistic"]
