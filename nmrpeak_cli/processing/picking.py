"""Line picking on a real spectrum: local maxima above a signal-to-noise threshold."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal


@dataclass(frozen=True, slots=True)
class Lines:
    """Picked lines, highest shift first (parallel read-only arrays).

    Attributes
    ----------
    ppm
        Line positions (parabolic interpolation of the top three points), ppm.
    height
        Interpolated heights, spectrum units.
    snr
        ``height / noise``.
    width_hz
        Full width at half height, Hz.
    """

    ppm: np.ndarray
    height: np.ndarray
    snr: np.ndarray
    width_hz: np.ndarray

    def __len__(self) -> int:
        return int(self.ppm.size)

    def take(self, mask: np.ndarray) -> Lines:
        """The lines where ``mask`` (boolean or index array) selects."""
        return Lines(self.ppm[mask], self.height[mask], self.snr[mask], self.width_hz[mask])


def pick_lines(
    ppm: np.ndarray,
    spectrum: np.ndarray,
    noise: float,
    observe_mhz: float,
    *,
    min_snr: float,
    min_relative: float = 0.0,
) -> Lines:
    """Local maxima of ``spectrum`` that stand out from the noise.

    Parameters
    ----------
    ppm
        Shift of each point (decreasing), ppm.
    spectrum
        Real, phased, baseline-corrected spectrum.
    noise
        Noise standard deviation (:func:`~nmrpeak_cli.processing.baseline.estimate_noise`).
    observe_mhz
        Spectrometer frequency of the nucleus, MHz (for widths in Hz).
    min_snr
        Minimum height and prominence, in noise deviations.
    min_relative
        Minimum height as a fraction of the tallest line.

    Returns
    -------
    Lines
        The picked lines, highest shift first.
    """
    y = np.asarray(spectrum, dtype=np.float64)
    threshold = min_snr * noise
    if y.size < 3 or y.max() <= threshold:
        empty = np.zeros(0)
        return Lines(empty, empty, empty, empty)
    height = max(threshold, min_relative * float(y.max()))
    index, _ = signal.find_peaks(y, height=height, prominence=min(threshold, height))
    index = index[(index > 0) & (index < y.size - 1)]
    left, centre, right = y[index - 1], y[index], y[index + 1]
    curvature = left - 2 * centre + right
    delta = np.where(curvature < 0, 0.5 * (left - right) / np.where(curvature < 0, curvature, 1), 0)
    delta = np.clip(delta, -0.5, 0.5)
    peak_height = centre - 0.25 * (left - right) * delta
    step_ppm = float(ppm[0] - ppm[1])
    position = ppm[index] - delta * step_ppm
    widths = signal.peak_widths(y, index, rel_height=0.5)[0]
    hz_per_point = abs(step_ppm) * observe_mhz
    return Lines(
        _ro(position), _ro(peak_height), _ro(peak_height / noise), _ro(widths * hz_per_point)
    )


def _ro(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array, dtype=np.float64)
    array.setflags(write=False)
    return array
