"""Quality of `input_pii` / `output_pii` on Presidio's synthetic PII sentences and CLINC150.

The metric's value is a list of labels per text, so quality is measured per text and label: a
text is a positive for `name` when a PERSON span is in it, and the detector is right when it
reports `name` for it, wherever it found it. Precision, recall and F1 are given per label, then
pooled over (text, label) pairs for the structured labels and for names and addresses (the
issue's goals: F1 ≥ 0.90 and ≥ 0.80), and the false-positive rate is measured on CLINC150's
benign assistant queries.

Which split. Nothing is trained on these data, but the rules for names, addresses and dates of
birth were tuned by reading the detector's errors on the training and validation splits of
`pii_presidio_synthetic`, so the table reports its test split only. The split is drawn per
*template* (`source_file` + `template_id`), not per sentence: the sentences are filled-in
templates, and a per-sentence split would test on sentences whose template was tuned on. The
same applies to CLINC150: the password and username rules were checked against its `train`
split, and the table reports its own `test` split.

Span types and Galileo labels (`TYPE_LABELS`). Presidio's types that Galileo has no label for
are not counted (`UNMAPPED_TYPES`): a text whose only spans are of those types is a negative for
every label. `DATE_TIME` counts as `date_of_birth` only in a text with a birth cue ("born",
"date of birth", "birthday", "DOB"); other dates are not PII here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worker.metrics.evaluation import (
    EvalRow,
    Split,
    detection_row,
    false_positive_rate,
    read_jsonl,
    split_of,
)
from worker.metrics.evaluation.corpus import Half
from worker.metrics.evaluation.realistic import dataset_name, labels_rows, rows_of, score
from worker.metrics.pii import PII_LABELS, PiiDetector, get_detector

DATASET = "pii_presidio_synthetic"
FILES = ("presidio_synth_dataset_v2.jsonl", "presidio_generated_large.jsonl")
CLEAN_DATASET = "benign_queries_clinc150"
CLEAN_FILE = "clinc150_queries.jsonl"
METRIC = "input_pii"  # output_pii is the same detector on the other field

TYPE_LABELS: dict[str, str] = {
    "PERSON": "name",
    "STREET_ADDRESS": "address",  # presidio_synth_dataset_v2
    "ADDRESS": "address",  # presidio_generated_large (fragments of one address count once)
    "PHONE_NUMBER": "phone_number",
    "EMAIL_ADDRESS": "email",
    "CREDIT_CARD": "credit_card_info",
    "US_SSN": "ssn",
    "IP_ADDRESS": "network_info",
    "IBAN_CODE": "account_info",
}
# Why each remaining type is left out.
UNMAPPED_TYPES: dict[str, str] = {
    "GPE": "a country or city alone is not an address",
    "LOCATION": "a country or city alone is not an address",
    "ORGANIZATION": "not personal",
    "NRP": "a nationality, religion or political group: sensitive, but no Galileo PII label",
    "AGE": "no Galileo label",
    "TITLE": "a job title or honorific alone identifies no one",
    "PREFIX": "an honorific alone identifies no one",
    "ZIP_CODE": "a postcode alone is not an address",
    "DOMAIN_NAME": "a website, not a person's network information",
    "US_DRIVER_LICENSE": "no Galileo label (5 test sentences)",
    "DATE_TIME": "counted as date_of_birth only next to a birth cue (see module docstring)",
}
_BIRTH_WORDS = ("born", "birth", "dob", "d.o.b")

STRUCTURED = ("account_info", "credit_card_info", "email", "network_info", "phone_number", "ssn")
NAMES_ADDRESSES = ("name", "address")
# How many texts go to the detector at once (the NER batches its windows across them).
BATCH = 64


@dataclass(frozen=True)
class Example:
    text: str
    labels: frozenset[str]


def truth_labels(row: dict[str, Any]) -> frozenset[str]:
    """The Galileo labels a row's spans stand for."""
    labels = {TYPE_LABELS[s["type"]] for s in row["spans"] if s["type"] in TYPE_LABELS}
    if any(s["type"] == "DATE_TIME" for s in row["spans"]):
        lowered = row["text"].lower()
        if any(word in lowered for word in _BIRTH_WORDS):
            labels.add("date_of_birth")
    return frozenset(labels)


def template_split(row: dict[str, Any]) -> Split:
    return split_of(f"{row['source_file']}#{row['template_id']}")


def load_examples(datasets: Path, splits: Iterable[Split] = ("test",)) -> list[Example]:
    wanted = set(splits)
    return [
        Example(row["text"], truth_labels(row))
        for name in FILES
        for row in read_jsonl(datasets / DATASET / name)
        if template_split(row) in wanted
    ]


def load_clean(datasets: Path, splits: Iterable[Split] = ("test",)) -> list[str]:
    # CLINC150 names its validation split "val".
    wanted = {"val" if s == "validation" else s for s in splits}
    return [
        row["text"]
        for row in read_jsonl(datasets / CLEAN_DATASET / CLEAN_FILE)
        if row["split"] in wanted
    ]


def predict(texts: Sequence[str], detector: PiiDetector | None = None) -> list[set[str]]:
    detector = detector or get_detector()
    found: list[set[str]] = []
    for i in range(0, len(texts), BATCH):
        found += [set(labels) for labels in detector.detect_batch(texts[i : i + BATCH])]
    return found


def _evenly(items: list[Any], limit: int | None) -> list[Any]:
    """At most `limit` items spread over the whole list (the files are ordered by template)."""
    if limit is None or len(items) <= limit:
        return items
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]


def _pooled(
    examples: Sequence[Example], predicted: Sequence[set[str]], labels: Sequence[str]
) -> tuple[list[bool], list[bool]]:
    truth = [label in e.labels for e in examples for label in labels]
    guess = [label in p for p in predicted for label in labels]
    return truth, guess


def evaluate(datasets: Path, limit: int | None = None) -> list[EvalRow]:
    examples = _evenly(load_examples(datasets), limit)
    clean = _evenly(load_clean(datasets), limit)
    predicted = predict([e.text for e in examples])
    dataset = f"{DATASET} (test templates)"
    rows: list[EvalRow] = []
    for label in PII_LABELS:
        truth = [label in e.labels for e in examples]
        if not any(truth):
            continue  # no positives: password, username; their false positives are below
        guess = [label in p for p in predicted]
        rows.append(
            detection_row(
                f"{METRIC}:{label}",
                dataset,
                truth,
                guess,
                n=len(examples),
                note=f"{sum(truth)} positive texts",
            )
        )
    for group, labels in (("structured", STRUCTURED), ("names+addresses", NAMES_ADDRESSES)):
        truth, guess = _pooled(examples, predicted, labels)
        rows.append(
            detection_row(
                f"{METRIC}:{group}",
                dataset,
                truth,
                guess,
                n=len(examples),
                note=f"pooled over (text, label) pairs of {', '.join(labels)}",
            )
        )
    on_clean = predict(clean)
    per_label = {label: false_positive_rate([label in p for p in on_clean]) for label in PII_LABELS}
    flagged = {label: rate for label, rate in per_label.items() if rate}
    rows.append(
        EvalRow(
            metric=METRIC,
            dataset=f"{CLEAN_DATASET} (test)",
            n=len(clean),
            fpr=false_positive_rate([bool(p) for p in on_clean]),
            note="benign queries with any label; by label: "
            + (", ".join(f"{k} {v:.2%}" for k, v in sorted(flagged.items())) or "none"),
            extra=per_label,
        )
    )
    return rows


def evaluate_realistic(
    corpus: Path | None = None, half: Half = "test", limit: int | None = None
) -> list[EvalRow]:
    """PII in chat-style texts (evals/pii.jsonl): micro-F1 over the eleven labels, names and
    addresses together, one row per label, and the false-positive rate on clean rows."""
    rows = rows_of("pii", corpus, half, limit)
    values = score("input_pii", [(row.text,) for row in rows])
    truth = [frozenset(row.labels) for row in rows]
    predicted = [frozenset(v) if isinstance(v, list) else frozenset() for v in values]
    dataset = dataset_name("pii", half)
    out = labels_rows(METRIC, dataset, PII_LABELS, truth, predicted)
    people = frozenset({"name", "address"})
    out[1:1] = labels_rows(
        f"{METRIC}[name+address]",
        dataset,
        (),
        [t & people for t in truth],
        [p & people for p in predicted],
    )
    clean = [bool(p) for t, p in zip(truth, predicted, strict=True) if not t]
    out.append(
        EvalRow(
            metric=f"{METRIC}[clean rows]",
            dataset=dataset,
            n=len(clean),
            fpr=sum(clean) / len(clean) if clean else None,
            note="share of PII-free rows (many of them traps) given any label",
        )
    )
    return out


__all__ = [
    "TYPE_LABELS",
    "UNMAPPED_TYPES",
    "Example",
    "evaluate",
    "evaluate_realistic",
    "load_clean",
    "load_examples",
    "predict",
    "truth_labels",
]
