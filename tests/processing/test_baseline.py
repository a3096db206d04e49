"""Noise estimation and baseline correction on synthetic real spectra built here."""

from __future__ import annotations

import numpy as np
import pytest

from nmrpeak_cli.processing.baseline import baseline, estimate_noise

POINTS = 16384


def _axis() -> np.ndarray:
    return np.linspace(-1.0, 1.0, POINTS)


def _lorentzian(x: np.ndarray, centre: float, height: float, hwhm: float) -> np.ndarray:
    return height / (1.0 + ((x - centre) / hwhm) ** 2)


def _peaks(x: np.ndarray) -> np.ndarray:
    """Three lines about eight points wide (narrow against the baseline's segments)."""
    return sum(_lorentzian(x, c, h, 0.0005) for c, h in ((-0.6, 50.0), (0.1, 80.0), (0.7, 30.0)))


@pytest.mark.parametrize("sigma", [0.01, 0.1, 2.0])
def test_noise_of_pure_gaussian_noise_is_its_standard_deviation(sigma: float) -> None:
    noise = np.random.default_rng(0).normal(0.0, sigma, POINTS)
    estimate = estimate_noise(noise)
    assert 0.85 * sigma < estimate < 1.1 * sigma, f"sigma {sigma}: estimated {estimate}"


def test_noise_estimate_ignores_peaks_and_a_sloping_baseline() -> None:
    x = _axis()
    noise = np.random.default_rng(1).normal(0.0, 0.05, POINTS)
    spectrum = _peaks(x) + 3.0 * x + 1.0 + noise
    estimate = estimate_noise(spectrum)
    assert 0.85 * 0.05 < estimate < 1.15 * 0.05, f"peaks or slope inflate the noise: {estimate}"


def test_noise_of_a_noiseless_spectrum_is_tiny_but_positive() -> None:
    assert 0.0 < estimate_noise(np.zeros(POINTS)) < 1e-200, "all zeros: a tiny positive number"
    flat = estimate_noise(np.full(POINTS, 5.0))
    assert 0.0 < flat < 1e-9, f"a flat spectrum has no noise: {flat}"


def test_baseline_recovers_a_smooth_curve_under_peaks() -> None:
    x = _axis()
    sigma = 0.05
    curve = 2.0 + 1.5 * x - 0.8 * x**2 + 0.3 * x**3
    noise = np.random.default_rng(2).normal(0.0, sigma, POINTS)
    spectrum = curve + _peaks(x) + noise
    fitted = baseline(spectrum, estimate_noise(spectrum))
    assert fitted.shape == spectrum.shape, "one baseline value per point"
    away = np.ones(POINTS, dtype=bool)
    for centre in (-0.6, 0.1, 0.7):
        away &= np.abs(x - centre) > 0.05
    error = np.abs(fitted - curve)[away].max()
    assert error < sigma, f"baseline off the true curve by {error:.3f}"
    corrected = spectrum - fitted
    for centre in (-0.6, 0.1, 0.7):
        top = int(np.argmin(np.abs(x - centre)))
        lost = abs(corrected[top] - (spectrum - curve)[top])
        assert lost < sigma, f"peak at {centre}: height changed by {lost:.3f}"


def test_baseline_of_a_flat_spectrum_with_peaks_is_flat() -> None:
    x = _axis()
    sigma = 0.05
    spectrum = _peaks(x) + np.random.default_rng(3).normal(0.0, sigma, POINTS)
    fitted = baseline(spectrum, estimate_noise(spectrum))
    lift = np.abs(fitted).max()
    assert lift < sigma, f"peaks lift the baseline to {lift:.3f}"
