"""Statistics `protect eval` prints: intervals, ranking, calibration and operating thresholds.

The realistic test halves hold ~150 rows a metric, so every headline number comes with a 95 %
interval: Wilson's for proportions (precision, recall, accuracy, false-positive rate) and a
percentile bootstrap with a fixed seed for F1, AUC and the like (no closed form; the seed keeps
the printed interval the same run to run).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from typing import Final

# 95 % two-sided.
Z_95: Final = 1.959963984540054
BOOTSTRAP_ROUNDS: Final = 1000
BOOTSTRAP_SEED: Final = 20261206
# Ten equal-width bins: the usual ECE; with ~150 rows finer bins are mostly empty.
ECE_BINS: Final = 10

Interval = tuple[float, float]


def wilson(successes: int, n: int) -> Interval:
    """Wilson score interval of a proportion (sound at 0 and 1 and for small n)."""
    if n == 0:
        return (math.nan, math.nan)
    p = successes / n
    denominator = 1 + Z_95**2 / n
    centre = (p + Z_95**2 / (2 * n)) / denominator
    half = Z_95 * math.sqrt(p * (1 - p) / n + Z_95**2 / (4 * n * n)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def bootstrap(
    statistic: Callable[[Sequence[int]], float],
    n: int,
    *,
    rounds: int = BOOTSTRAP_ROUNDS,
    seed: int = BOOTSTRAP_SEED,
) -> Interval:
    """Percentile interval of `statistic(indices)` over resamples of range(n)."""
    if n == 0:
        return (math.nan, math.nan)
    rng = random.Random(seed)
    values = []
    for _ in range(rounds):
        value = statistic([rng.randrange(n) for _ in range(n)])
        if not math.isnan(value):
            values.append(value)
    if not values:
        return (math.nan, math.nan)
    values.sort()
    low = values[int(0.025 * (len(values) - 1))]
    high = values[math.ceil(0.975 * (len(values) - 1))]
    return (low, high)


def f1_of(truth: Sequence[bool], predicted: Sequence[bool]) -> float:
    tp = sum(1 for t, p in zip(truth, predicted, strict=True) if t and p)
    fp = sum(1 for t, p in zip(truth, predicted, strict=True) if p and not t)
    fn = sum(1 for t, p in zip(truth, predicted, strict=True) if t and not p)
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def f1_interval(truth: Sequence[bool], predicted: Sequence[bool]) -> Interval:
    return bootstrap(
        lambda idx: f1_of([truth[i] for i in idx], [predicted[i] for i in idx]), len(truth)
    )


def roc_auc(truth: Sequence[bool], scores: Sequence[float]) -> float:
    """AUC as the probability that a positive outranks a negative (ties count half)."""
    ranked = sorted(zip(scores, truth, strict=True))
    positives = sum(truth)
    negatives = len(truth) - positives
    if not positives or not negatives:
        return math.nan
    rank_sum = 0.0
    i = 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        average_rank = (i + j + 1) / 2  # 1-based ranks i+1..j
        rank_sum += average_rank * sum(1 for k in range(i, j) if ranked[k][1])
        i = j
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def auc_interval(truth: Sequence[bool], scores: Sequence[float]) -> Interval:
    return bootstrap(
        lambda idx: roc_auc([truth[i] for i in idx], [scores[i] for i in idx]), len(truth)
    )


def expected_calibration_error(
    truth: Sequence[bool], probabilities: Sequence[float], bins: int = ECE_BINS
) -> float:
    """Mean |observed rate - mean predicted probability| over equal-width bins, weighted by
    their share of the rows: 0 for perfectly calibrated scores."""
    if not truth:
        return math.nan
    totals = [0] * bins
    positives = [0] * bins
    predicted = [0.0] * bins
    for t, p in zip(truth, probabilities, strict=True):
        b = min(int(p * bins), bins - 1) if p > 0 else 0
        totals[b] += 1
        positives[b] += bool(t)
        predicted[b] += p
    n = len(truth)
    return sum(abs(positives[b] - predicted[b]) / n for b in range(bins) if totals[b])


def calibrated_ece_floor(
    probabilities: Sequence[float], *, rounds: int = 200, seed: int = BOOTSTRAP_SEED
) -> float:
    """The ECE a perfectly calibrated detector would show on average with these scores and this
    many rows (labels drawn as Bernoulli(score)): the sampling noise below which a measured
    ECE says nothing. On ~100 rows it is near 0.1, so a goal of 0.05 needs far larger sets."""
    if not probabilities:
        return math.nan
    rng = random.Random(seed)
    total = 0.0
    for _ in range(rounds):
        truth = [rng.random() < p for p in probabilities]
        total += expected_calibration_error(truth, probabilities)
    return total / rounds


def threshold_for_precision(
    truth: Sequence[bool], scores: Sequence[float], target: float
) -> float | None:
    """The lowest threshold t at which `score >= t` has precision >= target on these rows (the
    most recall at that precision), or None when no threshold reaches it."""
    pairs = sorted(zip(scores, truth, strict=True), reverse=True)
    best: float | None = None
    tp = fp = 0
    i = 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            tp += bool(pairs[j][1])
            fp += not pairs[j][1]
            j += 1
        if tp / (tp + fp) >= target:
            best = pairs[i][0]
        i = j
    return best
