"""Quality of `context_adherence` (and the absence of labelled data for `completeness`).

- HaluEval QA, test split (questions never seen in training): AUC, and precision/recall/F1 of
  flagging `hallucinated` at adherence < 0.5.
- FaithBench (LLM summaries judged by humans; CC-BY-NC-SA: evaluation only, never training): the
  same, as a harder and different-domain check on generalisation.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from worker.metrics.adherence import adherence
from worker.metrics.evaluation import EvalRow, detection_row, read_jsonl, split_of
from worker.metrics.evaluation.corpus import Half
from worker.metrics.evaluation.realistic import dataset_name, rows_of, score, score_row

# Adherence below this flags an answer as not grounded (the rule a stage would use: lt 0.5).
THRESHOLD = 0.5


def roc_auc(truth: Sequence[bool], scores: Sequence[float]) -> float:
    """AUC as the probability that a positive outranks a negative (ties count half)."""
    ranked = sorted(zip(scores, truth, strict=True))
    positives = sum(truth)
    negatives = len(truth) - positives
    if not positives or not negatives:
        return float("nan")
    rank_sum = 0.0
    i = 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        average_rank = (i + j + 1) / 2  # 1-based ranks i+1..j
        rank_sum += average_rank * sum(1 for k in range(i, j) if ranked[k][1])
        i = j
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def _row(dataset: str, truth: list[bool], scores: list[float], note: str) -> EvalRow:
    return detection_row(
        "context_adherence",
        dataset,
        truth,
        [s < THRESHOLD for s in scores],
        auc=roc_auc(truth, [1 - s for s in scores]),
        note=note,
    )


def evaluate(datasets: Path, limit: int | None = None) -> list[EvalRow]:
    qa = [
        r
        for r in read_jsonl(
            datasets / "groundedness_halueval" / "halueval_qa_knowledge_grounded.jsonl"
        )
        if split_of(f"halueval-qa-{r['qid']}") == "test"
    ][:limit]
    faith = list(read_jsonl(datasets / "groundedness_faithbench_NC" / "faithbench.jsonl"))[:limit]
    return [
        _row(
            "groundedness_halueval QA (test)",
            [r["label"] == "hallucinated" for r in qa],
            [adherence(r["context"], r["question"], r["response"]) for r in qa],
            "P/R/F1: flagging hallucinated at adherence < 0.5",
        ),
        _row(
            "groundedness_faithbench_NC (all; eval only)",
            [r["label"] == "hallucinated" for r in faith],
            [adherence(r["context"], "", r["response"]) for r in faith],
            "summaries with subtle errors: the lexical head's known limit",
        ),
        EvalRow(
            metric="completeness",
            dataset="(none)",
            n=0,
            note="no labelled completeness data available: a documented heuristic",
        ),
    ]


def evaluate_realistic(
    corpus: Path | None = None, half: Half = "test", limit: int | None = None
) -> list[EvalRow]:
    """RAG answers over realistic documents (evals/context_adherence.jsonl and
    evals/completeness.jsonl, each context twice). Rows flag the failure (not grounded / not
    complete) at a score below 0.5; AUC, calibration and the precision thresholds are for that
    flag (a threshold t reads as `lt 1 - t` on the metric)."""
    out = []
    for family in ("context_adherence", "completeness"):
        rows = rows_of(family, corpus, half, limit)
        values = score(family, [(row.context, row.question, row.answer) for row in rows])
        failure = [1.0 - float(v) if isinstance(v, int | float) else 0.5 for v in values]
        out.append(
            score_row(
                family,
                dataset_name(family, half),
                [row.label == 0 for row in rows],
                failure,
                note=f"flags {'ungrounded' if family == 'context_adherence' else 'incomplete'} "
                "answers at < 0.5",
            )
        )
    return out
