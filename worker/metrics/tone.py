"""`input_tone` / `output_tone`: one of Galileo's nine tones, from a multinomial head over the
shared sentence embedding and the text's character n-grams.

The head is trained on GoEmotions (Reddit comments, 27 emotions + neutral, Apache-2.0) with the
emotions folded into the nine tones (TONE_OF_EMOTION). It is a multinomial logistic regression on
the embedding plus a TF-IDF block of 20,000 character n-grams (`heads.CharNgrams`): emotion is
carried by words the sentence embedding blurs ("lol", "thanks", "wtf", "?!"), and the block raised
validation macro-F1 from 0.45 to 0.54 (training/tone.py). Per-tone biases were tuned on validation
for macro-F1 and folded into the stored bias. Stored as `models/tone.npz` + `models/tone.card.json`;
written by `protect train tone`. Scoring is numpy only (~0.3 ms beyond the embedding). A text
longer than a chunk is read as the mean of its sentence chunks' embeddings (`embed_by_chunks`):
the chunks toxicity and sexism already embedded, so tone adds no embedding of its own.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from worker.contract.rules import MetricValue
from worker.metrics.base import Execution, PayloadField, Scorer, ScorerInput, ValueKind
from worker.metrics.embedding import MODEL_SHA256, embed_by_chunks, get_embedder
from worker.metrics.heads import CharNgrams
from worker.metrics.loading import Lazy

TONES: Final = (
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
# GoEmotions emotion -> Galileo tone. Curiosity is left out: in an assistant's traffic nearly
# every question is curious, and calling them "confusion" would drown the label.
TONE_OF_EMOTION: Final[dict[str, str]] = {
    "anger": "anger",
    "disgust": "anger",
    "annoyance": "annoyance",
    "disapproval": "annoyance",
    "confusion": "confusion",
    "fear": "fear",
    "nervousness": "fear",
    "joy": "joy",
    "amusement": "joy",
    "excitement": "joy",
    "gratitude": "joy",
    "optimism": "joy",
    "pride": "joy",
    "relief": "joy",
    "love": "love",
    "admiration": "love",
    "caring": "love",
    "desire": "love",
    "sadness": "sadness",
    "disappointment": "sadness",
    "grief": "sadness",
    "remorse": "sadness",
    "embarrassment": "sadness",
    "surprise": "surprise",
    "realization": "surprise",
    "neutral": "neutral",
    "approval": "neutral",
}
# When a comment carries several emotions, the rarer and stronger tone names it.
PRIORITY: Final = (
    "fear",
    "sadness",
    "anger",
    "surprise",
    "confusion",
    "love",
    "annoyance",
    "joy",
    "neutral",
)
MODEL: Final = Path(__file__).parent / "models" / "tone.npz"
CARD: Final = Path(__file__).parent / "models" / "tone.card.json"


def tones_of(emotions: Sequence[str]) -> set[str]:
    """Every tone a GoEmotions example's emotions fold into (empty when none maps)."""
    return {TONE_OF_EMOTION[e] for e in emotions if e in TONE_OF_EMOTION}


def tone_of(emotions: Sequence[str]) -> str | None:
    """The single tone of a GoEmotions example, or None when none of its emotions maps."""
    tones = tones_of(emotions)
    return next((t for t in PRIORITY if t in tones), None)


@dataclass(frozen=True)
class ToneHead:
    """logits = embedding · weightsᵀ + char n-grams · char_weightsᵀ + bias; the argmax is the tone.

    The character block is optional, so a head saved before it existed (embedding only) loads.
    """

    weights: npt.NDArray[np.float64]  # (tones, dim)
    bias: npt.NDArray[np.float64]  # (tones,)
    labels: tuple[str, ...]
    card: dict[str, Any]
    char_weights: npt.NDArray[np.float64] | None = None  # (tones, n-grams)
    chars: CharNgrams | None = None

    @classmethod
    def load(cls, model: Path = MODEL, card: Path = CARD) -> ToneHead:
        with np.load(model, allow_pickle=False) as arrays:
            labels = tuple(str(label) for label in arrays["labels"])
            # Heads from before the digest was stored carry none; any digest stored must match.
            if "embedder_sha256" in arrays.files and str(arrays["embedder_sha256"]) != MODEL_SHA256:
                raise ValueError(
                    f"{model} was trained on another embedding model; retrain it: "
                    "python -m worker.metrics.training.tone"
                )
            char_weights = chars = None
            if "char_weights" in arrays.files:
                char_weights = np.asarray(arrays["char_weights"], dtype=np.float64)
                chars = CharNgrams.from_arrays(arrays)
                if char_weights.shape != (len(labels), len(chars)):
                    raise ValueError(f"{model}: char weights of shape {char_weights.shape}")
            return cls(
                np.asarray(arrays["weights"], dtype=np.float64),
                np.asarray(arrays["bias"], dtype=np.float64),
                labels,
                json.loads(card.read_text("utf-8")),
                char_weights,
                chars,
            )

    def logits(
        self, embeddings: npt.ArrayLike, texts: Sequence[str] | None = None
    ) -> npt.NDArray[np.float64]:
        """Shape (n, tones). `texts`: needed when the head has a character block."""
        z: npt.NDArray[np.float64] = (
            np.asarray(embeddings, dtype=np.float64) @ self.weights.T + self.bias
        )
        if self.chars is not None and self.char_weights is not None:
            if texts is None or len(texts) != len(z):
                raise ValueError("the tone head reads character n-grams too: pass the texts")
            for i, text in enumerate(texts):
                indices, values = self.chars.features(text)
                z[i] += self.char_weights[:, indices] @ values
        return z

    def predict(self, embeddings: npt.ArrayLike, texts: Sequence[str] | None = None) -> list[str]:
        return [self.labels[i] for i in np.argmax(self.logits(embeddings, texts), axis=1)]


_head = Lazy(ToneHead.load)


def get_tone_head() -> ToneHead:
    return _head.get()


class _ToneScorer(Scorer):
    kind = ValueKind.LABEL
    labels = TONES
    execution = Execution.THREAD  # an embedding per text: milliseconds

    def score_batch(self, items: Sequence[ScorerInput]) -> Sequence[MetricValue]:
        texts = [text for (text,) in items]
        return list(get_tone_head().predict(embed_by_chunks(texts), texts))

    def warm_up(self) -> None:
        get_tone_head()
        get_embedder()


class InputTone(_ToneScorer):
    name = "input_tone"
    reads = (PayloadField.INPUT,)


class OutputTone(_ToneScorer):
    name = "output_tone"
    reads = (PayloadField.OUTPUT,)
