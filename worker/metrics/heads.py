"""Trained linear heads over the shared sentence embedding, and the scorer base that runs them.

A head is a logistic regression on the 384-d all-MiniLM-L6-v2 vector (`embedding.py`), optionally
joined by a hashed bag of words (`word_buckets`: 2**bits buckets, BLAKE2b, unit length) and a
TF-IDF block of character n-grams (`CharNgrams`: a stored vocabulary, unit length) where those
measurably help. It is stored as `models/<name>.npz` (float32 embedding weights, float16 word and
char weights, the char vocabulary and idf, bias; tens to hundreds of KB) beside a JSON model
card `models/<name>.card.json` (training data, licences, split, class balance, hyper-parameters,
scores, date). Both are written by `protect train NAME` (`training/heads.py`); loading and
scoring need numpy only.

Two things are folded into the stored weights at training time, so that scoring is one dot
product: the feature standardisation (mean and scale per dimension) and the calibration map
(Platt's sigmoid(a * logit + b), fitted on the realistic corpus's validation half; weights times
a, bias times a plus b). The served score is thus a calibrated probability: a rule `gte 0.5` is
the default decision and `gte 0.9` a high-precision one; the card keeps the map for the record.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

import numpy as np
import numpy.typing as npt

from worker.contract.rules import MetricValue
from worker.metrics.base import Execution, Scorer, ScorerInput, ValueKind
from worker.metrics.embedding import EMBEDDING_DIM, MODEL_SHA256, chunks_of, get_embedder

MODELS_DIR: Final = Path(__file__).parent / "models"

# Version of the .npz layout below; bump it when the arrays change.
HEAD_FORMAT: Final = 1

# The probability at which a head decides "positive" (its scores are calibrated probabilities).
DECISION_THRESHOLD: Final = 0.5

# Words for the optional hashed bag-of-words block: lower-cased runs of letters and digits.
_WORD = re.compile(r"[^\W_]+")


def word_buckets(text: str, bits: int) -> npt.NDArray[np.int64]:
    """The distinct hash buckets (of 2**bits) of a text's words: the lexical block's features.

    Each present bucket counts 1/sqrt(number of buckets), so every text's block has unit length,
    like the embedding. The hash is BLAKE2b (stable across processes and Python versions, unlike
    `hash()`); ~1 µs a word.
    """
    mask = (1 << bits) - 1
    buckets = {
        int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little") & mask
        for word in _WORD.findall(text.lower())
    }
    return np.fromiter(sorted(buckets), dtype=np.int64, count=len(buckets))


# Character n-grams (`CharNgrams`): lengths 2-5 within words, as in the tone head's measurements
# (2-5 scored 0.544 validation macro-F1, 1-4 0.539, words 1-2 0.532, hashed words 0.522).
CHAR_NGRAM_RANGE: Final = (2, 5)
# Only the start of a text is read for n-grams: ~0.2 ms per 100 characters, so a long text (the
# tone head reads a whole text's n-grams, not a chunk's) would otherwise cost milliseconds. 800
# keeps the head's cost under 1 ms and is past every training text (GoEmotions <= 703 characters,
# EDOS <= 250, chunks <= 300), so no head has learnt from n-grams beyond it.
CHAR_NGRAM_MAX_CHARS: Final = 800
_SPACES = re.compile(r"\s+")


def char_ngrams(text: str, low: int = 2, high: int = 5) -> list[str]:
    """The character n-grams of a text's words, each word lower-cased and padded with a space.

    Word boundaries are part of the n-grams (" lol ", "wow"), so short words and word starts and
    ends carry their own features; a word shorter than an n-gram length counts once, whole.
    """
    grams: list[str] = []
    for word in _SPACES.split(text[:CHAR_NGRAM_MAX_CHARS].lower()):
        if not word:
            continue
        padded = f" {word} "
        size = len(padded)
        for n in range(low, high + 1):
            if n >= size:
                grams.append(padded)
                break
            grams.extend(padded[i : i + n] for i in range(size - n + 1))
    return grams


@dataclass(frozen=True)
class CharNgrams:
    """A TF-IDF block over a fixed vocabulary of character n-grams, numpy only at scoring.

    Per text: count each vocabulary n-gram, take 1 + log(count), multiply by its idf, scale to unit
    length (so it weighs like the unit-length embedding). ~0.2-0.5 ms for a 300-character text.
    """

    vocabulary: dict[str, int]
    idf: npt.NDArray[np.float64]
    low: int = CHAR_NGRAM_RANGE[0]
    high: int = CHAR_NGRAM_RANGE[1]

    def __len__(self) -> int:
        return len(self.vocabulary)

    def features(self, text: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """(indices, values) of the text's non-zero features, values of unit length."""
        counts: dict[int, int] = {}
        vocabulary = self.vocabulary
        for gram in char_ngrams(text, self.low, self.high):
            index = vocabulary.get(gram)
            if index is not None:
                counts[index] = counts.get(index, 0) + 1
        indices = np.fromiter(counts, dtype=np.int64, count=len(counts))
        values = (1.0 + np.log(np.fromiter(counts.values(), np.float64, len(counts)))) * self.idf[
            indices
        ]
        norm = float(np.sqrt(values @ values))
        return indices, (values / norm if norm > 0 else values)

    @classmethod
    def fit(
        cls,
        texts: Sequence[str],
        size: int,
        min_df: int = 3,
        low: int = CHAR_NGRAM_RANGE[0],
        high: int = CHAR_NGRAM_RANGE[1],
    ) -> CharNgrams:
        """The `size` n-grams in the most texts (at least `min_df`), with smoothed idf weights."""
        df: dict[str, int] = {}
        for text in texts:
            for gram in set(char_ngrams(text, low, high)):
                df[gram] = df.get(gram, 0) + 1
        # Ties broken by the n-gram itself, so the vocabulary does not depend on text order.
        kept = sorted((g for g, n in df.items() if n >= min_df), key=lambda g: (-df[g], g))[:size]
        vocabulary = {gram: i for i, gram in enumerate(sorted(kept))}
        counts = np.array([df[g] for g in sorted(kept)], dtype=np.float64)
        idf = np.log((1 + len(texts)) / (1 + counts)) + 1
        return cls(vocabulary, idf, low, high)

    def arrays(self, prefix: str = "char_") -> dict[str, Any]:
        """The block as .npz arrays (vocabulary in index order, idf, n-gram range)."""
        grams = sorted(self.vocabulary, key=self.vocabulary.__getitem__)
        return {
            f"{prefix}vocabulary": np.array(grams, dtype=np.str_),
            f"{prefix}idf": self.idf.astype(np.float32),
            f"{prefix}range": np.array([self.low, self.high], dtype=np.int64),
        }

    @classmethod
    def from_arrays(cls, data: Any, prefix: str = "char_") -> CharNgrams:
        grams = [str(g) for g in data[f"{prefix}vocabulary"]]
        low, high = (int(v) for v in data[f"{prefix}range"])
        idf = np.asarray(data[f"{prefix}idf"], dtype=np.float64)
        if idf.shape != (len(grams),):
            raise ValueError(f"char n-gram idf of shape {idf.shape} for {len(grams)} n-grams")
        return cls({g: i for i, g in enumerate(grams)}, idf, low, high)


@dataclass(frozen=True)
class LinearHead:
    """p(positive | text) = sigmoid(embedding · weights + words · word_weights + bias).

    The word block (`word_weights`, 2**word_bits hashed word buckets) is optional: a head whose
    measured test scores do not improve with it has none and scores from the embedding alone. So
    is the character n-gram block (`chars`, TF-IDF over a stored vocabulary, `char_weights`), which
    adds `chars.features(text) · char_weights`; heads saved without it load and score as before.
    """

    name: str
    weights: npt.NDArray[np.float64]
    bias: float
    card: dict[str, Any] = field(default_factory=dict)
    word_weights: npt.NDArray[np.float64] | None = None
    chars: CharNgrams | None = None
    char_weights: npt.NDArray[np.float64] | None = None
    # Subtracted from the max chunk logit times ln(number of chunks) for a text of several chunks
    # (`pool_chunks`); 0 (and absent from older files): the plain max.
    chunk_penalty: float = 0.0

    @property
    def threshold(self) -> float:
        return float(self.card.get("threshold", DECISION_THRESHOLD))

    @property
    def word_bits(self) -> int:
        return 0 if self.word_weights is None else int(self.word_weights.size).bit_length() - 1

    @classmethod
    def load(cls, name: str, models_dir: Path = MODELS_DIR) -> LinearHead:
        weights_path, card_path = head_paths(name, models_dir)
        with np.load(weights_path, allow_pickle=False) as data:
            fmt = int(data["format"])
            weights = np.asarray(data["weights"], dtype=np.float64)
            bias = float(data["bias"])
            embedder = str(data["embedder_sha256"])
            words = (
                np.asarray(data["word_weights"], dtype=np.float64)
                if "word_weights" in data.files
                else None
            )
            penalty = float(data["chunk_penalty"]) if "chunk_penalty" in data.files else 0.0
            chars, char_weights = None, None
            if "char_weights" in data.files:
                chars = CharNgrams.from_arrays(data)
                char_weights = np.asarray(data["char_weights"], dtype=np.float64)
        if fmt != HEAD_FORMAT:
            raise ValueError(f"{weights_path}: head format {fmt}, expected {HEAD_FORMAT}")
        if weights.shape != (EMBEDDING_DIM,):
            raise ValueError(f"{weights_path}: weights of shape {weights.shape}")
        if words is not None and (words.ndim != 1 or words.size & (words.size - 1)):
            raise ValueError(f"{weights_path}: word weights of shape {words.shape}")
        if chars is not None and (char_weights is None or char_weights.shape != (len(chars),)):
            raise ValueError(f"{weights_path}: char weights for {len(chars)} n-grams expected")
        if not (math.isfinite(penalty) and penalty >= 0):
            raise ValueError(f"{weights_path}: chunk penalty {penalty}")
        if embedder != MODEL_SHA256:
            raise ValueError(
                f"{weights_path} was trained on another embedding model ({embedder}); "
                f"retrain it: python -m worker.metrics.training.heads {name}"
            )
        card = json.loads(card_path.read_text(encoding="utf-8"))
        return cls(
            name=name,
            weights=weights,
            bias=bias,
            card=card,
            word_weights=words,
            chars=chars,
            char_weights=char_weights,
            chunk_penalty=penalty,
        )

    def save(self, models_dir: Path = MODELS_DIR) -> tuple[Path, Path]:
        weights_path, card_path = head_paths(self.name, models_dir)
        models_dir.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, Any] = {
            "format": np.int64(HEAD_FORMAT),
            "weights": self.weights.astype(np.float32),
            "bias": np.float64(self.bias),
            "embedder_sha256": np.str_(MODEL_SHA256),
        }
        if self.chunk_penalty:
            arrays["chunk_penalty"] = np.float64(self.chunk_penalty)
        if self.word_weights is not None:
            # float16: the word weights are small regularised numbers (|w| < 10); half precision
            # halves the file and changes scores by < 1e-3.
            arrays["word_weights"] = self.word_weights.astype(np.float16)
        if self.chars is not None and self.char_weights is not None:
            # float16 as the word weights, for the same reason.
            arrays["char_weights"] = self.char_weights.astype(np.float16)
            arrays.update(self.chars.arrays())
        # Written with a file handle: np.savez would append ".npz" to a str path itself.
        with weights_path.open("wb") as handle:
            np.savez_compressed(handle, **arrays)
        card_path.write_text(json.dumps(self.card, indent=2) + "\n", encoding="utf-8")
        return weights_path, card_path

    def decision_function(
        self, embeddings: npt.ArrayLike, texts: Sequence[str] | None = None
    ) -> npt.NDArray[np.float64]:
        x = np.asarray(embeddings, dtype=np.float64)
        # The weights' length, not EMBEDDING_DIM: a head trained on another encoder (the static
        # embedding, training/heads.py `train_head(embedder=...)`) is scored the same way.
        dim = len(self.weights)
        if x.ndim != 2 or x.shape[1] != dim:
            raise ValueError(f"expected embeddings of shape (n, {dim}), got {x.shape}")
        z: npt.NDArray[np.float64] = x @ self.weights + self.bias
        if self.word_weights is not None:
            if texts is None or len(texts) != len(z):
                raise ValueError(f"head {self.name!r} reads the words too: pass the texts")
            bits = self.word_bits
            for i, text in enumerate(texts):
                buckets = word_buckets(text, bits)
                if len(buckets):
                    z[i] += self.word_weights[buckets].sum() / np.sqrt(len(buckets))
        if self.chars is not None and self.char_weights is not None:
            if texts is None or len(texts) != len(z):
                raise ValueError(f"head {self.name!r} reads character n-grams too: pass the texts")
            for i, text in enumerate(texts):
                indices, values = self.chars.features(text)
                z[i] += self.char_weights[indices] @ values
        return z

    def predict_proba(
        self, embeddings: npt.ArrayLike, texts: Sequence[str] | None = None
    ) -> npt.NDArray[np.float64]:
        """Probability of the positive class, shape (n,). `texts`: needed with a word or char
        block."""
        z = self.decision_function(embeddings, texts)
        # exp of at most 0: no overflow warnings for large |z| (pytest turns warnings into errors).
        e = np.exp(-np.abs(z))
        result: npt.NDArray[np.float64] = np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
        return result


class ChunkEncoder(Protocol):
    """What embeds a scorer's chunks: the shared MiniLM `Embedder`, or the `StaticEmbedder`."""

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]: ...


def head_paths(name: str, models_dir: Path = MODELS_DIR) -> tuple[Path, Path]:
    """The weights file and the model card of head `name`."""
    return models_dir / f"{name}.npz", models_dir / f"{name}.card.json"


_heads: dict[str, LinearHead] = {}
_heads_lock = threading.Lock()


def get_head(name: str) -> LinearHead:
    """Head `name` from the package's models folder, loaded once per process."""
    head = _heads.get(name)
    if head is None:
        with _heads_lock:
            head = _heads.get(name)
            if head is None:
                head = _heads[name] = LinearHead.load(name)
    return head


def pool_chunks(
    owners: Sequence[int], logits: Sequence[float], count: int, penalty: float = 0.0
) -> list[float | None]:
    """Per text (of `count`): the max of its chunks' logits, minus `penalty` * ln(its number of
    chunks); None for a text without chunks.

    The max of n chunk scores grows with n even when every chunk is benign (more draws, higher
    maximum), so a long ordinary answer would be flagged more often than a short one; the
    penalty takes that growth back (see `LinearHead.chunk_penalty`).
    """
    best: list[float | None] = [None] * count
    chunks = [0] * count
    for owner, z in zip(owners, logits, strict=True):
        current = best[owner]
        best[owner] = z if current is None else max(current, z)
        chunks[owner] += 1
    if penalty:
        for i, n in enumerate(chunks):
            current = best[i]
            if current is not None and n > 1:
                best[i] = current - penalty * math.log(n)
    return best


def sigmoid(z: float) -> float:
    # Split by sign so exp never overflows.
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def score_texts(
    head: LinearHead, texts: Sequence[str], encoder: ChunkEncoder | None = None
) -> list[float]:
    """The head's probability per text: from the max over the text's chunks (see `chunk_text`),
    less the head's `chunk_penalty` for a text of several chunks (`pool_chunks`).

    All chunks of all texts go to the shared embedder in one call, so they are batched together and
    cached for the other heads scoring the same texts. Blank texts score 0. `encoder`: another
    encoder than the shared MiniLM embedder, for a head trained on it.
    """
    owners, chunks = chunks_of(texts, skip_blank=True)
    if not chunks:
        return [0.0] * len(texts)
    vectors = (encoder or get_embedder()).embed(chunks)
    logits = head.decision_function(vectors, chunks)
    pooled = pool_chunks(owners, logits.tolist(), len(texts), head.chunk_penalty)
    return [0.0 if z is None else sigmoid(z) for z in pooled]


class HeadScorer(Scorer):
    """A SCORE metric: one trained head over the shared embedding, max over a text's chunks."""

    head_name: str
    kind = ValueKind.SCORE
    # ~5-10 ms of CPU per short text (the embedding): keep it off the event loop.
    execution = Execution.THREAD

    def score_batch(self, items: Sequence[ScorerInput]) -> Sequence[MetricValue]:
        return list(score_texts(get_head(self.head_name), [text for (text,) in items]))

    def warm_up(self) -> None:
        get_head(self.head_name)
        get_embedder().embed(["warm up"])


__all__ = [
    "CHAR_NGRAM_MAX_CHARS",
    "CHAR_NGRAM_RANGE",
    "DECISION_THRESHOLD",
    "HEAD_FORMAT",
    "MODELS_DIR",
    "CharNgrams",
    "ChunkEncoder",
    "HeadScorer",
    "LinearHead",
    "char_ngrams",
    "get_head",
    "head_paths",
    "pool_chunks",
    "score_texts",
    "sigmoid",
    "word_buckets",
]
