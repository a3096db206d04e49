"""Logistic fits and calibration metrics."""

from __future__ import annotations

import numpy as np
import pytest

from nmrpeak_cli.calibration import expected_calibration_error, fit_logistic, reliability


def test_fit_logistic_recovers_a_known_model() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=4000)
    y = rng.random(4000) < 1 / (1 + np.exp(-(2.0 * x - 1.0)))
    weights, bias = fit_logistic([{"x": v} for v in x], y, ["x"])
    assert weights["x"] == pytest.approx(2.0, abs=0.25), weights
    assert bias == pytest.approx(-1.0, abs=0.2), bias


def test_fit_logistic_rejects_one_class() -> None:
    with pytest.raises(ValueError, match="both positive and negative"):
        fit_logistic([{"x": 1.0}, {"x": 2.0}], [1, 1], ["x"])
    with pytest.raises(ValueError, match="2 feature rows but 1 labels"):
        fit_logistic([{"x": 1.0}, {"x": 2.0}], [1], ["x"])


def test_perfectly_calibrated_bins_have_zero_ece() -> None:
    confidence = [0.25] * 4 + [0.75] * 4
    correct = [True, False, False, False, True, True, True, False]
    assert expected_calibration_error(confidence, correct) == pytest.approx(0.0)
    table = reliability(confidence, correct)
    assert [row["n"] for row in table] == [4, 4], table
    assert [row["accuracy"] for row in table] == [0.25, 0.75], table


def test_overconfidence_shows_in_the_ece() -> None:
    ece = expected_calibration_error([0.95] * 10, [True] * 5 + [False] * 5)
    assert ece == pytest.approx(0.45), ece
    assert expected_calibration_error([], []) == 0.0, "no samples: no error"


def test_conditional_logit_learns_which_feature_marks_the_right_member() -> None:
    from nmrpeak_cli.calibration import fit_conditional_logit

    rng = np.random.default_rng(1)
    groups, right = [], []
    for _ in range(200):
        x = rng.normal(size=4)
        noise = rng.normal(size=4)
        groups.append(
            [{"signal": float(a), "noise": float(b)} for a, b in zip(x, noise, strict=True)]
        )
        right.append(int(np.argmax(x + 0.3 * rng.normal(size=4))))
    weights = fit_conditional_logit(groups, right, ["signal", "noise"])
    assert weights["signal"] > 2.0 > abs(weights["noise"]) * 4, weights
    with pytest.raises(ValueError, match="1 groups but 2 right answers"):
        fit_conditional_logit(groups[:1], [0, 1], ["signal"])


def test_isotonic_knots_are_monotone_blocks_of_enough_samples() -> None:
    from nmrpeak_cli.calibration import fit_isotonic

    rng = np.random.default_rng(0)
    p = rng.random(2000)
    y = rng.random(2000) < p**2  # over-confident probabilities
    xs, ys = fit_isotonic(p, y, min_block=50)
    assert list(xs) == sorted(xs) and list(ys) == sorted(ys)
    assert all(0.0 < v < 1.0 for v in ys)
    assert len(xs) <= 2000 // 50
    middle = int(np.searchsorted(xs, 0.5))
    assert ys[middle] < 0.45, "the recalibration lowers over-confident probabilities"
    with pytest.raises(ValueError):
        fit_isotonic([0.5], [1, 0])
