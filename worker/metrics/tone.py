"""`input_tone` / `output_tone`: one of Galileo's nine tones, from linear heads over the shared
sentence embedding and the text's character n-grams.

The head (`ToneHead`) is a register mixture written by `protect train tone`
(`training/tone.py`, which says why and what was measured): a *chat* head fitted on our written
chat messages and assistant replies (`training-data/tone.jsonl`, the project's conventions: a
plain question is neutral, a polite reminder is annoyance, thanks for help are joy) together with
GoEmotions (Reddit comments, Apache-2.0, emotions folded into the tones by TONE_OF_EMOTION); a
*reddit* head on GoEmotions alone (its raters' conventions, per-tone offsets tuned on its
validation split); and a *gate*, the probability that a text is chat rather than a Reddit-style
comment, which mixes the two heads' probabilities. The tone is the argmax of the mixture; the
probabilities are calibrated (temperatures folded into the stored rows), and
`ToneHead.probabilities` serves them. Both heads read a TF-IDF block of 20,000 character n-grams
(`heads.CharNgrams`): emotion is carried by words the sentence embedding blurs ("lol", "thanks",
"wtf", "?!"). Stored as `models/tone.npz` + `models/tone.card.json`. Scoring is numpy only
(~1 ms beyond the embedding). A text longer than a chunk is read as the mean of its sentence
chunks' embeddings (`embed_by_chunks`): the chunks toxicity and sexism already embedded, so tone
adds no embedding of its own.
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


# The parts of a register-mixture head (`ToneHead`), in the order their rows are stacked.
PARTS: Final = ("chat", "reddit", "gate")


def _softmax(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    result: npt.NDArray[np.float64] = e / e.sum(axis=1, keepdims=True)
    return result


def _sigmoid(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    # exp of at most 0: no overflow warnings for large |z| (pytest turns warnings into errors).
    e = np.exp(-np.abs(z))
    result: npt.NDArray[np.float64] = np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return result


@dataclass(frozen=True)
class ToneHead:
    """Linear rows over the embedding and the character n-grams:
    rows = embedding · weightsᵀ + char n-grams · char_weightsᵀ + bias.

    A single head has one row per tone; its tone probabilities are their softmax. A register
    mixture (`training/tone.py`) stacks 2 * tones + 1 rows: the *chat* head (tones as the
    project's conventions name them in messages to and from an assistant), the *reddit* head
    (GoEmotions' raters' conventions) and a *gate*, the log-odds that the text is chat rather
    than a Reddit-style comment. Its probabilities are
        gate · softmax(chat) + (1 - gate) · softmax(reddit),
    each part's temperature folded into its rows, so they are calibrated class probabilities;
    the tone is their argmax. The character block is optional, so a head saved before it
    existed (embedding only) loads.
    """

    weights: npt.NDArray[np.float64]  # (rows, dim)
    bias: npt.NDArray[np.float64]  # (rows,)
    labels: tuple[str, ...]
    card: dict[str, Any]
    char_weights: npt.NDArray[np.float64] | None = None  # (rows, n-grams)
    chars: CharNgrams | None = None

    @property
    def mixture(self) -> bool:
        return len(self.bias) == 2 * len(self.labels) + 1

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
            # A mixture stores each part under its own prefix ("chat_weights", ...); a single
            # head (before 2026-12) stores "weights", "bias" and maybe "char_weights".
            prefixes = [f"{part}_" for part in PARTS] if "chat_weights" in arrays.files else [""]
            weights = np.vstack(
                [np.asarray(arrays[f"{p}weights"], dtype=np.float64) for p in prefixes]
            )
            bias = np.concatenate(
                [np.atleast_1d(np.asarray(arrays[f"{p}bias"], dtype=np.float64)) for p in prefixes]
            )
            char_weights = chars = None
            if f"{prefixes[0]}char_weights" in arrays.files:
                char_weights = np.vstack(
                    [np.asarray(arrays[f"{p}char_weights"], dtype=np.float64) for p in prefixes]
                )
                chars = CharNgrams.from_arrays(arrays)
            head = cls(
                weights,
                bias,
                labels,
                json.loads(card.read_text("utf-8")),
                char_weights,
                chars,
            )
        rows = len(head.bias)
        if rows not in (len(labels), 2 * len(labels) + 1) or weights.shape[0] != rows:
            raise ValueError(f"{model}: {weights.shape[0]} weight rows, {rows} biases")
        if (
            chars is not None
            and char_weights is not None
            and char_weights.shape
            != (
                rows,
                len(chars),
            )
        ):
            raise ValueError(f"{model}: char weights of shape {char_weights.shape}")
        return head

    def logits(
        self, embeddings: npt.ArrayLike, texts: Sequence[str] | None = None
    ) -> npt.NDArray[np.float64]:
        """The linear rows, shape (n, rows). `texts`: needed when the head has a character
        block."""
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

    def probabilities(
        self, embeddings: npt.ArrayLike, texts: Sequence[str] | None = None
    ) -> npt.NDArray[np.float64]:
        """Each text's probability of each tone, shape (n, tones); rows sum to 1."""
        z = self.logits(embeddings, texts)
        k = len(self.labels)
        if not self.mixture:
            return _softmax(z)
        gate = _sigmoid(z[:, 2 * k])[:, None]
        mixed: npt.NDArray[np.float64] = gate * _softmax(z[:, :k]) + (1 - gate) * _softmax(
            z[:, k : 2 * k]
        )
        return mixed

    def predict(self, embeddings: npt.ArrayLike, texts: Sequence[str] | None = None) -> list[str]:
        return [self.labels[i] for i in np.argmax(self.probabilities(embeddings, texts), axis=1)]


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
