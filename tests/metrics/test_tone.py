"""Tone: the nine Galileo labels from the trained head, on clear examples; its file format,
evaluation protocols and training."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from worker.metrics.base import ValueKind
from worker.metrics.builtin import default_registry
from worker.metrics.embedding import EMBEDDING_DIM, MODEL_SHA256, Embedder, embed_by_chunks
from worker.metrics.evaluation.corpus import training_rows
from worker.metrics.evaluation.tone import tone_scores
from worker.metrics.tone import (
    MODEL,
    PARTS,
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


def test_committed_head_is_a_register_mixture_matching_its_card() -> None:
    head = get_tone_head()
    k = len(TONES)
    assert head.mixture
    assert head.chars is not None
    assert head.char_weights is not None
    # chat tones, reddit tones, gate
    assert head.weights.shape == (2 * k + 1, EMBEDDING_DIM)
    assert head.char_weights.shape == (2 * k + 1, len(head.chars))
    assert np.isfinite(head.weights).all()
    assert np.isfinite(head.char_weights).all()
    # The embedding's numerically-zero dimensions are not standardised into huge weights (they
    # were once ~1e31, fitting rounding noise).
    assert np.abs(head.weights).max() < 1e3
    card = head.card
    assert card["embedder_sha256"] == MODEL_SHA256
    assert card["parts"] == list(PARTS)
    assert card["data"]["goemotions"]["licence"].startswith("Apache-2.0")
    assert card["data"]["written"]["rows"] == len(training_rows("tone"))
    hyper = card["hyperparameters"]
    assert hyper["reddit_C"] in hyper["C_grid"]
    assert hyper["gate_shift"] in hyper["gate"]["shifts"]
    assert len(head.chars) == hyper["char_ngrams"]["vocabulary"]
    assert 0.0 < card["scores"]["test"]["strict_macro_f1"] <= card["scores"]["test"]["macro_f1"]
    # Well under the 5 MB a model file may take: 19 rows of float16 weights for 20,000 n-grams.
    assert MODEL.stat().st_size < 2_500_000
    with pytest.raises(ValueError, match="pass the texts"):
        head.logits(np.zeros((1, EMBEDDING_DIM)))


@pytest.mark.parametrize(
    "text",
    [
        "How do I convert a CSV file to JSON in Python?",
        "What is the capital of Australia?",
        "Can you summarise this article in three bullet points for my manager?",
    ],
)
def test_a_plain_question_or_request_is_neutral(text: str) -> None:
    # The project's convention (evals/cards/tone.md): asking is not being confused.
    assert InputTone().score_batch([(text,)]) == ["neutral"]


@pytest.mark.parametrize(
    ("text", "tone"),
    [
        ("I'm completely lost, I don't understand what this error even means??", "confusion"),
        ("This is the third time I've asked for my refund. Still nothing. Ugh.", "annoyance"),
        ("Congratulations on the new job, that's wonderful news! I'm so happy for you.", "joy"),
        (
            "I'm so sorry about your dog. Losing a companion of fourteen years is heartbreaking.",
            "sadness",
        ),
    ],
)
def test_chat_registers(text: str, tone: str) -> None:
    assert OutputTone().score_batch([(text,)]) == [tone]


def test_probabilities_are_a_distribution_whose_argmax_is_the_label() -> None:
    texts = ["thanks so much, it works now!!", "WHAT?! they cancelled it?", "ok", "why?"]
    head = get_tone_head()
    vectors = embed_by_chunks(texts)
    p = head.probabilities(vectors, texts)
    assert p.shape == (len(texts), len(TONES))
    assert np.all(p >= 0)
    assert np.allclose(p.sum(axis=1), 1.0)
    assert [TONES[i] for i in p.argmax(axis=1)] == InputTone().score_batch([(t,) for t in texts])


def _mixture(chat: int, reddit: int, gate: float) -> ToneHead:
    """A mixture whose chat head is sure of tone `chat`, reddit head of `reddit`, gate `gate`."""
    k = len(TONES)
    bias = np.zeros(2 * k + 1)
    bias[chat] = bias[k + reddit] = 20.0
    bias[2 * k] = gate
    return ToneHead(np.zeros((2 * k + 1, EMBEDDING_DIM)), bias, TONES, {})


def test_the_gate_picks_the_head() -> None:
    x = np.zeros((1, EMBEDDING_DIM))
    assert _mixture(0, 8, gate=5.0).predict(x) == [TONES[0]]  # read as chat
    assert _mixture(0, 8, gate=-5.0).predict(x) == [TONES[8]]  # read as a Reddit comment
    p = _mixture(0, 8, gate=0.0).probabilities(x)[0]
    assert p[0] == pytest.approx(0.5)
    assert p[8] == pytest.approx(0.5)


def test_temperature_recovers_the_spread_of_the_labels() -> None:
    # Labels drawn from softmax(logits / 2): the fitted temperature is about 2.
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, size=(4000, len(TONES)))
    e = np.exp(logits / 2 - (logits / 2).max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    truth = np.array([rng.choice(len(TONES), p=row) for row in p])
    assert train_tone.fit_temperature(logits, truth) == pytest.approx(2.0, rel=0.15)


class _CountingEmbedder(Embedder):
    """The real embedder, counting the texts it embeds."""

    embedded = 0

    def embed_uncached(self, texts: Sequence[str]) -> Any:
        self.embedded += len(texts)
        return super().embed_uncached(texts)


def test_training_embeddings_are_the_served_ones_and_are_cached(tmp_path: Path) -> None:
    long = " ".join(
        f"Sentence number {i} says something rather ordinary about the weather." for i in range(8)
    )
    texts = ["short one", long]
    embedder = _CountingEmbedder(threads=1)
    first = train_tone.embed_texts(texts, embedder, tmp_path)
    assert np.allclose(first, embed_by_chunks(texts), atol=1e-5)
    assert embedder.embedded > len(texts)  # the long text's chunks, one by one
    # Read back from the cache: the same vectors, nothing embedded again.
    embedded = embedder.embedded
    assert np.array_equal(train_tone.embed_texts(texts, embedder, tmp_path), first)
    assert embedder.embedded == embedded


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


def test_tiny_training_writes_a_loadable_head_reproducibly(tmp_path: Path) -> None:
    from worker.metrics.evaluation import datasets_dir

    embedder = Embedder(threads=1)
    runs = []
    for run in ("a", "b"):
        out = tmp_path / run
        out.mkdir()
        card = train_tone.train(
            datasets_dir(),
            model=out / "tone.npz",
            card_path=out / "tone.card.json",
            limit=8,
            embedder=embedder,
            c_grid=(1.0,),
            # The second run reads the first's chunk embeddings: the cache must not change them.
            cache=tmp_path / "cache",
        )
        runs.append((card, out / "tone.npz"))
    (card, model), (card_b, model_b) = runs
    assert card["command"].endswith("--limit 8")
    rows = 8 * len(TONES)
    assert card["data"]["goemotions"]["rows"] == {"train": rows, "validation": rows, "test": rows}
    assert card["data"]["written"]["rows"] == rows
    assert card["data"]["realistic_validation"]["rows"] == rows
    assert set(card["scores"]) >= {"validation", "test", "realistic_validation"}
    head = ToneHead.load(model, model.parent / "tone.card.json")
    assert head.card == card
    assert head.mixture
    assert head.chars is not None
    assert np.abs(head.weights).max() < 1e3  # constant embedding dimensions weigh nothing
    assert set(head.predict(np.zeros((2, EMBEDDING_DIM)), ["lol", "why?"])) <= set(TONES)
    # Training is deterministic: the same data give the same arrays and the same card.
    with np.load(model, allow_pickle=False) as a, np.load(model_b, allow_pickle=False) as b:
        assert set(a.files) == set(b.files)
        for key in a.files:
            assert np.array_equal(a[key], b[key]), key
    assert {k: v for k, v in card.items() if k != "trained_at"} == {
        k: v for k, v in card_b.items() if k != "trained_at"
    }


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
