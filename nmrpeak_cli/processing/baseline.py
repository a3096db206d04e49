"""Noise estimation and baseline correction of a real (phased) spectrum."""

from __future__ import annotations

import numpy as np

_SEGMENTS = 128


def estimate_noise(spectrum: np.ndarray, segments: int = _SEGMENTS) -> float:
    """Standard deviation of the noise of a real spectrum.

    The spectrum is cut into ``segments`` pieces; in each the standard deviation around a
    straight line is computed, and the 25th percentile over pieces is returned, so pieces
    holding peaks (or baseline curvature) do not inflate the estimate. Returns a tiny positive
    number for a noiseless spectrum.
    """
    y = np.asarray(spectrum, dtype=np.float64)
    usable = y.size - y.size % segments
    pieces = y[:usable].reshape(segments, -1)
    x = np.linspace(-1.0, 1.0, pieces.shape[1])
    slope = pieces @ x / (x @ x)
    residual = pieces - pieces.mean(axis=1, keepdims=True) - slope[:, None] * x[None, :]
    noise = float(np.percentile(residual.std(axis=1), 25))
    scale = float(np.max(np.abs(y))) if y.size else 1.0
    return max(noise, 1e-12 * max(scale, 1e-300))


def baseline(
    spectrum: np.ndarray, noise: float, *, order: int = 5, iterations: int = 30
) -> np.ndarray:
    """Smooth baseline under a real spectrum with positive peaks.

    Segment medians (robust to narrow peaks) are fitted with a Chebyshev polynomial of
    ``order``; points more than two noise deviations above the fit are clipped to it and the
    fit is repeated (modified polynomial fit, Lieber & Mahadevan-Jansen 2003) until stable.

    Returns
    -------
    numpy.ndarray
        The baseline, same length as ``spectrum``; subtract it.
    """
    y = np.asarray(spectrum, dtype=np.float64)
    segments = min(1024, max(16, y.size // 32))
    usable = y.size - y.size % segments
    pieces = y[:usable].reshape(segments, -1)
    width = pieces.shape[1]
    x_all = np.linspace(-1.0, 1.0, y.size)
    x = x_all[:usable].reshape(segments, -1).mean(axis=1)
    target = np.median(pieces, axis=1)
    fit = target
    for _ in range(iterations):
        coefficients = np.polynomial.chebyshev.chebfit(x, target, order)
        fit = np.polynomial.chebyshev.chebval(x, coefficients)
        clipped = np.minimum(target, fit + 2.0 * noise / np.sqrt(width))
        if np.allclose(clipped, target):
            break
        target = clipped
    return np.polynomial.chebyshev.chebval(x_all, coefficients)
