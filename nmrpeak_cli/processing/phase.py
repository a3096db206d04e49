"""Phase correction: apply a zero/first-order phase, and find one automatically.

The automatic method works from the peaks: at the top of a Lorentzian line the complex
spectrum is real in absorption mode, so the phase there is the phase error at that
frequency. The tallest magnitude peaks give phase samples; a grid search over the first-order
phase (circular weighted fit, mildly penalizing large first-order phases) gives both phases,
which an entropy minimization (ACME, Chen et al. 2002) over the whole spectrum then refines.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, signal


def apply_phase(spectrum: np.ndarray, p0_deg: float, p1_deg: float) -> np.ndarray:
    """Multiply by ``exp(i(p0 + p1·(x - 0.5)))``, ``x = index / size`` (pivot at the centre)."""
    x = np.arange(spectrum.shape[-1]) / spectrum.shape[-1] - 0.5
    return spectrum * np.exp(1j * np.deg2rad(p0_deg + p1_deg * x))


def autophase(
    spectrum: np.ndarray, *, max_p1_deg: float = 720.0, max_peaks: int = 64
) -> tuple[float, float]:
    """Zero- and first-order phase (degrees) that put ``spectrum`` in absorption mode.

    Parameters
    ----------
    spectrum
        Complex spectrum (index 0 = highest frequency).
    max_p1_deg
        First-order phases searched: ``[-max_p1_deg, max_p1_deg]``.
    max_peaks
        Number of tallest magnitude peaks used for the initial estimate.

    Returns
    -------
    p0_deg, p1_deg
        Phases to pass to :func:`apply_phase`.
    """
    size = spectrum.shape[-1]
    magnitude = np.abs(spectrum)
    floor = np.median(magnitude)
    peaks, _ = signal.find_peaks(magnitude, height=20 * floor, distance=max(3, size // 4096))
    if peaks.size == 0:
        return 0.0, 0.0
    peaks = peaks[np.argsort(magnitude[peaks])[::-1][:max_peaks]]
    angles = np.angle(spectrum[peaks])
    weights = magnitude[peaks]
    x = peaks / size - 0.5
    p1_grid = np.deg2rad(np.arange(-max_p1_deg, max_p1_deg + 0.5, 1.0))
    if peaks.size < 3:
        p1_grid = np.zeros(1)
    resultant = (weights[None, :] * np.exp(1j * (angles[None, :] - p1_grid[:, None] * x))).sum(1)
    score = np.abs(resultant) / weights.sum() - 0.02 * np.abs(p1_grid) / np.pi
    best = int(np.argmax(score))
    p0 = -np.angle(resultant[best])
    p1 = -p1_grid[best]
    return _refine(spectrum, float(np.rad2deg(p0)), float(np.rad2deg(p1)))


def autophase_signed(spectrum: np.ndarray, *, max_p1_deg: float = 720.0) -> tuple[float, float]:
    """Zero- and first-order phase of a spectrum whose lines may be negative (DEPT-135).

    The peak-phase estimate of :func:`autophase` on doubled angles (a line and its inverse
    give the same doubled angle), refined by minimizing the entropy of the derivative alone;
    the result is defined up to 180°: orient it afterwards.
    """
    size = spectrum.shape[-1]
    magnitude = np.abs(spectrum)
    peaks, _ = signal.find_peaks(
        magnitude, height=20 * np.median(magnitude), distance=max(3, size // 4096)
    )
    if peaks.size == 0:
        return 0.0, 0.0
    peaks = peaks[np.argsort(magnitude[peaks])[::-1][:64]]
    x = peaks / size - 0.5
    p1_grid = np.deg2rad(np.arange(-max_p1_deg, max_p1_deg + 0.5, 1.0))
    if peaks.size < 3:
        p1_grid = np.zeros(1)
    doubled = 2 * (np.angle(spectrum[peaks])[None, :] - p1_grid[:, None] * x)
    resultant = (magnitude[peaks][None, :] * np.exp(1j * doubled)).sum(axis=1)
    best = int(np.argmax(np.abs(resultant) - 0.02 * np.abs(p1_grid) / np.pi))
    p0, p1 = -np.angle(resultant[best]) / 2, -p1_grid[best]
    step = max(1, size // 8192)
    data = spectrum[::step]
    xs = np.arange(data.size) / data.size - 0.5

    def cost(phases: np.ndarray) -> float:
        phased = (data * np.exp(1j * np.deg2rad(phases[0] + phases[1] * xs))).real
        derivative = np.abs(np.diff(phased))
        h = derivative / (derivative.sum() + 1e-300)
        return float(-np.sum(h * np.log(h + 1e-300)))

    start = np.array([np.rad2deg(p0), np.rad2deg(p1)])
    result = optimize.minimize(
        cost, start, method="Nelder-Mead", options={"xatol": 0.5, "fatol": 1e-7}
    )
    return float(result.x[0]), float(result.x[1])


def whole_point_delay(spectrum: np.ndarray, *, max_points: int = 64, max_peaks: int = 64) -> int:
    """Whole dwell times by which the FID of ``spectrum`` started late (negative: early).

    A FID delayed by ``k`` points needs a first-order phase of ``360° · k``; ``k`` is the
    integer in ``[-max_points, max_points]`` whose phase ramp makes the phases of the tallest
    magnitude peaks most coherent (the zero-order phase is free), less 0.005 per point.
    """
    size = spectrum.shape[-1]
    magnitude = np.abs(spectrum)
    peaks, _ = signal.find_peaks(
        magnitude, height=20 * np.median(magnitude), distance=max(3, size // 4096)
    )
    if peaks.size < 3:
        return 0
    peaks = peaks[np.argsort(magnitude[peaks])[::-1][:max_peaks]]
    ks = np.arange(-max_points, max_points + 1)
    ramp = np.exp(
        1j * (np.angle(spectrum[peaks])[None, :] + 2 * np.pi * ks[:, None] * (peaks / size))
    )
    weights = magnitude[peaks]
    coherence = np.abs((weights[None, :] * ramp).sum(axis=1)) / weights.sum()
    # peaks in a few clusters alias: prefer the smallest delay of similar coherence
    return int(ks[int(np.argmax(coherence - 0.005 * np.abs(ks)))])


def _refine(spectrum: np.ndarray, p0_deg: float, p1_deg: float) -> tuple[float, float]:
    """ACME entropy minimization started from the peak-phase estimate, on a decimated copy.

    The phase of a decimated point is the phase at the same fractional position, so p1
    carries over unchanged.
    """
    step = max(1, spectrum.shape[-1] // 8192)
    data = spectrum[::step]
    real, imag = data.real, data.imag
    x = np.arange(data.size) / data.size - 0.5

    def cost(phases: np.ndarray) -> float:
        angle = np.deg2rad(phases[0] + phases[1] * x)
        phased = real * np.cos(angle) - imag * np.sin(angle)
        derivative = np.abs(np.diff(phased))
        h = derivative / (derivative.sum() + 1e-300)
        entropy = -np.sum(h * np.log(h + 1e-300))
        negative = np.sum(np.minimum(phased, 0.0) ** 2) / (np.sum(phased**2) + 1e-300)
        return float(entropy + 1000.0 * negative)

    result = optimize.minimize(
        cost,
        np.array([p0_deg, p1_deg]),
        method="Nelder-Mead",
        options={"xatol": 0.5, "fatol": 1e-6, "initial_simplex": _simplex(p0_deg, p1_deg)},
    )
    p0, p1 = (float(v) for v in result.x)
    return (p0 + 180.0) % 360.0 - 180.0, p1


def _simplex(p0_deg: float, p1_deg: float) -> np.ndarray:
    return np.array([[p0_deg, p1_deg], [p0_deg + 5.0, p1_deg], [p0_deg, p1_deg + 5.0]])
