"""Measured detector quality: the rows `protect eval` prints, and the splits training uses.

Every detector family has an `evaluate(datasets: Path, limit: int | None) -> list[EvalRow]` in a
module of its own (`worker/metrics/evaluation/<family>.py`), run on test splits that training
never saw.
Splits are decided per example by a hash of its text and a fixed seed, so they do not depend on
file order and stay put when a dataset grows.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Split = Literal["train", "validation", "test"]

# Where the labelled datasets live: the shared folder beside the repository (see README).
DATASETS_ENV = "PROTECT_DATASETS_DIR"
DEFAULT_DATASETS = Path(__file__).resolve().parents[3].parent / "shared" / "datasets"
# 70 / 15 / 15: enough test examples per class for stable F1 on the smaller sets (~600 rows).
TRAIN_FRACTION = 0.70
VALIDATION_FRACTION = 0.15
SPLIT_SEED = "protect-splits-v1"


def datasets_dir(override: str | Path | None = None) -> Path:
    return Path(override or os.environ.get(DATASETS_ENV) or DEFAULT_DATASETS)


def split_of(key: str, seed: str = SPLIT_SEED) -> Split:
    """The split of one example, from a hash of its key (usually its text)."""
    digest = hashlib.sha256(f"{seed}\x00{key}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < TRAIN_FRACTION:
        return "train"
    if u < TRAIN_FRACTION + VALIDATION_FRACTION:
        return "validation"
    return "test"


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


@dataclass(frozen=True)
class EvalRow:
    """One line of the `protect eval` table."""

    metric: str
    dataset: str  # e.g. "pii_presidio_synthetic (test)"
    n: int
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    # False-positive rate on clean text (benign prompts), where that is the question.
    fpr: float | None = None
    auc: float | None = None
    note: str = ""
    extra: dict[str, float] = field(default_factory=dict)
    # 95 % intervals (realistic corpus rows): of F1 (or accuracy) and of AUC.
    f1_ci: tuple[float, float] | None = None
    auc_ci: tuple[float, float] | None = None
    # Score metrics: expected calibration error, and the lowest thresholds (`gte t`) reaching
    # 90 % and 95 % precision on these rows.
    ece: float | None = None
    threshold_p90: float | None = None
    threshold_p95: float | None = None


def binary_scores(truth: Sequence[bool], predicted: Sequence[bool]) -> tuple[float, float, float]:
    """Precision, recall and F1 of the positive class."""
    tp = sum(t and p for t, p in zip(truth, predicted, strict=True))
    fp = sum(p and not t for t, p in zip(truth, predicted, strict=True))
    fn = sum(t and not p for t, p in zip(truth, predicted, strict=True))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def false_positive_rate(predicted_on_clean: Sequence[bool]) -> float:
    return sum(predicted_on_clean) / len(predicted_on_clean) if predicted_on_clean else 0.0


def detection_row(
    metric: str,
    dataset: str,
    truth: Sequence[bool],
    predicted: Sequence[bool],
    *,
    n: int | None = None,
    note: str = "",
    auc: float | None = None,
) -> EvalRow:
    """An eval row with precision, recall and F1 of `predicted` against `truth`."""
    precision, recall, f1 = binary_scores(truth, predicted)
    return EvalRow(
        metric=metric,
        dataset=dataset,
        n=len(truth) if n is None else n,
        precision=precision,
        recall=recall,
        f1=f1,
        auc=auc,
        note=note,
    )
