"""Quality of `context_adherence` and `completeness`, each beside its lexical baseline.

- HaluEval QA, test split (questions never seen in training): AUC, and precision/recall/F1 of
  flagging `hallucinated` at adherence < 0.5.
- FaithBench (LLM summaries judged by humans; CC-BY-NC-SA: evaluation only, never training): the
  same, as a harder and different-domain check on generalisation.
- The realistic corpus (`evaluate_realistic`): both metrics.

Every set also gets a `baseline:` row: the simple lexical score the learned metric must beat
(adherence: the share of the answer's content words found in the context; completeness: the
share of the relevant context's content words the answer contains), ranked the same way, so
the comparison is printed with the metric's own row.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from worker.metrics.adherence import adherence, context_word_share, support_overlap
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


ADHERENCE_BASELINE = "baseline:support_overlap"
COMPLETENESS_BASELINE = "baseline:context_word_share"


def _row(
    dataset: str,
    truth: list[bool],
    scores: list[float],
    note: str,
    metric: str = "context_adherence",
) -> EvalRow:
    return detection_row(
        metric,
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
    qa_truth = [r["label"] == "hallucinated" for r in qa]
    faith_truth = [r["label"] == "hallucinated" for r in faith]
    return [
        _row(
            "groundedness_halueval QA (test)",
            qa_truth,
            [adherence(r["context"], r["question"], r["response"]) for r in qa],
            "P/R/F1: flagging hallucinated at adherence < 0.5",
        ),
        _row(
            "groundedness_halueval QA (test)",
            qa_truth,
            [support_overlap(r["context"], r["question"], r["response"]) for r in qa],
            "lexical baseline: the AUC to beat (P/R/F1 at the same < 0.5)",
            ADHERENCE_BASELINE,
        ),
        _row(
            "groundedness_faithbench_NC (all; eval only)",
            faith_truth,
            [adherence(r["context"], "", r["response"]) for r in faith],
            "summaries with subtle errors; CC-BY-NC-SA: never trained on",
        ),
        _row(
            "groundedness_faithbench_NC (all; eval only)",
            faith_truth,
            [support_overlap(r["context"], "", r["response"]) for r in faith],
            "lexical baseline: the AUC to beat",
            ADHERENCE_BASELINE,
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
    baselines = {"context_adherence": support_overlap, "completeness": context_word_share}
    names = {"context_adherence": ADHERENCE_BASELINE, "completeness": COMPLETENESS_BASELINE}
    for family in ("context_adherence", "completeness"):
        rows = rows_of(family, corpus, half, limit)
        items = [(row.context, row.question, row.answer) for row in rows]
        values = score(family, items)
        failure = [1.0 - float(v) if isinstance(v, int | float) else 0.5 for v in values]
        truth = [row.label == 0 for row in rows]
        traps = [row.trap is not None for row in rows]
        what = "ungrounded" if family == "context_adherence" else "incomplete"
        dataset = dataset_name(family, half)
        out.append(
            score_row(
                family, dataset, truth, failure, traps=traps, note=f"flags {what} answers at < 0.5"
            )
        )
        baseline = [1.0 - baselines[family](*item) for item in items]
        out.append(
            score_row(
                names[family],
                dataset,
                truth,
                baseline,
                note="lexical baseline, not calibrated: its AUC is the one to beat",
            )
        )
    return out
