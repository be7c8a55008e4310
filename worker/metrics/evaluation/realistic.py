"""Rows of `protect eval` on the realistic corpus (`evals/`), computed the same way per family.

Every family module's `evaluate_realistic(corpus, half, limit)` scores its rows through the
deployed scorers (the registry's, so chunking, calibration and backends are those a worker runs)
and builds its rows with the helpers here:
- `score_row`: a score metric (toxicity, sexism, adherence, ...) at the `gte 0.5` decision, with
  F1's and AUC's 95 % intervals, the expected calibration error, the thresholds reaching 90 % and
  95 % precision, and the false-positive rate on the benign traps;
- `labels_rows`: a label-list metric (PII, injection types): micro-averaged row plus one per label;
- `label_rows`: a one-label metric (tone, language): accuracy and macro-F1 plus one per label.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from worker.contract.rules import MetricValue
from worker.metrics.builtin import default_registry
from worker.metrics.evaluation import EvalRow, binary_scores
from worker.metrics.evaluation.corpus import Half, corpus_rows
from worker.metrics.evaluation.stats import (
    auc_interval,
    bootstrap,
    calibrated_ece_floor,
    expected_calibration_error,
    f1_interval,
    roc_auc,
    threshold_for_precision,
    wilson,
)
from worker.metrics.registry import MetricRegistry

# The decision a stage writes as `gte 0.5`: calibrated scores make it the natural default.
DECISION = 0.5

_registry: MetricRegistry | None = None


def registry() -> MetricRegistry:
    """The built-in scorers, loaded once per `protect eval` run."""
    global _registry
    if _registry is None:
        _registry = default_registry()
    return _registry


def score(metric: str, items: Sequence[tuple[str, ...]]) -> list[MetricValue]:
    """Values of a built-in metric for items (texts in the scorer's `reads` order)."""
    scorer = registry().resolve(metric)
    scorer.warm_up()
    return list(scorer.score_batch(list(items)))


def rows_of(family: str, corpus: Path | None, half: Half, limit: int | None) -> list[Any]:
    rows = corpus_rows(family, half, corpus)
    return rows[:limit] if limit else rows


def dataset_name(family: str, half: Half) -> str:
    return f"evals/{family} ({half} half)"


def score_row(
    metric: str,
    dataset: str,
    truth: Sequence[bool],
    scores: Sequence[float],
    *,
    traps: Sequence[bool] | None = None,
    note: str = "",
) -> EvalRow:
    """A score metric flagging positives at `score >= DECISION`; `traps` marks the benign
    trap rows whose false-positive rate is reported."""
    predicted = [s >= DECISION for s in scores]
    precision, recall, f1 = binary_scores(truth, predicted)
    floor = calibrated_ece_floor(scores)
    note = f"{note}; " if note else ""
    note += f"ECE of a perfectly calibrated score here: ~{floor:.3f}"
    fpr = None
    if traps is not None:
        flagged = [p for p, t, trap in zip(predicted, truth, traps, strict=True) if trap and not t]
        if flagged:
            fpr = sum(flagged) / len(flagged)
            low, high = wilson(sum(flagged), len(flagged))
            note += f"; trap FPR over {len(flagged)} traps, 95% CI {low:.3f}-{high:.3f}"
    return EvalRow(
        metric=metric,
        dataset=dataset,
        n=len(truth),
        precision=precision,
        recall=recall,
        f1=f1,
        fpr=fpr,
        auc=roc_auc(truth, scores),
        note=note,
        f1_ci=f1_interval(truth, predicted),
        auc_ci=auc_interval(truth, scores),
        ece=expected_calibration_error(truth, scores),
        threshold_p90=threshold_for_precision(truth, scores, 0.90),
        threshold_p95=threshold_for_precision(truth, scores, 0.95),
    )


def labels_rows(
    metric: str,
    dataset: str,
    labels: Sequence[str],
    truth: Sequence[frozenset[str]],
    predicted: Sequence[frozenset[str]],
    *,
    note: str = "",
) -> list[EvalRow]:
    """A label-list metric: a micro-averaged row over every (row, label) decision, then one row
    per label (precision/recall/F1 of that label's presence)."""

    def micro(idx: Sequence[int]) -> float:
        tp = sum(len(truth[i] & predicted[i]) for i in idx)
        fp = sum(len(predicted[i] - truth[i]) for i in idx)
        fn = sum(len(truth[i] - predicted[i]) for i in idx)
        return 2 * tp / (2 * tp + fp + fn) if tp else 0.0

    everything = range(len(truth))
    tp = sum(len(truth[i] & predicted[i]) for i in everything)
    fp = sum(len(predicted[i] - truth[i]) for i in everything)
    fn = sum(len(truth[i] - predicted[i]) for i in everything)
    rows = [
        EvalRow(
            metric=metric,
            dataset=dataset,
            n=len(truth),
            precision=tp / (tp + fp) if tp + fp else 0.0,
            recall=tp / (tp + fn) if tp + fn else 0.0,
            f1=micro(list(everything)),
            f1_ci=bootstrap(micro, len(truth)),
            note=f"micro over labels{'; ' + note if note else ''}",
        )
    ]
    for label in labels:
        t = [label in row for row in truth]
        p = [label in row for row in predicted]
        precision, recall, f1 = binary_scores(t, p)
        rows.append(
            EvalRow(
                metric=f"{metric}:{label}",
                dataset=dataset,
                n=sum(t),
                precision=precision,
                recall=recall,
                f1=f1,
                f1_ci=f1_interval(t, p),
                note=f"rows with the label: {sum(t)}; flagged: {sum(p)}",
            )
        )
    return rows


def label_rows(
    metric: str,
    dataset: str,
    labels: Sequence[str],
    truth: Sequence[str],
    predicted: Sequence[str | None],
    *,
    subsets: dict[str, Callable[[int], bool]] | None = None,
    per_label: bool = True,
) -> list[EvalRow]:
    """A one-label metric: macro-F1 over `labels` (as f1, with its interval) and accuracy (in
    `extra` and the note), accuracy on named subsets, and (`per_label`) one row per label."""

    def macro(idx: Sequence[int]) -> float:
        scores = []
        for label in labels:
            t = [truth[i] == label for i in idx]
            p = [predicted[i] == label for i in idx]
            if any(t) or any(p):
                scores.append(binary_scores(t, p)[2])
        return sum(scores) / len(scores) if scores else 0.0

    n = len(truth)
    right = sum(t == p for t, p in zip(truth, predicted, strict=True))
    macro_ci = bootstrap(macro, n)
    rows = [
        EvalRow(
            metric=metric,
            dataset=dataset,
            n=n,
            f1=macro(range(n)),
            f1_ci=macro_ci,
            extra={"accuracy": right / n if n else 0.0},
            note=(
                f"F1 = macro-F1 over {len(labels)} labels; accuracy {right / n:.3f} "
                f"(95% CI {wilson(right, n)[0]:.3f}-{wilson(right, n)[1]:.3f})"
                if n
                else ""
            ),
        )
    ]
    for name, member in (subsets or {}).items():
        idx = [i for i in range(n) if member(i)]
        hits = sum(truth[i] == predicted[i] for i in idx)
        low, high = wilson(hits, len(idx))
        rows.append(
            EvalRow(
                metric=f"{metric}[{name}]",
                dataset=dataset,
                n=len(idx),
                extra={"accuracy": hits / len(idx) if idx else 0.0},
                note=f"accuracy {hits / max(len(idx), 1):.3f} (95% CI {low:.3f}-{high:.3f})",
            )
        )
    for label in labels if per_label else ():
        t = [x == label for x in truth]
        p = [x == label for x in predicted]
        if not any(t):
            continue
        precision, recall, f1 = binary_scores(t, p)
        rows.append(
            EvalRow(
                metric=f"{metric}:{label}",
                dataset=dataset,
                n=sum(t),
                precision=precision,
                recall=recall,
                f1=f1,
                f1_ci=f1_interval(t, p),
            )
        )
    return rows


def field_scores(suffix: str, rows: Sequence[Any]) -> list[float]:
    """Scores of `input_<suffix>` / `output_<suffix>` per row, by the row's `field`."""
    values: list[float] = [0.0] * len(rows)
    for field in ("input", "output"):
        idx = [i for i, row in enumerate(rows) if row.field == field]
        if idx:
            got = score(f"{field}_{suffix}", [(rows[i].text,) for i in idx])
            for i, value in zip(idx, got, strict=True):
                values[i] = float(value) if isinstance(value, int | float) else 0.0
    return values


def binary_family(
    family: str, metric: str, suffix: str, corpus: Path | None, half: Half, limit: int | None
) -> list[EvalRow]:
    """toxicity and sexism: the score row over all rows, then user and assistant rows apart."""
    rows = rows_of(family, corpus, half, limit)
    scores = field_scores(suffix, rows)
    truth = [row.label == 1 for row in rows]
    traps = [row.trap is not None for row in rows]
    dataset = dataset_name(family, half)
    out = [score_row(metric, dataset, truth, scores, traps=traps)]
    for field in ("input", "output"):
        idx = [i for i, row in enumerate(rows) if row.field == field]
        if idx:
            out.append(
                score_row(
                    f"{metric}[{field}]",
                    dataset,
                    [truth[i] for i in idx],
                    [scores[i] for i in idx],
                )
            )
    return out
