"""The calibration map and its fit: recovers a known map, keeps the ranking, refuses nonsense."""

from __future__ import annotations

import random

import pytest

from worker.metrics.calibration import Platt, logit
from worker.metrics.evaluation.stats import calibrated_ece_floor, expected_calibration_error
from worker.metrics.training.calibration import fit_platt


def _sample(a: float, b: float, n: int, seed: int = 0) -> tuple[list[float], list[bool]]:
    rng = random.Random(seed)
    raw = [rng.gauss(0, 1.5) for _ in range(n)]
    truth = [rng.random() < Platt(a, b)(x) for x in raw]
    return raw, truth


def test_fit_recovers_the_map_that_generated_the_labels() -> None:
    raw, truth = _sample(2.0, -1.0, 4000)
    fitted = fit_platt(raw, truth)
    assert fitted.a == pytest.approx(2.0, rel=0.15)
    assert fitted.b == pytest.approx(-1.0, abs=0.2)


def test_calibrating_over_confident_scores_lowers_their_calibration_error() -> None:
    raw, truth = _sample(1.0, 0.5, 3000, seed=1)
    overconfident = [Platt(4.0, 0.0)(x) for x in raw]
    fitted = fit_platt([logit(p) for p in overconfident], truth)
    calibrated = [fitted(logit(p)) for p in overconfident]
    assert expected_calibration_error(truth, calibrated) < 0.03
    assert expected_calibration_error(truth, overconfident) > 0.1


def test_the_map_is_increasing_so_ranking_is_kept() -> None:
    raw, truth = _sample(1.5, 0.0, 500, seed=2)
    fitted = fit_platt(raw, truth)
    ordered = sorted(raw)
    mapped = [fitted(x) for x in ordered]
    assert mapped == sorted(mapped)
    assert 0.0 < fitted(-50.0) < fitted(50.0) < 1.0 + 1e-12


def test_a_score_that_ranks_backwards_or_one_class_only_is_refused() -> None:
    raw, truth = _sample(2.0, 0.0, 500, seed=3)
    with pytest.raises(ValueError, match="backwards"):
        fit_platt(raw, [not t for t in truth])
    with pytest.raises(ValueError, match="positive and negative"):
        fit_platt(raw, [True] * len(raw))
    with pytest.raises(ValueError, match="increasing"):
        Platt(-1.0, 0.0)


def test_round_trip_through_a_model_card() -> None:
    fitted = Platt(1.25, -0.5)
    assert Platt.from_dict(fitted.to_dict()) == fitted


def test_the_ece_floor_of_a_calibrated_score_shrinks_with_more_rows() -> None:
    # Labels drawn from the scores themselves: any ECE measured is sampling noise.
    rng = random.Random(4)
    small = [rng.random() for _ in range(90)]
    large = [rng.random() for _ in range(9000)]
    assert 0.05 < calibrated_ece_floor(small) < 0.2
    assert calibrated_ece_floor(large) < 0.02
