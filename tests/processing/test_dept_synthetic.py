"""Synthetic DEPT-135/90 FIDs written as Bruker experiments → ``peaks`` → labelled 13C."""

from __future__ import annotations

from pathlib import Path

import pytest

from nmrpeak_cli.processing.peaks import peaks_from_folders
from nmrpeak_cli.processing.synthetic import (
    SyntheticSignal,
    dept_signals,
    synthetic_fid,
    write_bruker,
)

# ethyl 3-methylbut-2-enoate-like: C=O, =C, =CH, OCH2, CH3 ×3
CARBONS = (
    (SyntheticSignal(166.8, width_hz=4.0), 0),
    (SyntheticSignal(156.4, width_hz=4.0), 0),
    (SyntheticSignal(116.2, width_hz=4.0), 1),
    (SyntheticSignal(59.4, width_hz=4.0), 2),
    (SyntheticSignal(27.3, width_hz=4.0), 3),
    (SyntheticSignal(20.2, width_hz=4.0), 3),
    (SyntheticSignal(14.3, width_hz=4.0), 3),
)
ACQ = {"observe_mhz": 100.61, "sweep_hz": 24000.0, "carrier_ppm": 100.0}
LETTERS = "sdtq"


def test_dept_signals_signs() -> None:
    d135 = dept_signals(CARBONS, "DEPT-135")
    assert [(s.shift, s.n_nuclei) for s in d135] == [
        (116.2, 1.0),
        (59.4, -1.0),
        (27.3, 1.0),
        (20.2, 1.0),
        (14.3, 1.0),
    ], "CH/CH3 up, CH2 down, C absent"
    assert [s.shift for s in dept_signals(CARBONS, "DEPT-90")] == [116.2], "CH only"
    with pytest.raises(ValueError, match="DEPT-45"):
        dept_signals(CARBONS, "DEPT-45")


def _write(folder: Path, signals: tuple[SyntheticSignal, ...], program: str, seed: int) -> None:
    fid = synthetic_fid(signals, **ACQ, points=16384, noise=0.02, group_delay=67.98, seed=seed)
    write_bruker(folder, fid, nucleus="13C", pulse_program=program, group_delay=67.98, **ACQ)


@pytest.mark.parametrize("with_90", [True, False])
def test_bruker_dept_experiments_label_the_13c_peaks(tmp_path: Path, with_90: bool) -> None:
    sample = tmp_path / "ester"
    _write(sample / "1", tuple(s for s, _ in CARBONS), "zgpg30", 1)
    _write(sample / "2", dept_signals(CARBONS, "DEPT-135"), "dept135", 2)
    if with_90:
        _write(sample / "3", dept_signals(CARBONS, "DEPT-90"), "dept90", 3)
    (row,) = peaks_from_folders([tmp_path]).rows
    assert row["error"] is None and row["quality"] is None, row
    shifts = [round(p["shift"], 1) for p in row["c13"]]
    assert shifts == [s.shift for s, _ in CARBONS], shifts
    labels = [p["multiplicity"] for p in row["c13"]]
    # DEPT-135 alone cannot tell CH3 from CH below 65 ppm
    truth = [LETTERS[n] if with_90 or n != 3 else None for _, n in CARBONS]
    assert labels == truth, labels
