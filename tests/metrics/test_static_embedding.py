"""The static token embedding (the fast tier's encoder): deterministic, what its recipe makes of
the shipped MiniLM, and meaningful on real texts."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from worker.cli.train import HEADS
from worker.metrics.evaluation import datasets_dir, read_jsonl, split_of
from worker.metrics.heads import score_texts
from worker.metrics.static_embedding import CARD_PATH, MODEL_PATH, StaticEmbedder, quantise
from worker.metrics.tone import TONES, ToneHead
from worker.metrics.training import heads as training
from worker.metrics.training import static_embedding as recipe
from worker.metrics.training import tone as train_tone

# Token ids whose stored rows are recomputed from the model (one MiniLM call of 3-token texts).
SAMPLED_TOKENS = 64
# CLINC150 intents and queries per intent for the neighbourhood test.
INTENTS = 30
QUERIES_PER_INTENT = 5


@pytest.fixture(scope="module")
def embedder() -> StaticEmbedder:
    return StaticEmbedder()


@pytest.fixture(scope="module")
def stored() -> dict[str, np.ndarray]:
    with np.load(MODEL_PATH) as data:
        return {name: np.asarray(data[name]) for name in data.files}


def test_vectors_are_unit_length_deterministic_and_independent_of_batching(
    embedder: StaticEmbedder,
) -> None:
    texts = ["Can you help me reset my password?", "You are a worthless idiot.", "ok"]
    batch = embedder.embed(texts)
    assert batch.shape == (3, embedder.dim)
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, rtol=1e-5)
    one_by_one = np.concatenate([embedder.embed([t]) for t in texts])
    np.testing.assert_allclose(batch, one_by_one, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(StaticEmbedder().embed(texts), batch)


def test_empty_text_is_a_zero_vector(embedder: StaticEmbedder) -> None:
    vectors = embedder.embed(["", "hello there"])
    assert not vectors[0].any()
    assert vectors[1].any()


def test_stored_rows_are_the_recipe_applied_to_the_shipped_model(
    stored: dict[str, np.ndarray],
) -> None:
    """A sample of rows recomputed from MiniLM with the stored PCA and weights, quantised."""
    vocabulary = stored["table"].shape[0]
    ids = sorted(random.Random(0).sample(range(vocabulary), SAMPLED_TOKENS))
    raw = recipe.token_vectors(ids, threads=1)
    rows = recipe.project(raw, stored["axes"], stored["mean"], stored["weights"][ids])
    table, scales = quantise(rows)
    np.testing.assert_allclose(scales, stored["scales"][ids], rtol=1e-3)
    # One quantisation step of slack: a value on a rounding boundary may land either side when
    # onnxruntime batches the tokens differently.
    assert np.abs(table.astype(np.int16) - stored["table"][ids]).max() <= 1
    # The axes are orthonormal principal directions, as PCA makes them.
    axes = stored["axes"].astype(np.float64)
    np.testing.assert_allclose(axes @ axes.T, np.eye(len(axes)), atol=1e-4)


def test_stored_token_weights_are_the_frequencies_of_the_training_texts(
    stored: dict[str, np.ndarray],
) -> None:
    counts, texts = recipe.token_counts(datasets_dir(), stored["table"].shape[0])
    assert texts > 10_000
    card = json.loads(CARD_PATH.read_text(encoding="utf-8"))
    assert card["weighting"]["texts"] == texts
    a = card["weighting"]["a"]
    np.testing.assert_allclose(recipe.sif_weights(counts, a), stored["weights"], rtol=1e-6)
    # Frequent function words weigh less than a rarer content word.
    weights = stored["weights"]
    the, refund = (StaticEmbedder().token_ids(w)[0] for w in ("the", "refund"))
    assert weights[the] < weights[refund]


def test_queries_of_one_intent_are_closer_than_queries_of_different_intents(
    embedder: StaticEmbedder,
) -> None:
    """Real CLINC150 queries (test split): each query's nearest neighbour mostly shares its
    intent (chance: 1 in 30), and same-intent pairs are more similar than other pairs."""
    by_intent: dict[str, list[str]] = defaultdict(list)
    for row in read_jsonl(datasets_dir() / "benign_queries_clinc150" / "clinc150_queries.jsonl"):
        if row["intent"] != "oos" and split_of(str(row["text"])) == "test":
            by_intent[str(row["intent"])].append(str(row["text"]))
    rng = random.Random(0)
    intents = rng.sample(sorted(k for k, v in by_intent.items() if len(v) >= 5), INTENTS)
    texts: list[str] = []
    labels: list[str] = []
    for intent in intents:
        texts += rng.sample(by_intent[intent], QUERIES_PER_INTENT)
        labels += [intent] * QUERIES_PER_INTENT
    vectors = embedder.embed(texts)
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -np.inf)
    label = np.array(labels)
    nearest_same = label[similarity.argmax(axis=1)] == label
    assert nearest_same.mean() > 0.5
    same = (label[:, None] == label[None, :]) & np.isfinite(similarity)
    different = label[:, None] != label[None, :]
    assert similarity[same].mean() > similarity[different].mean() + 0.2


def test_protect_train_builds_it() -> None:
    assert HEADS["static_embedding"] == ("worker.metrics.training.static_embedding", [])


def test_a_head_trains_on_the_static_embedding_and_scores_through_it(
    embedder: StaticEmbedder, tmp_path: Path
) -> None:
    """The heads' recipe (training/heads.py) takes the encoder as a parameter: a tiny sexism
    head on the static embedding has its width, scores through `score_texts(encoder=...)`, and is
    not written where the deployed MiniLM heads live."""
    card = {"model": "static_embedding", "dim": embedder.dim}
    head = training.fit_head(
        "sexism",
        seed=3,
        models_dir=None,
        limit=12,
        embedder=embedder,
        c_grid=(1.0,),
        embedder_card=card,
    )
    assert head.weights.shape == (embedder.dim,)
    assert head.card["embedder"] == card
    texts = ["Women are too emotional to be engineers.", "What time does the library open?"]
    scores = score_texts(head, texts, encoder=embedder)
    assert all(0.0 <= s <= 1.0 for s in scores)
    with pytest.raises(ValueError, match="shape"):  # MiniLM vectors: 384 wide
        score_texts(head, texts)
    with pytest.raises(ValueError, match="only heads on the shared MiniLM"):
        training.fit_head(
            "sexism", models_dir=tmp_path, limit=12, embedder=embedder, embedder_card=card
        )


def test_the_tone_recipe_trains_on_the_static_embedding_and_is_not_loadable_as_deployed(
    embedder: StaticEmbedder, tmp_path: Path
) -> None:
    """training/tone.py takes the encoder too: a tiny mixture head of the static width, whose
    file ToneHead.load refuses (it would read MiniLM vectors)."""
    card = train_tone.train(
        datasets_dir(),
        model=tmp_path / "tone.npz",
        card_path=None,
        limit=8,
        embedder=embedder,
        c_grid=(1.0,),
    )
    assert card["embedding"] == "StaticEmbedder"
    with np.load(tmp_path / "tone.npz", allow_pickle=False) as arrays:
        assert arrays["chat_weights"].shape == (len(TONES), embedder.dim)
    with pytest.raises(ValueError, match="another embedding model"):
        ToneHead.load(tmp_path / "tone.npz", tmp_path / "missing.card.json")
