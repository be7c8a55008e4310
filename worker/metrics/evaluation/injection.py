"""Quality of `prompt_injection` on data its training never saw.

- `prompt_injection` test split (by `split_of(text)`): precision, recall and F1 of "the value is
  not empty" against the `injection` label, the false-positive rate on its benign rows (NotInject's
  trigger-word prompts and WildGuardTest's jailbreak-styled harmless requests among them), and one
  row per source, since the sources label differently (see the dataset's README).
- CLINC150 test split (everyday assistant queries): false-positive rate.
- XSTest, all 250 `safe` prompts (never trained on): false-positive rate; the 200 `unsafe` ones
  (harmful requests, which are not injections) are reported in `extra`.

The types cannot be scored (no data labels them); the main row's `extra` gives the share of each
type among the detected injections, to see how the patterns and the fallback split them.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from worker.metrics.evaluation import (
    EvalRow,
    binary_scores,
    false_positive_rate,
    read_jsonl,
    split_of,
)
from worker.metrics.evaluation.corpus import Half
from worker.metrics.evaluation.realistic import dataset_name, labels_rows, rows_of, score_row
from worker.metrics.injection import INJECTION_LABELS, InjectionDetector, get_detector

METRIC = "prompt_injection"
INJECTION_FILE = "prompt_injection/prompt_injection_vs_benign.jsonl"
CLINC_FILE = "benign_queries_clinc150/clinc150_queries.jsonl"
XSTEST_FILE = "harmful_prompts_xstest/xstest_prompts.jsonl"


def _sample(rows: list[dict[str, Any]], limit: int | None) -> list[dict[str, Any]]:
    """At most `limit` rows, spread evenly over the file (the files are ordered by source)."""
    if limit is None or len(rows) <= limit:
        return rows
    step = len(rows) / limit
    return [rows[int(i * step)] for i in range(limit)]


def _binary_row(
    dataset: str, truth: Sequence[bool], flagged: Sequence[bool], note: str = ""
) -> EvalRow:
    precision, recall, f1 = binary_scores(truth, flagged)
    negatives = [f for t, f in zip(truth, flagged, strict=True) if not t]
    has_positives = any(truth)
    return EvalRow(
        metric=METRIC,
        dataset=dataset,
        n=len(truth),
        precision=precision if has_positives else None,
        recall=recall if has_positives else None,
        f1=f1 if has_positives else None,
        fpr=false_positive_rate(negatives) if negatives else None,
        note=note,
    )


def evaluate(
    datasets: Path, limit: int | None = None, detector: InjectionDetector | None = None
) -> list[EvalRow]:
    detector = detector or get_detector()
    injection = _sample(
        [r for r in read_jsonl(datasets / INJECTION_FILE) if split_of(r["text"]) == "test"], limit
    )
    values = [detector.detect(r["text"]) for r in injection]
    truth = [r["label"] == "injection" for r in injection]
    flagged = [bool(v) for v in values]
    detected = [v for v in values if v]
    type_share = Counter(label for v in detected for label in v)
    main = _binary_row(
        "prompt_injection (test)",
        truth,
        flagged,
        "injection = non-empty list; FPR on the set's benign rows",
    )
    extra = {f"type_share:{label}": type_share[label] / len(detected) for label in INJECTION_LABELS}
    rows = [dataclasses.replace(main, extra=extra)]
    for source in sorted({r["source"] for r in injection}):
        picked = [i for i, r in enumerate(injection) if r["source"] == source]
        rows.append(
            _binary_row(
                f"prompt_injection (test) / {source}",
                [truth[i] for i in picked],
                [flagged[i] for i in picked],
            )
        )

    clinc = _sample(
        [r for r in read_jsonl(datasets / CLINC_FILE) if split_of(r["text"]) == "test"], limit
    )
    rows.append(
        EvalRow(
            metric=METRIC,
            dataset="benign_queries_clinc150 (test)",
            n=len(clinc),
            fpr=false_positive_rate([bool(detector.detect(r["text"])) for r in clinc]),
            note="everyday assistant queries",
        )
    )

    xstest = list(read_jsonl(datasets / XSTEST_FILE))
    safe = _sample([r for r in xstest if r["label"] == "safe"], limit)
    unsafe = _sample([r for r in xstest if r["label"] == "unsafe"], limit)
    rows.append(
        EvalRow(
            metric=METRIC,
            dataset="harmful_prompts_xstest (safe, all)",
            n=len(safe),
            fpr=false_positive_rate([bool(detector.detect(r["text"])) for r in safe]),
            note="never trained on; extra: flag rate on unsafe (harmful, not injections)",
            extra={
                "unsafe_flag_rate": false_positive_rate(
                    [bool(detector.detect(r["text"])) for r in unsafe]
                )
            },
        )
    )
    return rows


def evaluate_realistic(
    corpus: Path | None = None,
    half: Half = "test",
    limit: int | None = None,
    detector: InjectionDetector | None = None,
) -> list[EvalRow]:
    """Injections in chat prompts and in content apps feed their models (evals/
    prompt_injection.jsonl): detection (the metric's value is not empty) with the internal
    score's AUC and calibration, false positives on the benign traps, and the types."""
    rows = rows_of("prompt_injection", corpus, half, limit)
    detector = detector or get_detector()
    analyses = [detector.analyse(row.text) for row in rows]
    truth = [row.label == "injection" for row in rows]
    dataset = dataset_name("prompt_injection", half)
    detection = score_row(
        "prompt_injection",
        dataset,
        truth,
        [a.score for a in analyses],
        traps=[row.trap is not None for row in rows],
        note="P/R/F1 at the internal score's decision (score >= 0.5)",
    )
    types = labels_rows(
        "prompt_injection:type",
        dataset,
        INJECTION_LABELS,
        [frozenset(row.types) for row in rows if row.label == "injection"],
        [
            frozenset(a.types)
            for a, row in zip(analyses, rows, strict=True)
            if row.label == "injection"
        ],
        note="types on the injection rows",
    )
    return [detection, *types]


__all__ = ["evaluate", "evaluate_realistic"]
