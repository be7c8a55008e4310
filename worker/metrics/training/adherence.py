"""Train the context-adherence head: `python -m worker.metrics.training.adherence` (or
`protect train context_adherence`).

Data: HaluEval QA with knowledge (MIT; knowledge from HotpotQA, CC-BY-SA-4.0): the gold answer is
`grounded`, ChatGPT's generated wrong answers `hallucinated`. Rows sharing a question share a
split (by `qid`), so no question is seen in training and in test. The regularisation is chosen on
the validation split by AUC; the card records the test AUC.
"""

from __future__ import annotations

import argparse
import datetime
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from worker.metrics.adherence import FEATURES, MODEL_CARD, support_features
from worker.metrics.evaluation import SPLIT_SEED, Split, datasets_dir, read_jsonl, split_of

DATASET = "groundedness_halueval/halueval_qa_knowledge_grounded.jsonl"
C_GRID = (0.01, 0.1, 1.0, 10.0, 100.0)


def examples(datasets: Path) -> list[tuple[Split, list[float], bool]]:
    return [
        (
            split_of(f"halueval-qa-{row['qid']}"),
            support_features(row["context"], row["question"], row["response"]),
            row["label"] == "hallucinated",
        )
        for row in read_jsonl(datasets / DATASET)
    ]


def train(datasets: Path, seed: int = 0) -> dict[str, Any]:
    # Training only: scikit-learn is not needed at run time (the head is 5 numbers).
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    rows = examples(datasets)

    def part(name: Split) -> tuple[list[list[float]], list[bool]]:
        chosen = [(x, y) for split, x, y in rows if split == name]
        return [x for x, _ in chosen], [y for _, y in chosen]

    (x_train, y_train), (x_val, y_val), (x_test, y_test) = (
        part("train"),
        part("validation"),
        part("test"),
    )
    best: tuple[float, Any, float] | None = None
    for c in C_GRID:
        model = LogisticRegression(C=c, class_weight="balanced", random_state=seed)
        model.fit(x_train, y_train)
        auc = float(roc_auc_score(y_val, model.predict_proba(x_val)[:, 1]))
        if best is None or auc > best[0]:
            best = (auc, model, c)
    assert best is not None
    val_auc, model, c = best
    test_auc = float(roc_auc_score(y_test, model.predict_proba(x_test)[:, 1]))
    return {
        "model": "context_adherence",
        "kind": "logistic regression over lexical support features",
        "features": list(FEATURES),
        "weights": [round(float(w), 6) for w in model.coef_[0]],
        "bias": round(float(model.intercept_[0]), 6),
        "output": "P(hallucinated); the metric reports 1 - P",
        "data": {
            "dataset": DATASET,
            "licence": "MIT (HaluEval); knowledge passages from HotpotQA, CC-BY-SA-4.0",
            "split": f"by qid, sha256 of '{SPLIT_SEED}' + 'halueval-qa-<qid>': 70/15/15",
            "rows": {
                name: sum(1 for s, _, _ in rows if s == name)
                for name in ("train", "validation", "test")
            },
            "hallucinated_share": round(sum(y for _, _, y in rows) / len(rows), 3),
        },
        "hyperparameters": {"C": c, "class_weight": "balanced", "C_grid": list(C_GRID)},
        "scores": {"validation_auc": round(val_auc, 4), "test_auc": round(test_auc, 4)},
        "limits": "lexical: catches fabricated words, names and numbers; not wrong answers "
        "assembled from the context's own words (FaithBench-style subtle errors)",
        "trained": datetime.date.today().isoformat(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", type=Path)
    parser.add_argument("--out", type=Path, default=MODEL_CARD)
    args = parser.parse_args(argv)
    card = train(datasets_dir(args.datasets))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(card, indent=2) + "\n", "utf-8")
    print(f"wrote {args.out}: test AUC {card['scores']['test_auc']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
