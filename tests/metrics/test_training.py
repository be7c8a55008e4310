"""Training a head end to end on a tiny sample of the real datasets: runs, writes, reproducible."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from worker.metrics.embedding import Embedder
from worker.metrics.evaluation import datasets_dir
from worker.metrics.heads import LinearHead, head_paths
from worker.metrics.training import heads as training

# Rows per split and source: ~170 texts to embed per run (~1.5 s on one core).
LIMIT = 12


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder(threads=1)


def test_tiny_training_runs_writes_a_head_and_is_reproducible(
    tmp_path: Path, embedder: Embedder
) -> None:
    runs = []
    for i in range(2):
        out = tmp_path / str(i)
        card = training.train_head(
            "sexism",
            datasets_dir(),
            seed=3,
            models_dir=out,
            limit=LIMIT,
            embedder=embedder,
            c_grid=(0.1, 1.0),
        )
        runs.append((card, LinearHead.load("sexism", out)))
    (card_a, head_a), (card_b, head_b) = runs
    np.testing.assert_array_equal(head_a.weights, head_b.weights)
    assert head_a.word_weights is not None
    assert head_b.word_weights is not None
    np.testing.assert_array_equal(head_a.word_weights, head_b.word_weights)
    # The char block's vocabulary comes from the training split, so it is reproducible too.
    assert head_a.chars is not None
    assert head_b.chars is not None
    assert head_a.chars.vocabulary == head_b.chars.vocabulary
    assert head_a.char_weights is not None
    assert head_b.char_weights is not None
    np.testing.assert_array_equal(head_a.char_weights, head_b.char_weights)
    assert head_a.bias == head_b.bias
    assert {k: v for k, v in card_a.items() if k != "trained_at"} == {
        k: v for k, v in card_b.items() if k != "trained_at"
    }
    assert card_a["command"].endswith(f"--seed 3 --limit {LIMIT}")
    assert card_a["hyper_parameters"]["C"] in (0.1, 1.0)
    assert card_a["split"]["sample_seed"] == 3
    assert json.loads(head_paths("sexism", tmp_path / "0")[1].read_text()) == card_a
    edos = next(d for d in card_a["data"] if d["dataset"] == "sexism_edos")
    assert sum(edos["rows"]["train"].values()) == LIMIT
    written = next(d for d in card_a["data"] if d["dataset"] == training.WRITTEN)
    assert sum(written["rows"]["train"].values()) == LIMIT
    assert card_a["calibration"]["a"] > 0
    realistic = card_a["scores"]["realistic_validation"]["evals/sexism"]
    assert realistic["n"] > 0
    assert 0.0 <= realistic["ece"] <= 1.0


def test_written_examples_long_negatives_come_as_chunks_long_positives_whole(
    tmp_path: Path,
) -> None:
    from worker.metrics.embedding import WHOLE_TEXT_CHARS, chunk_text

    long_text = " ".join(
        f"Sentence number {i} of a long message about the weather." for i in range(12)
    )
    assert len(long_text) > WHOLE_TEXT_CHARS
    rows = [
        {
            "id": "t-1",
            "text": long_text,
            "label": 0,
            "field": "input",
            "register": "chat",
            "trap": None,
            "lang": "en",
        },
        {
            "id": "t-2",
            "text": long_text,
            "label": 1,
            "field": "output",
            "register": "chat",
            "trap": None,
            "lang": "en",
        },
        {
            "id": "t-3",
            "text": " short one ",
            "label": 1,
            "field": "input",
            "register": "chat",
            "trap": None,
            "lang": "en",
        },
    ]
    (tmp_path / "sexism.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    examples = training.written_examples(training.HEADS["sexism"], tmp_path)
    chunks = chunk_text(long_text)
    assert len(chunks) > 1
    assert [(e.text, e.label) for e in examples] == [
        *((c, False) for c in chunks),
        (long_text, True),
        ("short one", True),
    ]
    assert {(e.source, e.split) for e in examples} == {(training.WRITTEN, "train")}


def test_another_seed_samples_other_rows() -> None:
    source = training.HEADS["toxicity"].sources[0]
    a = training.load_examples(source, datasets_dir(), limit=LIMIT, seed=0)
    b = training.load_examples(source, datasets_dir(), limit=LIMIT, seed=1)
    assert len(a) == len(b) == 3 * LIMIT
    assert {e.text for e in a} != {e.text for e in b}
    assert [e.split for e in a] == ["train"] * LIMIT + ["validation"] * LIMIT + ["test"] * LIMIT


def test_splits_follow_the_shared_hash() -> None:
    from worker.metrics.evaluation import split_of

    source = training.HEADS["toxicity"].sources[1]
    for example in training.load_examples(source, datasets_dir())[:50]:
        assert example.split == split_of(example.text)


def test_sample_weights_give_each_source_its_share() -> None:
    ex = training.Example
    examples = [
        ex("a", True, "x", "train"),
        ex("b", False, "x", "train"),
        ex("c", False, "x", "train"),
        ex("d", False, "y", "train"),
    ]
    sources = [
        training.Source("x", "", "", lambda row: None, weight=0.5),
        training.Source("y", "", "", lambda row: None, weight=0.5),
    ]
    w = training._sample_weights(examples, sources)
    assert w.mean() == pytest.approx(1.0)
    # x: positives and negatives a quarter each; y (one class) half.
    assert w[0] == pytest.approx(w[1] + w[2])
    assert w[3] == pytest.approx(w[0] + w[1] + w[2])


def test_roc_auc_with_ties_matches_the_definition() -> None:
    assert training.roc_auc([True, False], [0.9, 0.1]) == 1.0
    assert training.roc_auc([True, False], [0.1, 0.9]) == 0.0
    assert training.roc_auc([True, False, True, False], [0.5, 0.5, 0.5, 0.5]) == 0.5
    assert training.roc_auc([True, True], [0.1, 0.2]) is None
    assert training.roc_auc([True, False, False], [0.6, 0.6, 0.2]) == pytest.approx(0.75)


def test_cli_help_names_the_heads(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        training.main(["--help"])
    assert done.value.code == 0
    assert "sexism" in capsys.readouterr().out
