"""The PII evaluation: label mapping, template splits, and a run on a small limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.metrics.evaluation import datasets_dir, read_jsonl
from worker.metrics.evaluation import pii as eval_pii
from worker.metrics.pii import PII_LABELS


@pytest.fixture(scope="module")
def root() -> Path:
    path = datasets_dir()
    if not (path / eval_pii.DATASET).is_dir():
        pytest.skip("shared datasets not available")
    return path


def _row(types: list[str], text: str = "x") -> dict[str, object]:
    return {"text": text, "spans": [{"type": t} for t in types]}


def test_mapping_covers_galileo_labels_only() -> None:
    assert set(eval_pii.TYPE_LABELS.values()) <= set(PII_LABELS)
    assert not set(eval_pii.TYPE_LABELS) & set(eval_pii.UNMAPPED_TYPES)


def test_truth_labels() -> None:
    assert eval_pii.truth_labels(_row(["PERSON", "ADDRESS", "GPE"])) == {"name", "address"}
    assert eval_pii.truth_labels(_row(["ORGANIZATION", "ZIP_CODE"])) == frozenset()
    # A date counts as a date of birth only next to a birth cue.
    assert eval_pii.truth_labels(_row(["DATE_TIME"], "born on 2/8/1935")) == {"date_of_birth"}
    assert eval_pii.truth_labels(_row(["DATE_TIME"], "since 2/8/1935")) == frozenset()


def test_every_dataset_type_is_mapped_or_explained(root: Path) -> None:
    seen = {
        span["type"]
        for name in eval_pii.FILES
        for row in read_jsonl(root / eval_pii.DATASET / name)
        for span in row["spans"]
    }
    assert seen <= set(eval_pii.TYPE_LABELS) | set(eval_pii.UNMAPPED_TYPES)


def test_splits_are_by_template(root: Path) -> None:
    test = eval_pii.load_examples(root, ["test"])
    rest = eval_pii.load_examples(root, ["train", "validation"])
    assert test
    assert rest
    assert len(test) + len(rest) == 3609
    # Every sentence of a template falls in the same split.
    templates: dict[str, set[str]] = {}
    for name in eval_pii.FILES:
        for row in read_jsonl(root / eval_pii.DATASET / name):
            key = f"{row['source_file']}#{row['template_id']}"
            templates.setdefault(key, set()).add(eval_pii.template_split(row))
    assert all(len(splits) == 1 for splits in templates.values())


def test_evaluate_on_a_small_limit(root: Path) -> None:
    rows = eval_pii.evaluate(root, limit=60)
    metrics = [r.metric for r in rows]
    assert "input_pii:structured" in metrics
    assert "input_pii:names+addresses" in metrics
    assert metrics[-1] == "input_pii"
    for row in rows[:-1]:
        assert row.n == 60
        assert row.f1 is not None
        assert 0.0 <= row.f1 <= 1.0
    clean = rows[-1]
    assert clean.n == 60
    assert clean.fpr is not None
    assert set(clean.extra) == set(PII_LABELS)
