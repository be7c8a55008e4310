"""The committed linear heads: files, model cards, and the numpy-only predictor."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from tests.offline import run_fresh
from worker.metrics.embedding import EMBEDDING_DIM, MODEL_SHA256
from worker.metrics.heads import (
    CHAR_NGRAM_MAX_CHARS,
    DECISION_THRESHOLD,
    MODELS_DIR,
    CharNgrams,
    LinearHead,
    char_ngrams,
    get_head,
    head_paths,
    pool_chunks,
    word_buckets,
)

ROOT = Path(__file__).resolve().parents[2]
HEADS = ("toxicity", "sexism")
# The bucket of "stable" among 2**20: pins the hash function (a change would void every head).
STABLE_BUCKET = 851035

CARD_FIELDS = {
    "head",
    "task",
    "model",
    "embedder",
    "trained_at",
    "command",
    "data",
    "split",
    "hyper_parameters",
    "threshold",
    "calibration",
    "scores",
}


# Commit-sized: 384 float32 embedding weights and 16,384 float16 word weights, compressed; the
# sexism head adds 20,000 character n-grams with their idf and float16 weights.
MAX_BYTES = {"toxicity": 64_000, "sexism": 400_000}
# Heads with a character n-gram block (the others must load and score without one).
CHAR_HEADS = {"sexism"}


@pytest.mark.parametrize("name", HEADS)
def test_committed_head_loads_and_is_small(name: str) -> None:
    weights_path, card_path = head_paths(name)
    assert weights_path.stat().st_size < MAX_BYTES[name]
    head = LinearHead.load(name)
    assert head.weights.shape == (EMBEDDING_DIM,)
    assert np.isfinite(head.weights).all()
    assert head.word_weights is not None
    assert head.word_bits == head.card["hyper_parameters"]["word_bits"]
    assert np.isfinite(head.word_weights).all()
    assert np.isfinite(head.bias)
    assert head.threshold == DECISION_THRESHOLD
    assert json.loads(card_path.read_text()) == head.card
    if name in CHAR_HEADS:
        assert head.chars is not None
        assert head.char_weights is not None
        assert head.char_weights.shape == (len(head.chars),)
        assert len(head.chars) == head.card["hyper_parameters"]["char_ngrams"]
        assert np.isfinite(head.char_weights).all()
    else:
        assert head.chars is None
        assert head.char_weights is None


@pytest.mark.parametrize("name", HEADS)
def test_model_card_fields(name: str) -> None:
    card = get_head(name).card
    assert set(card) >= CARD_FIELDS
    assert card["head"] == name
    assert card["embedder"]["sha256"] == MODEL_SHA256
    assert card["split"]["split_seed"]
    assert all(d["licence"] and d["rows"] for d in card["data"] if d["use"] != "evaluation only")
    assert card["hyper_parameters"]["C"] in card["hyper_parameters"]["C_grid"]
    test = card["scores"]["test"]
    labelled = [s for s in test.values() if "f1" in s]
    assert labelled
    assert all(0.0 <= s["f1"] <= 1.0 and s["n"] > 0 for s in labelled)


def test_predict_proba_shape_range_and_extremes() -> None:
    head = get_head("toxicity")
    texts = ["one", "two words", "", "three little words", "five"]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, EMBEDDING_DIM))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    p = head.predict_proba(x, texts)
    assert p.shape == (5,)
    assert ((p >= 0) & (p <= 1)).all()
    # Order follows the decision function; huge margins give 0 and 1 without overflow warnings.
    z = head.decision_function(x, texts)
    assert (np.diff(p[np.argsort(z)]) >= 0).all()
    big = np.stack([head.weights, -head.weights]) * 1e6
    np.testing.assert_allclose(head.predict_proba(big, ["", ""]), [1.0, 0.0])
    assert head.predict_proba(np.zeros((0, EMBEDDING_DIM)), []).shape == (0,)
    with pytest.raises(ValueError, match="shape"):
        head.predict_proba(np.zeros((2, 10)), ["", ""])
    with pytest.raises(ValueError, match="pass the texts"):
        head.predict_proba(x)


def test_word_block_reads_words_not_case_or_punctuation() -> None:
    assert list(word_buckets("Hello, WORLD!! hello", 14)) == list(word_buckets("hello world", 14))
    assert len(word_buckets("", 14)) == 0
    assert all(0 <= b < 2**10 for b in word_buckets("some words to hash here", 10))
    # Stable across processes (BLAKE2b, not Python's salted hash()).
    assert list(word_buckets("stable", 20)) == [STABLE_BUCKET]


def test_char_ngrams_are_padded_word_pieces() -> None:
    hi = [" h", "hi", "i ", " hi", "hi "]
    you = [" y", "yo", "ou", "u ", " yo", "you", "ou "]
    assert char_ngrams("Hi  YOU", 2, 3) == hi + you
    # A word shorter than the n-gram length counts once, whole.
    assert char_ngrams("a", 2, 5) == [" a", "a ", " a "]
    assert char_ngrams(" \n ") == []
    # Only the start of a huge text is read.
    huge = "ab " * 10_000
    assert char_ngrams(huge) == char_ngrams(huge[:CHAR_NGRAM_MAX_CHARS])
    assert len(char_ngrams(huge[: CHAR_NGRAM_MAX_CHARS - 30])) < len(char_ngrams(huge))


def test_char_block_features_and_fit() -> None:
    texts = ["lol so funny", "so sad", "lol what", "what a day", "so so"]
    chars = CharNgrams.fit(texts, size=50, min_df=2)
    assert 0 < len(chars) <= 50
    # Only n-grams in at least two texts; those in more texts weigh less (idf).
    assert " lol " in chars.vocabulary
    assert " day " not in chars.vocabulary
    assert chars.idf[chars.vocabulary[" so "]] < chars.idf[chars.vocabulary[" lol "]]
    indices, values = chars.features("LOL, so")
    assert len(indices) == len(set(indices.tolist())) > 0
    assert float(values @ values) == pytest.approx(1.0)
    empty = chars.features("zzz")
    assert len(empty[0]) == len(empty[1]) == 0
    # Same texts in another order: the same vocabulary (ties broken by the n-gram).
    assert CharNgrams.fit(texts[::-1], size=50, min_df=2).vocabulary == chars.vocabulary


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    head = LinearHead(
        name="demo",
        weights=np.linspace(-1, 1, EMBEDDING_DIM),
        bias=0.25,
        card={"threshold": 0.5},
        word_weights=np.linspace(-2, 2, 2**10),
    )
    head.save(tmp_path)
    loaded = LinearHead.load("demo", tmp_path)
    np.testing.assert_allclose(loaded.weights, head.weights, atol=1e-6)  # stored as float32
    assert loaded.word_weights is not None
    np.testing.assert_allclose(loaded.word_weights, np.linspace(-2, 2, 2**10), atol=2e-3)
    assert loaded.word_bits == 10
    assert loaded.bias == 0.25
    assert loaded.card == head.card
    plain = LinearHead(name="plain", weights=np.zeros(EMBEDDING_DIM), bias=-1.0)
    plain.save(tmp_path)
    reloaded = LinearHead.load("plain", tmp_path)
    assert reloaded.word_weights is None
    # Without a word block the texts are not needed.
    assert reloaded.predict_proba(np.zeros((1, EMBEDDING_DIM)))[0] == pytest.approx(0.2689, 1e-3)
    assert reloaded.chars is None


def test_pool_chunks_takes_the_max_less_the_penalty_for_several_chunks() -> None:
    owners = [0, 0, 0, 2, 3]
    logits = [-1.0, 2.0, 0.5, -3.0, 1.5]
    assert pool_chunks(owners, logits, 4) == [2.0, None, -3.0, 1.5]
    pooled = pool_chunks(owners, logits, 4, penalty=0.5)
    # Three chunks: 2 - 0.5 ln 3; one chunk: untouched.
    assert pooled[0] == pytest.approx(2.0 - 0.5 * math.log(3))
    assert pooled[1:] == [None, -3.0, 1.5]


def test_chunk_penalty_round_trip_and_old_files_load_without_one(tmp_path: Path) -> None:
    head = LinearHead(
        name="penalised", weights=np.zeros(EMBEDDING_DIM), bias=0.0, chunk_penalty=0.4
    )
    head.save(tmp_path)
    assert LinearHead.load("penalised", tmp_path).chunk_penalty == pytest.approx(0.4)
    LinearHead(name="plain", weights=np.zeros(EMBEDDING_DIM), bias=0.0).save(tmp_path)
    with np.load(tmp_path / "plain.npz") as data:
        assert "chunk_penalty" not in data.files
    assert LinearHead.load("plain", tmp_path).chunk_penalty == 0.0


def test_committed_heads_penalise_chunks_as_their_cards_say() -> None:
    for name in HEADS:
        head = get_head(name)
        card = head.card
        expected = card["hyper_parameters"]["chunk_penalty"] * card["calibration"]["a"]
        assert head.chunk_penalty == pytest.approx(expected, rel=1e-4)


def test_char_block_round_trip_and_scoring(tmp_path: Path) -> None:
    chars = CharNgrams.fit(["sexist words here", "more words here", "words"], size=100, min_df=1)
    rng = np.random.default_rng(0)
    head = LinearHead(
        name="chars",
        weights=np.zeros(EMBEDDING_DIM),
        bias=0.0,
        card={"threshold": 0.5},
        chars=chars,
        char_weights=rng.normal(size=len(chars)),
    )
    head.save(tmp_path)
    loaded = LinearHead.load("chars", tmp_path)
    assert loaded.chars is not None
    assert loaded.chars.vocabulary == chars.vocabulary
    assert loaded.word_weights is None
    x = np.zeros((2, EMBEDDING_DIM))
    texts = ["words here", "nothing known"]
    indices, values = chars.features(texts[0])
    expected = float(head.char_weights[indices] @ values)  # type: ignore[index]
    z = loaded.decision_function(x, texts)
    assert z[0] == pytest.approx(expected, abs=1e-2)  # float16 weights on disk
    assert z[1] == 0.0
    with pytest.raises(ValueError, match="character n-grams"):
        loaded.decision_function(x)


def test_head_for_another_embedder_is_refused(tmp_path: Path) -> None:
    np.savez(
        tmp_path / "stale.npz",
        format=np.int64(1),
        weights=np.zeros(EMBEDDING_DIM, dtype=np.float32),
        bias=np.float64(0.0),
        embedder_sha256=np.str_("0" * 64),
    )
    (tmp_path / "stale.card.json").write_text("{}")
    with pytest.raises(ValueError, match="another embedding model"):
        LinearHead.load("stale", tmp_path)


def test_scoring_imports_no_scikit_learn() -> None:
    # scikit-learn is a training-time dependency only (the `train` extra).
    code = (
        "import sys\n"
        "from worker.metrics.toxicity import InputToxicity\n"
        "InputToxicity().score_batch([('hello',)])\n"
        "print('sklearn' in sys.modules)\n"
    )
    assert run_fresh(code, offline=False).strip() == "False"


def test_models_dir_is_inside_the_package() -> None:
    assert MODELS_DIR.parent.name == "metrics"
    assert (MODELS_DIR / "minilm" / "tokenizer.json").is_file()
    assert (MODELS_DIR / "minilm" / "NOTICE.md").is_file()
