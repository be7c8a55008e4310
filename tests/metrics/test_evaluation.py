"""Splits are fixed per example and proportioned as documented."""

from __future__ import annotations

from collections import Counter

from worker.metrics.evaluation import (
    TRAIN_FRACTION,
    VALIDATION_FRACTION,
    binary_scores,
    false_positive_rate,
    split_of,
)


def test_splits_are_deterministic_and_proportioned() -> None:
    keys = [f"example {i}" for i in range(20_000)]
    first = [split_of(k) for k in keys]
    assert first == [split_of(k) for k in reversed(keys)][::-1]  # order does not matter
    counts = Counter(first)
    assert abs(counts["train"] / len(keys) - TRAIN_FRACTION) < 0.02
    assert abs(counts["validation"] / len(keys) - VALIDATION_FRACTION) < 0.02
    assert split_of("x", seed="other") in ("train", "validation", "test")


def test_binary_scores_and_fpr() -> None:
    truth = [True, True, False, False]
    predicted = [True, False, True, False]
    assert binary_scores(truth, predicted) == (0.5, 0.5, 0.5)
    assert binary_scores([False], [False]) == (0.0, 0.0, 0.0)
    assert false_positive_rate([True, False, False, False]) == 0.25
