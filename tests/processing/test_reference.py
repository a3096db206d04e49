"""Solvent tables and the line-pattern search used for chemical-shift referencing."""

from __future__ import annotations

import numpy as np

from nmrpeak_cli.processing.reference import (
    SOLVENT_C13,
    SOLVENT_H1,
    WATER_H1,
    SolventSignal,
    find_pattern,
    solvent_signals,
)

C13_MHZ = 100.6


def _multiplet(signal: SolventSignal, mhz: float, centre: float | None = None) -> np.ndarray:
    """Line positions (ppm) of ``signal``'s deuterium multiplet."""
    centre = signal.shift if centre is None else centre
    offsets = (np.arange(signal.lines) - (signal.lines - 1) / 2) * signal.j_hz / mhz
    return centre + offsets


def test_solvent_signals_by_nucleus_and_name() -> None:
    cdcl3 = solvent_signals("CDCl3", "13C")
    assert cdcl3 == (SolventSignal(77.16, 3, 32.0),), "CDCl3 13C: the 77.16 triplet"
    assert solvent_signals("CDCl3", "1H") == (SolventSignal(7.26),), "CHCl3 residual singlet"
    assert solvent_signals("DMSO-d6", "13C")[0].lines == 7, "CD3 carbon: a septet"
    assert solvent_signals(None, "1H") == (), "no solvent, no signals"
    assert solvent_signals("not-a-solvent", "13C") == (), "unknown solvents have no signals"


def test_tables_are_consistent() -> None:
    for name, table in (("1H", SOLVENT_H1), ("13C", SOLVENT_C13)):
        for solvent, signals in table.items():
            assert signals, f"{name} {solvent}: at least one signal"
            for s in signals:
                assert s.lines >= 1 and s.lines % 2 == 1, f"{solvent}: 2nI+1 lines with I=1"
                assert (s.lines == 1) == (s.j_hz == 0.0), f"{solvent}: J only for multiplets"
    assert set(WATER_H1) == set(SOLVENT_H1), "a water shift for every 1H solvent"


def test_find_pattern_finds_the_shifted_cdcl3_triplet_among_sample_lines() -> None:
    triplet = SOLVENT_C13["CDCl3"][0]
    solvent = _multiplet(triplet, C13_MHZ, centre=77.36)  # spectrum off by +0.2 ppm
    sample = np.array([170.2, 77.9, 76.5, 61.0, 14.2])
    positions = np.concatenate([sample, solvent])
    heights = np.concatenate([np.full(sample.size, 5.0), np.full(solvent.size, 1.0)])
    centre = find_pattern(positions, heights, triplet, C13_MHZ, window_ppm=1.0, tolerance_hz=2.0)
    assert centre is not None and abs(centre - 77.36) < 1e-9, centre


def test_find_pattern_prefers_the_tallest_fitting_pattern() -> None:
    singlet = SolventSignal(7.26)
    positions = np.array([7.40, 7.27, 7.10])
    heights = np.array([1.0, 3.0, 2.0])
    found = find_pattern(positions, heights, singlet, 400.0, window_ppm=0.2, tolerance_hz=1.0)
    assert found == 7.27, "each line fits a singlet; the tallest wins"


def test_find_pattern_needs_every_line_and_the_window() -> None:
    triplet = SOLVENT_C13["CDCl3"][0]
    lines = _multiplet(triplet, C13_MHZ)
    heights = np.ones(lines.size)
    broken = np.delete(lines, 2)
    assert find_pattern(broken, heights[:2], triplet, C13_MHZ, window_ppm=1.0, tolerance_hz=2.0) \
        is None, "a triplet with a missing line does not fit"  # fmt: skip
    far = lines + 3.0
    assert find_pattern(far, heights, triplet, C13_MHZ, window_ppm=1.0, tolerance_hz=2.0) is None
    loose = lines + np.array([0.0, 0.0, 3.0 / C13_MHZ])  # one line 3 Hz off
    assert find_pattern(loose, heights, triplet, C13_MHZ, window_ppm=1.0, tolerance_hz=2.0) \
        is None, "a line outside the tolerance breaks the pattern"  # fmt: skip
    assert find_pattern(loose, heights, triplet, C13_MHZ, window_ppm=1.0, tolerance_hz=4.0) \
        is not None, "within a wider tolerance it fits"  # fmt: skip
