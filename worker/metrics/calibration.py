"""Calibrated scores: a fitted map from a detector's raw score to a probability.

Every score metric (toxicity, sexism, context adherence, completeness, injection's internal score)
is a probability calibrated on the realistic corpus's validation half, so a rule `gte 0.5` is a
sensible default and `gte 0.9` means high precision. The map is Platt's: sigmoid(a * raw + b),
with `raw` the detector's logit (or any monotone raw score); `a > 0` keeps the ranking, so AUC is
unchanged. Linear heads fold it into their weights at training time instead (the same map, no
run-time cost); this class is for scorers whose raw score is not a linear logit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Platt:
    a: float
    b: float

    def __post_init__(self) -> None:
        if not (self.a > 0 and math.isfinite(self.a) and math.isfinite(self.b)):
            raise ValueError(f"a calibration map must be increasing and finite: {self}")

    def __call__(self, raw: float) -> float:
        z = self.a * raw + self.b
        # Split by sign so exp never overflows.
        if z >= 0:
            return 1.0 / (1.0 + math.exp(-z))
        e = math.exp(z)
        return e / (1.0 + e)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Platt:
        return cls(float(data["a"]), float(data["b"]))

    def to_dict(self) -> dict[str, float]:
        return {"a": self.a, "b": self.b}


def logit(p: float, eps: float = 1e-6) -> float:
    """The log-odds of a probability, clipped away from 0 and 1."""
    p = min(max(p, eps), 1 - eps)
    return math.log(p / (1 - p))
