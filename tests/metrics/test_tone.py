"""Tone: the nine Galileo labels from the trained head, on clear examples; its file format,
evaluation protocols and training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from worker.metrics.base import ValueKind
from worker.metrics.builtin import default_registry
from worker.metrics.embedding import EMBEDDING_DIM, MODEL_SHA256
from worker.metrics.evaluation.tone import tone_scores
from worker.metrics.tone import (
    MODEL,
    TONES,
    InputTone,
    OutputTone,
    ToneHead,
    get_tone_head,
    tone_of,
    tones_of,
)
from worker.metrics.training import tone as train_tone


def test_vocabulary_and_declarations() -> None:
    assert TONES == (
        "anger",
        "annoyance",
        "confusion",
        "fear",
        "joy",
        "love",
        "sadness",
        "surprise",
        "neutral",
    )
    for scorer in (InputTone(), OutputTone()):
        assert scorer.kind is ValueKind.LABEL
        assert scorer.labels == TONES
    assert default_registry().resolve("tone").name == "output_tone"  # Galileo's legacy alias
    assert get_tone_head().labels == TONES


@pytest.mark.parametrize(
    ("text", "tone"),
    [
        ("Thank you so much, this made my whole day, I'm thrilled!", "joy"),
        ("I'm really scared, I think someone is following me home.", "fear"),
        ("My dog died this morning and I can't stop crying.", "sadness"),
        ("I love you all, you are the most wonderful people.", "love"),
    ],
)
def test_clear_examples(text: str, tone: str) -> None:
    assert InputTone().score_batch([(text,)]) == [tone]


def test_every_prediction_is_in_the_vocabulary() -> None:
    texts = ["What time does the store open?", "This is outrageous!!", "Wait, what?", "ok"]
    assert set(OutputTone().score_batch([(t,) for t in texts])) <= set(TONES)


def test_emotion_folding() -> None:
    assert tone_of(["gratitude"]) == "joy"
    assert tone_of(["neutral", "grief"]) == "sadness"  # the stronger tone names it
    assert tone_of(["curiosity"]) is None


def test_tones_of_keeps_every_tone() -> None:
    assert tones_of(["joy", "love", "curiosity"]) == {"joy", "love"}
    assert tones_of(["gratitude", "amusement"]) == {"joy"}
    assert tones_of(["curiosity"]) == set()


def test_committed_head_reads_characters_and_matches_its_card() -> None:
    head = get_tone_head()
    assert head.chars is not None
    assert head.char_weights is not None
    assert head.char_weights.shape == (len(TONES), len(head.chars))
    assert head.weights.shape == (len(TONES), EMBEDDING_DIM)
    assert np.isfinite(head.weights).all()
    assert np.isfinite(head.char_weights).all()
    card = head.card
    assert card["embedder_sha256"] == MODEL_SHA256
    assert card["data"]["licence"].startswith("Apache-2.0")
    assert card["hyperparameters"]["C"] in card["hyperparameters"]["C_grid"]
    assert len(head.chars) == card["hyperparameters"]["char_ngrams"]["vocabulary"]
    assert 0.0 < card["scores"]["test"]["strict_macro_f1"] <= card["scores"]["test"]["macro_f1"]
    # A few hundred KB: 20,000 n-grams with idf and float16 weights per tone.
    assert MODEL.stat().st_size < 1_500_000
    with pytest.raises(ValueError, match="pass the texts"):
        head.logits(np.zeros((1, EMBEDDING_DIM)))


def test_embedding_only_head_still_loads(tmp_path: Path) -> None:
    # The format before the character block: weights, bias, labels.
    model = tmp_path / "tone.npz"
    np.savez(
        model,
        weights=np.eye(len(TONES), EMBEDDING_DIM),
        bias=np.zeros(len(TONES)),
        labels=np.array(TONES),
    )
    (tmp_path / "card.json").write_text("{}")
    head = ToneHead.load(model, tmp_path / "card.json")
    assert head.chars is None
    x = np.zeros((1, EMBEDDING_DIM))
    x[0, 3] = 1.0
    assert head.predict(x) == [TONES[3]]


def test_head_for_another_embedder_is_refused(tmp_path: Path) -> None:
    model = tmp_path / "tone.npz"
    np.savez(
        model,
        weights=np.zeros((len(TONES), EMBEDDING_DIM)),
        bias=np.zeros(len(TONES)),
        labels=np.array(TONES),
        embedder_sha256=np.str_("0" * 64),
    )
    (tmp_path / "card.json").write_text("{}")
    with pytest.raises(ValueError, match="another embedding model"):
        ToneHead.load(model, tmp_path / "card.json")


def test_evaluation_protocols() -> None:
    predicted = ["joy", "joy", "anger", "neutral"]
    primary = ["love", "joy", "annoyance", "neutral"]
    gold = [{"joy", "love"}, {"joy"}, {"annoyance"}, {"neutral"}]
    # Any of a row's tones: "joy" on the joy+love row is right.
    macro, accuracy, f1s = tone_scores(predicted, primary, gold)
    assert accuracy == 0.75
    assert f1s["joy"] == 1.0
    assert f1s["love"] == 0.0
    # Priority tone only: that row counts as a miss for love and a false joy.
    strict, strict_accuracy, strict_f1s = tone_scores(predicted, primary)
    assert strict_accuracy == 0.5
    assert strict_f1s["joy"] == pytest.approx(2 / 3)
    assert strict < macro


def test_tiny_training_writes_a_loadable_head(tmp_path: Path) -> None:
    from worker.metrics.embedding import Embedder
    from worker.metrics.evaluation import datasets_dir

    model = tmp_path / "tone.npz"
    card = train_tone.train(
        datasets_dir(),
        model=model,
        card_path=tmp_path / "tone.card.json",
        limit=8,
        embedder=Embedder(threads=1),
        c_grid=(1.0,),
    )
    assert card["command"].endswith("--limit 8")
    rows = 8 * len(TONES)
    assert card["data"]["rows"] == {"train": rows, "validation": rows, "test": rows}
    assert set(card["scores"]) >= {"validation", "test"}
    head = ToneHead.load(model, tmp_path / "tone.card.json")
    assert head.card == card
    assert head.chars is not None
    assert set(head.predict(np.zeros((2, EMBEDDING_DIM)), ["lol", "why?"])) <= set(TONES)


def test_offset_search_lifts_a_starved_tone() -> None:
    # Every row's logits favour tone 0, but the truth is half tone 0, half tone 1: an offset for
    # tone 1 (or against tone 0) recovers it.
    logits = np.zeros((4, len(TONES)))
    logits[:, 0] = 1.0
    logits[2:, 1] = 0.5
    primary = np.array([0, 0, 1, 1])
    gold = np.zeros((4, len(TONES)), dtype=bool)
    gold[np.arange(4), primary] = True
    offsets, best = train_tone.tune_offsets(logits, primary, gold)
    assert (np.argmax(logits + offsets, axis=1) == primary).all()
    assert best == pytest.approx(2 / len(TONES))
