"""Quality of `input_tone` on GoEmotions' test split (never trained on), folded into the nine
tones: macro-F1 over the tones, and accuracy.

GoEmotions is multi-label: 12 % of the test rows fold into two or more tones (most often joy and
love, "Thank you, I love it!"), every one of them given by at least two raters. A single-label
head can name only one, so the headline score counts a prediction right when it is any of the
row's tones; a wrong prediction counts against the row's first tone in `tone.PRIORITY`. Scoring
only the priority tone, as this evaluation did before 2026-11-21, marks "joy" wrong on a row the
annotators labelled joy and love: it scores the tie-break rule, not the head. That "strict" score
is still reported beside it. No row is left out either way (rows whose emotions are all outside
the fold, i.e. only `curiosity`, have no tone and never had one).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from pathlib import Path

from worker.metrics.base import Scorer
from worker.metrics.embedding import embed_by_chunks
from worker.metrics.evaluation import EvalRow, read_jsonl, split_of
from worker.metrics.evaluation.corpus import Half
from worker.metrics.evaluation.realistic import dataset_name, label_rows, rows_of, score
from worker.metrics.evaluation.stats import expected_calibration_error
from worker.metrics.tone import TONES, InputTone, get_tone_head, tone_of, tones_of

DATASET = "emotion_goemotions/goemotions.jsonl"


def tone_scores(
    predicted: Sequence[str],
    primary: Sequence[str],
    gold: Sequence[Collection[str]] | None = None,
) -> tuple[float, float, dict[str, float]]:
    """(macro-F1, accuracy, F1 per tone) of `predicted` against each row's tones.

    `primary`: each row's single tone (`tone_of`). With `gold` (each row's set of tones), a
    prediction among them counts as right, and the row counts for that tone; without it, the
    strict protocol (the primary tone only).
    """
    truth = [
        p if gold is not None and p in g else t
        for p, t, g in zip(predicted, primary, gold or primary, strict=True)
    ]
    f1s = {}
    for tone in TONES:
        tp = sum(p == tone and t == tone for p, t in zip(predicted, truth, strict=True))
        fp = sum(p == tone and t != tone for p, t in zip(predicted, truth, strict=True))
        fn = sum(p != tone and t == tone for p, t in zip(predicted, truth, strict=True))
        f1s[tone] = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    accuracy = sum(p == t for p, t in zip(predicted, truth, strict=True)) / max(1, len(truth))
    return sum(f1s.values()) / len(f1s), accuracy, f1s


def evaluate(
    datasets: Path, limit: int | None = None, scorer: Scorer | None = None
) -> list[EvalRow]:
    """The tone row; `scorer`: a configured backend to measure instead of the built-in head."""
    rows = [
        (row["text"], tone, tones_of(row["label"]))
        for row in read_jsonl(datasets / DATASET)
        if split_of(row["text"]) == "test" and (tone := tone_of(row["label"])) is not None
    ][:limit]
    predicted = [
        str(p) for p in (scorer or InputTone()).score_batch([(text,) for text, _, _ in rows])
    ]
    primary = [tone for _, tone, _ in rows]
    macro, accuracy, f1s = tone_scores(predicted, primary, [g for _, _, g in rows])
    strict, strict_accuracy, _ = tone_scores(predicted, primary)
    return [
        EvalRow(
            metric="input_tone",
            dataset="emotion_goemotions (test), 27 emotions folded into 9 tones",
            n=len(rows),
            f1=macro,
            note=f"macro-F1, any of a row's tones right; accuracy {accuracy:.3f}; "
            f"priority tone only: macro-F1 {strict:.3f}, accuracy {strict_accuracy:.3f}; "
            + ", ".join(f"{t} {f:.2f}" for t, f in f1s.items()),
            extra={
                **f1s,
                "accuracy": accuracy,
                "strict_macro_f1": strict,
                "strict_accuracy": strict_accuracy,
            },
        )
    ]


def evaluate_realistic(
    corpus: Path | None = None, half: Half = "test", limit: int | None = None
) -> list[EvalRow]:
    """Tone of chat messages and assistant replies (evals/tone.jsonl): macro-F1 and accuracy
    over the nine tones, user and assistant rows apart, and one row per tone."""
    rows = rows_of("tone", corpus, half, limit)
    if not rows:
        return []
    predicted: list[str | None] = [None] * len(rows)
    for field in ("input", "output"):
        idx = [i for i, row in enumerate(rows) if row.field == field]
        if idx:
            values = score(f"{field}_tone", [(rows[i].text,) for i in idx])
            for i, value in zip(idx, values, strict=True):
                predicted[i] = value if isinstance(value, str) else None
    result = label_rows(
        "input_tone",
        dataset_name("tone", half),
        TONES,
        [row.tone for row in rows],
        predicted,
        subsets={
            "user messages": lambda i: rows[i].field == "input",
            "assistant replies": lambda i: rows[i].field == "output",
        },
    )
    # The built-in head's class probabilities: is its top tone's probability the chance of
    # being right? (The metric's value is the label; the probability is there for calibration.)
    texts = [row.text for row in rows]
    probabilities = get_tone_head().probabilities(embed_by_chunks(texts), texts)
    right = [
        TONES[int(i)] == row.tone for i, row in zip(probabilities.argmax(axis=1), rows, strict=True)
    ]
    ece = expected_calibration_error(right, [float(p) for p in probabilities.max(axis=1)])
    result[0] = replace(
        result[0], ece=ece, note=f"{result[0].note}; ECE of the top tone's probability"
    )
    return result
