"""Quality of `input_tone` on GoEmotions' test split (never trained on), folded into the nine
tones: macro-F1 over the tones, and accuracy."""

from __future__ import annotations

from pathlib import Path

from worker.metrics.evaluation import EvalRow, read_jsonl, split_of
from worker.metrics.tone import TONES, InputTone, tone_of

DATASET = "emotion_goemotions/goemotions.jsonl"


def evaluate(datasets: Path, limit: int | None = None) -> list[EvalRow]:
    rows = [
        (row["text"], tone)
        for row in read_jsonl(datasets / DATASET)
        if split_of(row["text"]) == "test" and (tone := tone_of(row["label"])) is not None
    ][:limit]
    predicted = InputTone().score_batch([(text,) for text, _ in rows])
    truth = [tone for _, tone in rows]
    f1s = {}
    for tone in TONES:
        tp = sum(p == tone and t == tone for p, t in zip(predicted, truth, strict=True))
        fp = sum(p == tone and t != tone for p, t in zip(predicted, truth, strict=True))
        fn = sum(p != tone and t == tone for p, t in zip(predicted, truth, strict=True))
        f1s[tone] = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    accuracy = sum(p == t for p, t in zip(predicted, truth, strict=True)) / max(1, len(rows))
    return [
        EvalRow(
            metric="input_tone",
            dataset="emotion_goemotions (test), 27 emotions folded into 9 tones",
            n=len(rows),
            f1=sum(f1s.values()) / len(f1s),
            note=f"macro-F1; accuracy {accuracy:.3f}; "
            + ", ".join(f"{t} {f:.2f}" for t, f in f1s.items()),
            extra=f1s,
        )
    ]
