"""`input_tone` / `output_tone`: one of Galileo's nine tones, from a multinomial head over the
shared sentence embedding.

The head is trained on GoEmotions (Reddit comments, 27 emotions + neutral, Apache-2.0) with the
emotions folded into the nine tones (TONE_OF_EMOTION). Stored like the binary heads
(`models/tone.npz` + `models/tone.card.json`); written by `protect train tone`.
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
from worker.metrics.embedding import get_embedder
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


def tone_of(emotions: Sequence[str]) -> str | None:
    """The single tone of a GoEmotions example, or None when none of its emotions maps."""
    tones = {TONE_OF_EMOTION[e] for e in emotions if e in TONE_OF_EMOTION}
    return next((t for t in PRIORITY if t in tones), None)


@dataclass(frozen=True)
class ToneHead:
    weights: npt.NDArray[np.float64]  # (tones, dim)
    bias: npt.NDArray[np.float64]  # (tones,)
    labels: tuple[str, ...]
    card: dict[str, Any]

    @classmethod
    def load(cls, model: Path = MODEL, card: Path = CARD) -> ToneHead:
        with np.load(model) as arrays:
            labels = tuple(str(label) for label in arrays["labels"])
            return cls(
                arrays["weights"], arrays["bias"], labels, json.loads(card.read_text("utf-8"))
            )

    def predict(self, embeddings: npt.ArrayLike) -> list[str]:
        logits = np.asarray(embeddings, dtype=np.float64) @ self.weights.T + self.bias
        return [self.labels[i] for i in np.argmax(logits, axis=1)]


_head = Lazy(ToneHead.load)


def get_tone_head() -> ToneHead:
    return _head.get()


class _ToneScorer(Scorer):
    kind = ValueKind.LABEL
    labels = TONES
    execution = Execution.THREAD  # an embedding per text: milliseconds

    def score_batch(self, items: Sequence[ScorerInput]) -> Sequence[MetricValue]:
        embeddings = get_embedder().embed([text for (text,) in items])
        return list(get_tone_head().predict(embeddings))

    def warm_up(self) -> None:
        get_tone_head()
        get_embedder()


class InputTone(_ToneScorer):
    name = "input_tone"
    reads = (PayloadField.INPUT,)


class OutputTone(_ToneScorer):
    name = "output_tone"
    reads = (PayloadField.OUTPUT,)
