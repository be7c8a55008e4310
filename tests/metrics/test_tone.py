"""Tone: the nine Galileo labels from the trained head, on clear examples."""

from __future__ import annotations

import pytest

from worker.metrics.base import ValueKind
from worker.metrics.builtin import default_registry
from worker.metrics.tone import TONES, InputTone, OutputTone, get_tone_head, tone_of


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
