"""Train the name-candidate scorer of `input_pii`/`output_pii`: `protect train pii_names`.

Data (see the model card for counts):
- our written PII examples (`training-data/pii.jsonl`: chat, email, forms, logs, transcripts,
  many hard negatives: companies, famous people, fictional characters, capitalised common words);
- `pii_presidio_synthetic` (MIT), its *train* templates (PERSON spans; the split is per template,
  as `evaluation/pii.py` draws it);
- `benign_queries_clinc150` (CC-BY-3.0), a fixed sample of its *train* split, as PII-free text.

Every candidate span the run-time code finds in these texts (`NameRecognizer.candidates`, so the
features are exactly the deployed ones, NER included) is labelled positive when it overlaps a
labelled name. A logistic regression (L2) is fitted on them; C and the class weight are chosen on
the realistic corpus's *validation* half plus Presidio's validation templates (row-level F1 of the
`name` label, cued names included), and the decision threshold is folded into the bias so that
`NAME_DECISION` (0.5) is the chosen operating point. The test half is never read here.

The gazetteer is built from Faker's person providers (MIT): every given name and surname of every
locale it ships, lower-cased, split into words.
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import importlib
import json
import math
import random
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from worker.metrics.evaluation import datasets_dir, read_jsonl
from worker.metrics.evaluation.corpus import corpus_rows, training_rows
from worker.metrics.evaluation.pii import CLEAN_DATASET, CLEAN_FILE, DATASET, FILES, template_split
from worker.metrics.pii import NameRecognizer, PiiDetector, _with_address_tails
from worker.metrics.pii_names import (
    MODEL_FORMAT,
    MODEL_PATH,
    NAME_DECISION,
    Candidate,
    NameModel,
    gazetteer_words,
)

CARD_PATH: Final = MODEL_PATH.with_name("pii_names.card.json")
SEED: Final = 20261122
CLINC_ROWS: Final = 3000
# Context features (neighbouring words, form keys, NER labels) seen fewer times than this in the
# training candidates are dropped: rare words would be memorised, not learned.
MIN_FEATURE_COUNT: Final = 3
C_GRID: Final = (0.1, 0.3, 1.0, 3.0)
POSITIVE_WEIGHT_GRID: Final = (1.0, 2.0)
# Weight of our written examples against Presidio's templates (which outnumber them 3 to 1 and
# are all running prose with Faker's names).
WRITTEN_WEIGHT_GRID: Final = (1.0, 3.0)
# The realistic validation half has ~56 texts with names: one text is ~0.01 of F1. Thresholds are
# compared on the mean F1 over their neighbours (±0.05), so a lucky spike is not chosen.
SMOOTHING: Final = 2
PUBLIC_WEIGHT: Final = 0.5
LOWERED_REGISTERS: Final = frozenset({"chat", "sms", "forum", "review", "notes"})
THRESHOLDS: Final = tuple(round(0.2 + 0.025 * i, 3) for i in range(25))

Text = tuple[str, list[tuple[int, int]]]  # a text and its name spans


def faker_gazetteer() -> tuple[set[str], set[str]]:
    """Given names and surnames of every Faker locale, lower-cased words."""
    from faker.config import AVAILABLE_LOCALES

    first: set[str] = set()
    last: set[str] = set()
    for locale in AVAILABLE_LOCALES:
        try:
            module = importlib.import_module(f"faker.providers.person.{locale}")
        except ImportError:
            continue
        provider = module.Provider
        for attr, into in (
            ("first_names", first),
            ("first_names_male", first),
            ("first_names_female", first),
            ("first_names_nonbinary", first),
            ("last_names", last),
            ("last_names_male", last),
            ("last_names_female", last),
        ):
            value = getattr(provider, attr, None)
            if not value or isinstance(value, property):
                continue
            into.update(gazetteer_words(value.keys() if isinstance(value, dict) else value))
    return {w for w in first if len(w) > 1}, {w for w in last if len(w) > 1}


def _occurrences(text: str, value: str) -> list[tuple[int, int]]:
    spans = []
    start = text.find(value)
    while start >= 0:
        spans.append((start, start + len(value)))
        start = text.find(value, start + 1)
    return spans


def written_texts(rows: Sequence[Any]) -> list[Text]:
    return [
        (
            row.text,
            [s for e in row.entities if e.label == "name" for s in _occurrences(row.text, e.text)],
        )
        for row in rows
    ]


def lowered(rows: Sequence[Any]) -> list[Text]:
    """Augmentation: our chat-like rows again in all lower case, as much chat is typed.

    Positives and negatives both (a capitalised trap word is a lower-case trap word too), so the
    scorer learns lower-case names from their context rather than from capitals."""
    out: list[Text] = []
    for row in rows:
        if row.register_ not in LOWERED_REGISTERS or not any(c.isupper() for c in row.text):
            continue
        text = row.text.lower()
        spans = [
            s for e in row.entities if e.label == "name" for s in _occurrences(text, e.text.lower())
        ]
        out.append((text, spans))
    return out


def presidio_texts(datasets: Path, split: str) -> list[Text]:
    return [
        (row["text"], [(s["start"], s["end"]) for s in row["spans"] if s["type"] == "PERSON"])
        for name in FILES
        for row in read_jsonl(datasets / DATASET / name)
        if template_split(row) == split
    ]


def clinc_texts(datasets: Path) -> list[Text]:
    rows = read_jsonl(datasets / CLEAN_DATASET / CLEAN_FILE)
    train = [r["text"] for r in rows if r["split"] == "train"]
    return [(t, []) for t in random.Random(SEED).sample(train, CLINC_ROWS)]


class Extracted:
    """Candidates of a set of texts, their labels, and whether a cue already found a name."""

    def __init__(self, detector: PiiDetector, names: NameRecognizer, texts: Sequence[Text]):
        batch = 64
        self.candidates: list[list[Candidate]] = []
        self.cued: list[bool] = []
        self.truth = [bool(spans) for _, spans in texts]
        for i in range(0, len(texts), batch):
            chunk = [t for t, _ in texts[i : i + batch]]
            found = detector.find_batch(chunk)
            taken = [_with_address_tails(t, spans) for t, spans in zip(chunk, found, strict=True)]
            self.cued += [any(s.label == "name" for s in spans) for spans in found]
            self.candidates += names.candidates(chunk, taken)
        self.labels = [
            [any(c.start < e and s < c.end for s, e in spans) for c in cands]
            for (_, spans), cands in zip(texts, self.candidates, strict=True)
        ]


def _flat(parts: Sequence[Extracted]) -> tuple[list[dict[str, float]], list[int], list[int]]:
    """Features, labels and the index of the part each candidate comes from."""
    features: list[dict[str, float]] = []
    labels: list[int] = []
    origin: list[int] = []
    for k, part in enumerate(parts):
        for cands, labs in zip(part.candidates, part.labels, strict=True):
            features += [c.features for c in cands]
            labels += [int(y) for y in labs]
            origin += [k] * len(cands)
    return features, labels, origin


def _row_scores(model: NameModel, part: Extracted) -> list[float]:
    """Each text's best candidate probability (1.0 when a cue found a name)."""
    return [
        1.0 if cued else max((model.probability(c.features) for c in cands), default=0.0)
        for cued, cands in zip(part.cued, part.candidates, strict=True)
    ]


def _f1(truth: Sequence[bool], scores: Sequence[float], threshold: float) -> float:
    tp = sum(1 for t, s in zip(truth, scores, strict=True) if t and s >= threshold)
    fp = sum(1 for t, s in zip(truth, scores, strict=True) if not t and s >= threshold)
    fn = sum(1 for t, s in zip(truth, scores, strict=True) if t and s < threshold)
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def _prf(truth: Sequence[bool], scores: Sequence[float]) -> dict[str, float]:
    predicted = [s >= NAME_DECISION for s in scores]
    tp = sum(1 for t, p in zip(truth, predicted, strict=True) if t and p)
    fp = sum(1 for t, p in zip(truth, predicted, strict=True) if not t and p)
    fn = sum(1 for t, p in zip(truth, predicted, strict=True) if t and not p)
    return {
        "n": len(truth),
        "positives": sum(truth),
        "precision": round(tp / (tp + fp), 4) if tp + fp else 0.0,
        "recall": round(tp / (tp + fn), 4) if tp + fn else 0.0,
        "f1": round(2 * tp / (2 * tp + fp + fn), 4) if tp else 0.0,
        "flagged_negatives": round(fp / max(1, len(truth) - sum(truth)), 4),
    }


def _document(
    weights: dict[str, float], bias: float, first: set[str], last: set[str]
) -> dict[str, Any]:
    return {
        "format": MODEL_FORMAT,
        "weights": {k: round(v, 4) for k, v in sorted(weights.items()) if abs(v) >= 1e-4},
        "bias": round(bias, 4),
        "first_names": sorted(first),
        "last_names": sorted(last),
    }


def train(datasets: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression

    first, last = faker_gazetteer()
    blank = NameModel(_document({}, 0.0, first, last))
    detector = PiiDetector(names=False)
    names = NameRecognizer(model=blank)

    written_rows = training_rows("pii")
    written = written_texts(written_rows) + lowered(written_rows)
    presidio_train = presidio_texts(datasets, "train")
    clinc = clinc_texts(datasets)
    realistic_val = written_texts(corpus_rows("pii", "validation"))
    presidio_val = presidio_texts(datasets, "validation")

    train_parts = [Extracted(detector, names, t) for t in (written, presidio_train, clinc)]
    val_parts = [Extracted(detector, names, t) for t in (realistic_val, presidio_val)]

    features, labels, origin = _flat(train_parts)
    counts: Counter[str] = Counter(k for f in features for k in f)
    kept = {k for k, n in counts.items() if n >= MIN_FEATURE_COUNT}
    features = [{k: v for k, v in f.items() if k in kept} for f in features]
    vectorizer = DictVectorizer()
    matrix = vectorizer.fit_transform(features)

    best: tuple[float, dict[str, Any], dict[str, float], float] | None = None
    search = []
    for c in C_GRID:
        for positive_weight in POSITIVE_WEIGHT_GRID:
            for written_weight in WRITTEN_WEIGHT_GRID:
                model = LogisticRegression(
                    C=c, max_iter=5000, class_weight={0: 1.0, 1: positive_weight}
                )
                model.fit(
                    matrix,
                    labels,
                    sample_weight=[written_weight if k == 0 else 1.0 for k in origin],
                )
                weights = dict(zip(vectorizer.get_feature_names_out(), model.coef_[0], strict=True))
                intercept = float(model.intercept_[0])
                candidate = NameModel(_document(weights, intercept, first, last))
                scores = [_row_scores(candidate, part) for part in val_parts]
                realistic = [_f1(val_parts[0].truth, scores[0], t) for t in THRESHOLDS]
                public = [_f1(val_parts[1].truth, scores[1], t) for t in THRESHOLDS]
                for i, threshold in enumerate(THRESHOLDS):
                    near = range(max(0, i - SMOOTHING), min(len(THRESHOLDS), i + SMOOTHING + 1))
                    objective = sum(realistic[j] + PUBLIC_WEIGHT * public[j] for j in near) / len(
                        near
                    )
                    setting = {
                        "C": c,
                        "positive_weight": positive_weight,
                        "written_weight": written_weight,
                        "threshold": threshold,
                    }
                    search.append(
                        {
                            **setting,
                            "realistic_validation_f1": round(realistic[i], 4),
                            "presidio_validation_f1": round(public[i], 4),
                            "objective": round(objective, 4),
                        }
                    )
                    if best is None or objective > best[0] + 1e-9:
                        best = (objective, setting, weights, intercept)
    assert best is not None
    _, chosen, weights, intercept = best
    threshold = float(chosen["threshold"])
    # Fold the threshold into the bias: probability `threshold` becomes NAME_DECISION (0.5).
    shift = math.log(threshold / (1 - threshold)) - math.log(NAME_DECISION / (1 - NAME_DECISION))
    document = _document(weights, intercept - shift, first, last)
    final = NameModel(document)
    card = {
        "model": "pii_names",
        "kind": "logistic regression over name candidates' features (worker/metrics/pii_names.py)",
        "trained_at": datetime.date.today().isoformat(),
        "command": "protect train pii_names",
        "gazetteer": {
            "source": "Faker person providers (MIT), every locale",
            "faker_version": importlib.import_module("faker").VERSION,
            "given_names": len(first),
            "surnames": len(last),
        },
        "data": {
            "training": {
                "training-data/pii.jsonl (written for this project)": _counts(train_parts[0]),
                "pii_presidio_synthetic train templates (MIT)": _counts(train_parts[1]),
                f"benign_queries_clinc150 train, {CLINC_ROWS} sampled (CC-BY-3.0)": _counts(
                    train_parts[2]
                ),
            },
            "selection": {
                "evals/pii validation half": _counts(val_parts[0]),
                "pii_presidio_synthetic validation templates": _counts(val_parts[1]),
            },
            "min_feature_count": MIN_FEATURE_COUNT,
            "features": len(document["weights"]),
            "seed": SEED,
        },
        "chosen": chosen,
        "scores_at_0.5 (name label per text, cued names included)": {
            "evals/pii validation half": _prf(val_parts[0].truth, _row_scores(final, val_parts[0])),
            "pii_presidio_synthetic validation templates": _prf(
                val_parts[1].truth, _row_scores(final, val_parts[1])
            ),
        },
        "search": search,
    }
    return document, card


def _counts(part: Extracted) -> dict[str, int]:
    return {
        "texts": len(part.truth),
        "texts_with_names": sum(part.truth),
        "candidates": sum(len(c) for c in part.candidates),
        "positive_candidates": sum(sum(labels) for labels in part.labels),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="protect train pii_names")
    parser.add_argument("--datasets", help="labelled datasets (default: ../shared/datasets)")
    args = parser.parse_args(argv)
    document, card = train(datasets_dir(args.datasets))
    with gzip.GzipFile(MODEL_PATH, "wb", mtime=0) as handle:
        handle.write(json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode())
    CARD_PATH.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    print(
        json.dumps(card["chosen"]),
        json.dumps(card["scores_at_0.5 (name label per text, cued names included)"]),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
