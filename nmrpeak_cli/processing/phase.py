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
    peaks = magnitude_peaks(spectrum, max_peaks=max_peaks)
    if peaks.size == 0:
        return 0.0, 0.0
    angles = np.angle(spectrum[peaks])
    weights = np.abs(spectrum[peaks])
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


def magnitude_peaks(spectrum: np.ndarray, *, max_peaks: int = 64) -> np.ndarray:
    """Indices of the tallest magnitude peaks (above 20 times the median magnitude), tallest
    first: the lines whose phase the automatic methods read."""
    size = spectrum.shape[-1]
    magnitude = np.abs(spectrum)
    peaks, _ = signal.find_peaks(
        magnitude, height=20 * np.median(magnitude), distance=max(3, size // 4096)
    )
    return peaks[np.argsort(magnitude[peaks])[::-1][:max_peaks]]


def autophase_signed(
    spectrum: np.ndarray, *, max_p1_deg: float = 720.0, p1_deg: float | None = None
) -> tuple[float, float]:
    """Zero- and first-order phase of a spectrum whose lines may be negative (DEPT-135).

    At the top of a line the phase is the phase error there, up to 180° for a negative line:
    the phases of the tallest magnitude peaks are doubled (a line and its inverse agree), a
    grid over the first-order phase (mildly penalizing large ones) and then a 0.05° grid
    around the best make them most coherent. The zero-order phase is defined up to 180° and
    returned in [-90°, 90°): orient the result afterwards (for example against the phase of
    the sample's 13C spectrum).

    Parameters
    ----------
    spectrum
        Complex spectrum (index 0 = highest frequency).
    max_p1_deg
        First-order phases searched: ``[-max_p1_deg, max_p1_deg]``.
    p1_deg
        First-order phase to use when fewer than three lines show (one or two lines cannot
        fix it); ``None``: 0.
    """
    size = spectrum.shape[-1]
    peaks = magnitude_peaks(spectrum)
    if peaks.size == 0:
        return 0.0, 0.0 if p1_deg is None else float(p1_deg)
    weights = np.abs(spectrum[peaks])
    angles = np.angle(spectrum[peaks])
    x = peaks / size - 0.5

    def coherence(grid_deg: np.ndarray) -> np.ndarray:
        doubled = 2 * (angles[None, :] + np.deg2rad(grid_deg)[:, None] * x)
        return (weights[None, :] * np.exp(1j * doubled)).sum(axis=1)

    if peaks.size < 3:
        p1 = 0.0 if p1_deg is None else float(p1_deg)
    else:
        coarse = np.arange(-max_p1_deg, max_p1_deg + 0.5, 1.0)
        penalty = 0.02 * np.abs(np.deg2rad(coarse)) / np.pi * weights.sum()
        p1 = float(coarse[int(np.argmax(np.abs(coherence(coarse)) - penalty))])
        fine = p1 + np.arange(-1.0, 1.0001, 0.05)
        p1 = float(fine[int(np.argmax(np.abs(coherence(fine))))])
    p0 = float(np.rad2deg(-np.angle(coherence(np.array([p1]))[0]) / 2))
    return (p0 + 90.0) % 180.0 - 90.0, p1


def whole_point_delay(spectrum: np.ndarray, *, max_points: int = 64, max_peaks: int = 64) -> int:
    """Whole dwell times by which the FID of ``spectrum`` started late (negative: early).

    A FID delayed by ``k`` points needs a first-order phase of ``360° · k``; ``k`` is the
    integer in ``[-max_points, max_points]`` whose phase ramp makes the phases of the tallest
    magnitude peaks most coherent (the zero-order phase is free), less 0.005 per point.
    """
    size = spectrum.shape[-1]
    peaks = magnitude_peaks(spectrum, max_peaks=max_peaks)
    if peaks.size < 3:
        return 0
    ks = np.arange(-max_points, max_points + 1)
    ramp = np.exp(
        1j * (np.angle(spectrum[peaks])[None, :] + 2 * np.pi * ks[:, None] * (peaks / size))
    )
    weights = np.abs(spectrum[peaks])
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
