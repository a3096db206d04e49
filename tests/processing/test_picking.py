"""Line picking on synthetic Lorentzian spectra built here."""

from __future__ import annotations

import numpy as np
import pytest

from nmrpeak_cli.processing.picking import Lines, pick_lines

OBSERVE_MHZ = 400.0
PPM = np.linspace(10.0, 0.0, 16384)  # decreasing, as the pipeline gives it
STEP_PPM = float(PPM[0] - PPM[1])
HWHM_PPM = 0.005  # full width at half height 0.01 ppm = 4 Hz at 400 MHz


def _spectrum(lines: list[tuple[float, float]], sigma: float = 0.0, seed: int = 0) -> np.ndarray:
    y = np.zeros_like(PPM)
    for centre, height in lines:
        y += height / (1.0 + ((PPM - centre) / HWHM_PPM) ** 2)
    return y + np.random.default_rng(seed).normal(0.0, sigma, PPM.size)


def test_lines_are_found_at_their_shift_height_and_width() -> None:
    truth = [(1.2345, 5.0), (7.2611, 10.0)]
    sigma = 0.01
    lines = pick_lines(PPM, _spectrum(truth, sigma), sigma, OBSERVE_MHZ, min_snr=10)
    assert len(lines) == 2, f"two lines expected, got {lines.ppm}"
    assert lines.ppm.tolist() == sorted(lines.ppm.tolist(), reverse=True), "highest shift first"
    for got, height, snr, width, (shift, true_height) in zip(
        lines.ppm, lines.height, lines.snr, lines.width_hz, sorted(truth, reverse=True),
        strict=True,
    ):  # fmt: skip
        assert abs(got - shift) < STEP_PPM / 4, f"{got} vs {shift}: off by more than 1/4 point"
        assert abs(height - true_height) < 0.02 * true_height, f"height {height} vs {true_height}"
        assert snr == pytest.approx(height / sigma), "snr is height over noise"
        assert width == pytest.approx(2 * HWHM_PPM * OBSERVE_MHZ, rel=0.1), f"width {width} Hz"


def test_interpolation_beats_the_grid() -> None:
    centre = float(PPM[5000] - 0.37 * STEP_PPM)  # between two points
    lines = pick_lines(PPM, _spectrum([(centre, 1.0)]), 1e-3, OBSERVE_MHZ, min_snr=5)
    assert len(lines) == 1
    assert abs(lines.ppm[0] - centre) < 0.1 * STEP_PPM, "parabolic interpolation of the top"
    assert abs(lines.ppm[0] - PPM[5000]) > 0.2 * STEP_PPM, "not snapped to the grid"


def test_lines_below_the_snr_threshold_are_dropped() -> None:
    sigma = 0.01
    spectrum = _spectrum([(8.0, 1.0), (4.0, 0.03)], sigma, seed=1)  # snr 100 and 3
    lines = pick_lines(PPM, spectrum, sigma, OBSERVE_MHZ, min_snr=8)
    assert len(lines) == 1 and abs(lines.ppm[0] - 8.0) < 0.001, lines.ppm


def test_min_relative_drops_lines_small_against_the_tallest() -> None:
    spectrum = _spectrum([(8.0, 100.0), (5.0, 4.0), (2.0, 20.0)])
    kept = pick_lines(PPM, spectrum, 0.01, OBSERVE_MHZ, min_snr=5, min_relative=0.1)
    assert np.round(kept.ppm, 2).tolist() == [8.0, 2.0], "4 % of the tallest is dropped"
    every = pick_lines(PPM, spectrum, 0.01, OBSERVE_MHZ, min_snr=5)
    assert np.round(every.ppm, 2).tolist() == [8.0, 5.0, 2.0]


@pytest.mark.parametrize(
    "spectrum",
    [np.zeros(PPM.size), np.full(PPM.size, 0.01), np.array([0.0, 5.0])],
    ids=["zeros", "below-threshold", "too-short"],
)
def test_nothing_to_pick_gives_empty_lines(spectrum: np.ndarray) -> None:
    lines = pick_lines(PPM[: spectrum.size], spectrum, 0.01, OBSERVE_MHZ, min_snr=5)
    assert len(lines) == 0 and lines.ppm.size == lines.width_hz.size == 0


def test_lines_are_read_only_and_take_selects() -> None:
    lines = pick_lines(PPM, _spectrum([(9.0, 3.0), (6.0, 2.0), (3.0, 1.0)]), 0.01, 400, min_snr=5)
    with pytest.raises(ValueError, match="read-only"):
        lines.ppm[0] = 0.0
    chosen = lines.take(np.array([True, False, True]))
    assert isinstance(chosen, Lines) and np.round(chosen.ppm, 2).tolist() == [9.0, 3.0]
    assert chosen.height.tolist() == [lines.height[0], lines.height[2]], "arrays stay parallel"
    assert lines.take(np.array([1])).ppm.tolist() == [lines.ppm[1]], "index arrays work too"
