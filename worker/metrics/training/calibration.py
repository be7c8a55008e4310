"""Fitting the calibration map (worker/metrics/calibration.py) on labelled raw scores.

Platt scaling: a one-feature logistic regression of the label on the raw score, fitted by Newton's
method with a weak prior (Platt's target smoothing: labels (n+ + 1)/(n+ + 2) and 1/(n- + 2)),
which keeps the map sane on the ~150-row validation halves and when they separate perfectly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from worker.metrics.calibration import Platt

_ITERATIONS = 100
_TOLERANCE = 1e-10


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1 / (1 + math.exp(-z))
    e = math.exp(z)
    return e / (1 + e)


def _loss(raw: Sequence[float], targets: Sequence[float], a: float, b: float) -> float:
    total = 0.0
    for x, t in zip(raw, targets, strict=True):
        z = a * x + b
        # log(1 + e^z) - t z, computed without overflow.
        total += (z if z > 0 else 0.0) + math.log1p(math.exp(-abs(z))) - t * z
    return total


def fit_platt(raw: Sequence[float], truth: Sequence[bool]) -> Platt:
    """The map sigmoid(a * raw + b) that best predicts `truth` (a > 0 enforced)."""
    positives = sum(truth)
    negatives = len(truth) - positives
    if not positives or not negatives:
        raise ValueError("calibration needs positive and negative examples")
    high = (positives + 1) / (positives + 2)
    low = 1 / (negatives + 2)
    targets = [high if t else low for t in truth]
    a, b = 0.0, math.log((positives + 1) / (negatives + 1))
    loss = _loss(raw, targets, a, b)
    for _ in range(_ITERATIONS):
        # Gradient and Hessian of the cross-entropy in (a, b).
        ga = gb = haa = hab = hbb = 0.0
        for x, t in zip(raw, targets, strict=True):
            p = _sigmoid(a * x + b)
            d = p - t
            w = max(p * (1 - p), 1e-12)
            ga += d * x
            gb += d
            haa += w * x * x
            hab += w * x
            hbb += w
        det = haa * hbb - hab * hab
        if abs(det) < 1e-18:
            break
        step_a = (hbb * ga - hab * gb) / det
        step_b = (haa * gb - hab * ga) / det
        # Backtracking (Lin, Lin & Weng's Platt fit): a full Newton step can overshoot and
        # diverge when the scores are far from calibrated.
        scale = 1.0
        while scale > 1e-10:
            trial = _loss(raw, targets, a - scale * step_a, b - scale * step_b)
            if trial <= loss:
                break
            scale /= 2
        else:
            break
        a, b, loss = a - scale * step_a, b - scale * step_b, trial
        if scale * (abs(step_a) + abs(step_b)) < _TOLERANCE:
            break
    # A decreasing map would invert the detector's ranking: the raw score is then useless on
    # this data, which is a training problem to surface, not to hide.
    if not a > 0:
        raise ValueError(f"the raw score ranks the labels backwards on this data (a = {a:.3g})")
    return Platt(a, b)
