"""Measured quality of the toxicity head (`input_toxicity` / `output_toxicity`).

Precision, recall, F1 and ROC AUC at the deployed threshold (the card's, 0.5) on the test split of
each labelled source (Davidson, ToxiGen seeds; the 101-comment Jigsaw sample in full, as training
never reads it), and the false-positive rate on benign text: CLINC150 test queries and XSTest's
250 `safe` prompts ("how do I kill a Python process"). Texts go through the scorer's own path
(chunking, max over chunks), so the numbers are those of the deployed metric.
"""

from __future__ import annotations

from pathlib import Path

from worker.metrics.base import Scorer
from worker.metrics.evaluation import EvalRow
from worker.metrics.evaluation.corpus import Half
from worker.metrics.evaluation.realistic import binary_family
from worker.metrics.toxicity import HEAD
from worker.metrics.training.heads import evaluate_head

METRIC = "toxicity"


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
    """Rows on the realistic corpus (evals/toxicity.jsonl): the `gte 0.5` decision, AUC,
    calibration, thresholds for 90/95 % precision, false positives on the traps."""
    return binary_family("toxicity", METRIC, "toxicity", corpus, half, limit)


__all__ = ["METRIC", "evaluate", "evaluate_realistic"]
