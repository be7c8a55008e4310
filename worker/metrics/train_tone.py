"""Train the tone head: `python -m worker.metrics.train_tone` (or `protect train tone`).

GoEmotions (Apache-2.0), folded into the nine tones (`tone.TONE_OF_EMOTION`). Splits by
`split_of(text)`; each tone is capped in training so that `neutral` (a third of the data) does not
drown the rest, with balanced class weights on top. C is chosen on the validation split by
macro-F1; the card records test macro-F1 and per-tone F1.
"""

from __future__ import annotations

import argparse
import datetime
import json
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from worker.metrics.embedding import MODEL_ID, get_embedder
from worker.metrics.evaluation import SPLIT_SEED, datasets_dir, read_jsonl, split_of
from worker.metrics.tone import CARD, MODEL, TONES, tone_of

DATASET = "emotion_goemotions/goemotions.jsonl"
# Per tone in training: enough for a 384-d linear head, and it keeps embedding time bounded.
TRAIN_PER_TONE = 2500
EVAL_PER_TONE = 600
C_GRID = (0.3, 1.0, 3.0, 10.0)


def labelled(datasets: Path) -> dict[str, list[tuple[str, str]]]:
    """(text, tone) per split."""
    by_split: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for row in read_jsonl(datasets / DATASET):
        tone = tone_of(row["label"])
        if tone is not None:
            by_split[split_of(row["text"])].append((row["text"], tone))
    return by_split


def capped(rows: list[tuple[str, str]], per_tone: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows = sorted(rows)
    rng.shuffle(rows)
    kept: list[tuple[str, str]] = []
    seen: Counter[str] = Counter()
    for text, tone in rows:
        if seen[tone] < per_tone:
            seen[tone] += 1
            kept.append((text, tone))
    return kept


def train(datasets: Path, seed: int = 0) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression  # training only
    from sklearn.metrics import f1_score

    splits = labelled(datasets)
    train_rows = capped(splits["train"], TRAIN_PER_TONE, seed)
    val_rows = capped(splits["validation"], EVAL_PER_TONE, seed)
    test_rows = splits["test"]
    embedder = get_embedder()

    def embed(rows: list[tuple[str, str]]) -> tuple[Any, list[str]]:
        return embedder.embed_uncached([t for t, _ in rows]), [y for _, y in rows]

    x_train, y_train = embed(train_rows)
    x_val, y_val = embed(val_rows)
    x_test, y_test = embed(test_rows)
    best: tuple[float, Any, float] | None = None
    for c in C_GRID:
        model = LogisticRegression(C=c, class_weight="balanced", max_iter=2000, random_state=seed)
        model.fit(x_train, y_train)
        score = float(f1_score(y_val, model.predict(x_val), average="macro"))
        if best is None or score > best[0]:
            best = (score, model, c)
    assert best is not None
    val_f1, model, c = best
    predicted = model.predict(x_test)
    per_tone = f1_score(y_test, predicted, average=None, labels=list(TONES))
    order = [list(model.classes_).index(t) for t in TONES]
    np.savez(
        MODEL,
        weights=model.coef_[order].astype(np.float64),
        bias=model.intercept_[order].astype(np.float64),
        labels=np.array(TONES),
    )
    return {
        "model": "tone",
        "kind": "multinomial logistic regression on the sentence embedding",
        "embedding": MODEL_ID,
        "labels": list(TONES),
        "data": {
            "dataset": DATASET,
            "licence": "Apache-2.0 (GoEmotions)",
            "mapping": "emotions folded into tones by worker.metrics.tone.TONE_OF_EMOTION; "
            "curiosity-only examples dropped",
            "split": f"sha256 of '{SPLIT_SEED}' + text: 70/15/15",
            "train_per_tone_cap": TRAIN_PER_TONE,
            "rows": {"train": len(train_rows), "validation": len(val_rows), "test": len(test_rows)},
            "test_class_counts": dict(Counter(y_test)),
        },
        "hyperparameters": {"C": c, "class_weight": "balanced", "C_grid": list(C_GRID)},
        "scores": {
            "validation_macro_f1": round(val_f1, 4),
            "test_macro_f1": round(float(f1_score(y_test, predicted, average="macro")), 4),
            "test_f1_per_tone": {
                t: round(float(f), 4) for t, f in zip(TONES, per_tone, strict=True)
            },
        },
        "trained": datetime.date.today().isoformat(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", type=Path)
    args = parser.parse_args(argv)
    card = train(datasets_dir(args.datasets))
    CARD.write_text(json.dumps(card, indent=2) + "\n", "utf-8")
    print(f"wrote {MODEL} and {CARD}: test macro-F1 {card['scores']['test_macro_f1']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
