"""1H multiplets: grouping lines, first-order multiplicity and J, integration.

Multiplicity follows Hoye & Zhao (*J. Org. Chem.* 1994, 59, 4096): line amplitudes
(least-squares Lorentzian fit at the picked positions, so overlapping lines do not inflate
each other) are turned into integer weights summing to 2ⁿ; the expanded component list is
deconvolved one coupling at a time, smallest first (the distance from the outermost
component to the next). Equal couplings are merged (``t``, ``q``...); codes list the largest
coupling first (``dt`` = doublet of triplets). Two fallbacks: a binomial multiplet whose
outermost lines are lost in the noise (septet seen as 5 lines), and an apparent doublet (or
dd) whose weak second-order lines are dropped (AA'XX' aromatics); a weak outer line without
its mirror partner is dropped and the rest analysed again. Anything else is ``m``.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

import numpy as np

_LETTERS = {1: "d", 2: "t", 3: "q", 4: "p", 5: "h", 6: "hept"}


@dataclass(frozen=True, slots=True)
class MultipletShape:
    """Result of a first-order analysis.

    Attributes
    ----------
    multiplicity
        Code such as ``s``, ``d``, ``dd``, ``dt``, ``q``, ``m``.
    j_hz
        Distinct coupling constants, largest first, Hz.
    """

    multiplicity: str
    j_hz: tuple[float, ...]


def group_lines(positions_hz: np.ndarray, max_gap_hz: float) -> list[np.ndarray]:
    """Indices of lines (sorted by position) split wherever neighbours are > ``max_gap_hz`` apart."""
    order = np.argsort(positions_hz)
    gaps = np.diff(positions_hz[order])
    cuts = np.flatnonzero(gaps > max_gap_hz) + 1
    return [group for group in np.split(order, cuts) if group.size]


def line_amplitudes(
    x_hz: np.ndarray, y: np.ndarray, positions_hz: np.ndarray, fwhm_hz: float
) -> np.ndarray:
    """Amplitudes of Lorentzian lines of width ``fwhm_hz`` at fixed positions (least squares)."""
    half = max(fwhm_hz, 1e-6) / 2
    spacing = abs(float(x_hz[1] - x_hz[0])) if x_hz.size > 1 else half
    step = max(1, int(half / 4 / max(spacing, 1e-12)))  # ~8 points per line width suffice
    x, values = x_hz[::step], y[::step]
    basis = 1.0 / (1.0 + ((x[:, None] - positions_hz[None, :]) / half) ** 2)
    amplitudes, *_ = np.linalg.lstsq(basis, values, rcond=None)
    return amplitudes


def analyse(
    positions_hz: np.ndarray,
    amplitudes: np.ndarray,
    *,
    tolerance_hz: float = 0.5,
    max_couplings: int = 7,
    max_j_hz: float = 20.0,
) -> MultipletShape:
    """First-order multiplicity and couplings from line positions and amplitudes.

    Parameters
    ----------
    positions_hz
        Line positions, Hz (any order).
    amplitudes
        Line amplitudes (same order).
    tolerance_hz
        How far a line may be from where the coupling pattern puts it.
    max_couplings
        Largest number of couplings tried (2ⁿ components).
    max_j_hz
        Largest coupling accepted; wider spacings mean separate signals.
    """
    order = np.argsort(positions_hz)
    x = np.asarray(positions_hz, dtype=np.float64)[order]
    a = np.clip(np.asarray(amplitudes, dtype=np.float64)[order], 1e-12, None)
    if x.size == 1:
        return MultipletShape("s", ())
    shape = _first_order(x, a, tolerance_hz, max_couplings, max_j_hz)
    if shape is None:
        shape = _binomial_without_outer_lines(x, a, tolerance_hz, max_j_hz)
    if shape is None:
        # apparent pattern: second-order extra lines (AA'XX' "doublets") are weak; drop them.
        strong = a >= 0.35 * a.max()
        if strong.sum() in {2, 4} and strong.sum() < x.size:
            shape = _first_order(x[strong], a[strong], tolerance_hz, max_couplings, max_j_hz)
    if shape is None and x.size > 3:
        # a weak outer line whose mirror partner is lost in the noise: analyse without it
        end = 0 if a[0] < a[-1] else -1
        if a[end] < 0.15 * a.max():
            keep = np.ones(x.size, dtype=bool)
            keep[end] = False
            trimmed = analyse(
                x[keep],
                a[keep],
                tolerance_hz=tolerance_hz,
                max_couplings=max_couplings,
                max_j_hz=max_j_hz,
            )
            shape = trimmed if trimmed.multiplicity != "m" else None
    return shape or MultipletShape("m", ())


def _binomial_without_outer_lines(
    x: np.ndarray, a: np.ndarray, tolerance_hz: float, max_j_hz: float
) -> MultipletShape | None:
    """A quintet/sextet/septet whose two outermost lines are lost in the noise: ``n`` equally
    spaced lines whose amplitudes follow the inner part of binomial row ``n + 1`` (``m`` for
    wider binomial patterns such as the nonet of an isobutyl CH)."""
    if x.size < 3:
        return None
    spacing = np.diff(x)
    j = float(spacing.mean())
    if j > max_j_hz or np.abs(spacing - j).max() > tolerance_hz:
        return None
    row = np.array([comb(x.size + 1, k) for k in range(1, x.size + 1)], dtype=float)
    ratio = (a / a.max()) / (row / row.max())
    if np.abs(ratio - 1).max() > 0.25:
        return None
    if x.size + 1 not in _LETTERS:
        return MultipletShape("m", ())  # octet, nonet...: conventionally reported as m
    return MultipletShape(_LETTERS[x.size + 1], (round(j, 1),))


def _first_order(
    x: np.ndarray, a: np.ndarray, tolerance_hz: float, max_couplings: int, max_j_hz: float
) -> MultipletShape | None:
    if not _symmetric(x, a, tolerance_hz):
        return None
    for couplings in _weightings(a, max_couplings):
        j_values = _deconvolve(np.repeat(x, couplings), tolerance_hz)
        if j_values and max(j_values) <= max_j_hz:
            return _name(j_values, tolerance_hz)
    return None


def _symmetric(x: np.ndarray, a: np.ndarray, tolerance_hz: float) -> bool:
    centre = (x[0] + x[-1]) / 2
    mirror = 2 * centre - x
    for i, m in enumerate(mirror):
        j = int(np.argmin(np.abs(x - m)))
        if abs(x[j] - m) > tolerance_hz or not 0.4 <= a[i] / a[j] <= 2.5:
            return False
    return True


def _weightings(a: np.ndarray, max_couplings: int) -> list[np.ndarray]:
    """Integer weights (sum 2ⁿ) for the amplitudes, best fitting first."""
    candidates = []
    first = int(np.ceil(np.log2(a.size)))
    for n in range(first, max_couplings + 1):
        total = 2**n
        scale = a.sum() / total
        weights = np.maximum(1, np.rint(a / scale)).astype(int)
        if weights.sum() != total or not np.array_equal(weights, weights[::-1]):
            continue  # first-order patterns are symmetric
        error = float(np.abs(a / scale - weights).sum() / total) + 0.02 * n
        candidates.append((error, weights))
    candidates.sort(key=lambda item: item[0])
    return [weights for _, weights in candidates]


def _deconvolve(components: np.ndarray, tolerance_hz: float) -> list[float] | None:
    """Couplings (smallest first) whose stick pattern is ``components``, or ``None``."""
    couplings: list[float] = []
    remaining = list(components)
    while len(remaining) > 1:
        j = remaining[1] - remaining[0]
        if j <= tolerance_hz:
            return None
        half: list[float] = []
        measured: list[float] = []
        while remaining:
            low = remaining.pop(0)
            distances = [abs(p - (low + j)) for p in remaining]
            if not distances or min(distances) > tolerance_hz:
                return None
            partner = remaining.pop(int(np.argmin(distances)))
            measured.append(partner - low)
            half.append(low)
        couplings.append(float(np.mean(measured)))
        remaining = half
    return couplings


def _name(j_values: list[float], tolerance_hz: float) -> MultipletShape:
    groups: list[list[float]] = []
    for j in sorted(j_values, reverse=True):
        if groups and abs(groups[-1][-1] - j) <= max(tolerance_hz, 0.06 * j):
            groups[-1].append(j)
        else:
            groups.append([j])
    if len(groups) > 3 or any(len(g) > 6 for g in groups):
        return MultipletShape("m", ())
    code = "".join(_LETTERS[len(g)] for g in groups)
    return MultipletShape(code, tuple(round(float(np.mean(g)), 1) for g in groups))


def segment_lines(
    positions_hz: np.ndarray,
    amplitudes: np.ndarray,
    tolerance_hz: float = 0.5,
    *,
    max_lines: int = 64,
    tries: int = 3,
) -> list[np.ndarray]:
    """Split one group of lines (sorted) into first-order multiplets where that explains it better.

    A group that is not first order is split at one of its ``tries`` widest gaps, provided
    that gap is clearly wider (≥ 1.2 ×) than every gap inside the two parts and every
    resulting part (split further the same way) is first order. Groups of more than
    ``max_lines`` lines are left whole (``m``).
    """
    index = np.arange(positions_hz.size)
    if index.size < 2 or index.size > max_lines:
        return [index]
    if analyse(positions_hz, amplitudes, tolerance_hz=tolerance_hz).multiplicity != "m":
        return [index]
    gaps = np.diff(positions_hz)
    for cut in np.argsort(gaps)[::-1][:tries] + 1:
        parts = [index[:cut], index[cut:]]
        inner = [np.diff(positions_hz[p]).max() if p.size > 1 else 0.0 for p in parts]
        if gaps[cut - 1] < 1.2 * max(inner):
            continue
        pieces = [
            part[sub]
            for part in parts
            for sub in segment_lines(
                positions_hz[part], amplitudes[part], tolerance_hz, max_lines=max_lines, tries=tries
            )
        ]
        shapes = [
            analyse(positions_hz[p], amplitudes[p], tolerance_hz=tolerance_hz) for p in pieces
        ]
        if all(shape.multiplicity != "m" for shape in shapes):
            return pieces
    return [index]
