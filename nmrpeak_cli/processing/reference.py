"""Reference signals: TMS and the deuterated-solvent table, and chemical-shift referencing.

Shifts are from Fulmer et al., *Organometallics* 2010, 29, 2176 (residual solvent 1H, solvent
13C, water in each solvent), keyed by the canonical names of :mod:`nmrpeak_cli.solvents`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class SolventSignal:
    """One solvent signal.

    Attributes
    ----------
    shift
        Centre, ppm.
    lines
        Number of lines of the deuterium-coupled multiplet (1 for a singlet).
    j_hz
        Coupling to deuterium (spacing of the lines), Hz.
    """

    shift: float
    lines: int = 1
    j_hz: float = 0.0


#: Residual solvent 1H signals (the first is used for referencing).
SOLVENT_H1: dict[str, tuple[SolventSignal, ...]] = {
    "CDCl3": (SolventSignal(7.26),),
    "DMSO-d6": (SolventSignal(2.50, 5, 1.9),),
    "CD3OD": (SolventSignal(3.31, 5, 1.7),),
    "D2O": (SolventSignal(4.79),),
    "acetone-d6": (SolventSignal(2.05, 5, 2.2),),
    "C6D6": (SolventSignal(7.16),),
    "CD3CN": (SolventSignal(1.94, 5, 2.5),),
    "CD2Cl2": (SolventSignal(5.32, 3, 1.0),),
    "pyridine-d5": (SolventSignal(8.74), SolventSignal(7.58), SolventSignal(7.22)),
    "THF-d8": (SolventSignal(3.58), SolventSignal(1.72)),
    "toluene-d8": (SolventSignal(2.08, 5, 2.3), SolventSignal(7.09), SolventSignal(7.01)),
}

#: Solvent 13C signals (the first is used for referencing).
SOLVENT_C13: dict[str, tuple[SolventSignal, ...]] = {
    "CDCl3": (SolventSignal(77.16, 3, 32.0),),
    "DMSO-d6": (SolventSignal(39.52, 7, 21.0),),
    "CD3OD": (SolventSignal(49.00, 7, 21.4),),
    "acetone-d6": (SolventSignal(29.84, 7, 19.4), SolventSignal(206.26)),
    "C6D6": (SolventSignal(128.06, 3, 24.3),),
    "CD3CN": (SolventSignal(1.32, 7, 20.8), SolventSignal(118.26)),
    "CD2Cl2": (SolventSignal(53.84, 5, 27.2),),
    "pyridine-d5": (
        SolventSignal(123.87, 3, 25.0),
        SolventSignal(135.91, 3, 24.5),
        SolventSignal(150.35, 3, 27.5),
    ),
    "THF-d8": (SolventSignal(67.21, 5, 22.0), SolventSignal(25.31, 5, 20.5)),
    "toluene-d8": (
        SolventSignal(20.43, 7, 19.0),
        SolventSignal(137.48),
        SolventSignal(128.87, 3, 24.0),
        SolventSignal(127.96, 3, 24.0),
        SolventSignal(125.13, 3, 24.0),
    ),
    "CCl4": (SolventSignal(96.1),),
}

#: Water (HOD/H2O) 1H shift in each solvent.
WATER_H1: dict[str, float] = {
    "CDCl3": 1.56,
    "DMSO-d6": 3.33,
    "CD3OD": 4.87,
    "D2O": 4.79,
    "acetone-d6": 2.84,
    "C6D6": 0.40,
    "CD3CN": 2.13,
    "CD2Cl2": 1.52,
    "pyridine-d5": 4.96,
    "THF-d8": 2.46,
    "toluene-d8": 0.43,
}

#: Hydrocarbon grease 1H signals in CDCl3 (shifted little in other solvents).
GREASE_H1: tuple[float, ...] = (1.26, 0.86)


def solvent_signals(solvent: str | None, nucleus: str) -> tuple[SolventSignal, ...]:
    """Solvent signals of ``nucleus`` (``"13C"``/``"1H"``) for a canonical solvent name."""
    if solvent is None:
        return ()
    table = SOLVENT_C13 if nucleus == "13C" else SOLVENT_H1
    return table.get(solvent, ())


def find_pattern(
    positions_ppm: np.ndarray,
    heights: np.ndarray,
    expected: SolventSignal,
    observe_mhz: float,
    *,
    window_ppm: float,
    tolerance_hz: float,
) -> float | None:
    """Centre (ppm) of the line pattern best matching ``expected`` within ``window_ppm``.

    Each line within the window is tried as the centre of a ``lines``-line multiplet with
    spacing ``j_hz``; a candidate counts when every line of the pattern is found within
    ``tolerance_hz``. Among those, the one with the largest summed height wins. ``None`` when
    no line pattern fits.
    """
    best, best_height = None, 0.0
    spacing = expected.j_hz / observe_mhz
    tolerance = tolerance_hz / observe_mhz
    offsets = (np.arange(expected.lines) - (expected.lines - 1) / 2) * spacing
    for centre in positions_ppm[np.abs(positions_ppm - expected.shift) <= window_ppm]:
        total = 0.0
        for offset in offsets:
            distance = np.abs(positions_ppm - (centre + offset))
            nearest = int(np.argmin(distance))
            if distance[nearest] > tolerance:
                break
            total += float(heights[nearest])
        else:
            if total > best_height:
                best, best_height = float(centre), total
    return best
