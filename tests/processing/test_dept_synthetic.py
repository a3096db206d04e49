"""Synthetic DEPT-135/90 FIDs written as Bruker experiments → ``peaks`` → labelled 13C."""

from __future__ import annotations

from dataclasses import replace
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


def _sample(
    root: Path,
    *,
    c13_phase: tuple[float, float] = (0.0, 0.0),
    dept_phase: tuple[float, float] = (0.0, 0.0),
    with_90: bool = True,
    dept_shift: float = 0.0,
    with_13c: bool = True,
    dept_mhz: float | None = None,
) -> Path:
    """One sample folder: 13C (``zgpg30``), DEPT-135 and DEPT-90 FIDs with these phase errors
    (the DEPT lines moved by ``dept_shift`` ppm: another compound's)."""
    sample = root / "ester"
    moved = tuple((replace(s, shift=s.shift + dept_shift), n) for s, n in CARBONS)
    mhz = dept_mhz or ACQ["observe_mhz"]  # the same ppm window at another field
    dept_acq = {**ACQ, "observe_mhz": mhz, "sweep_hz": ACQ["sweep_hz"] * mhz / ACQ["observe_mhz"]}
    experiments = [("dept135", dept_signals(moved, "DEPT-135"), dept_phase, dept_acq)]
    if with_13c:
        experiments.append(("zgpg30", tuple(s for s, _ in CARBONS), c13_phase, ACQ))
    if with_90:
        experiments.append(("dept90", dept_signals(moved, "DEPT-90"), dept_phase, dept_acq))
    for number, (program, signals, phase, acq) in enumerate(experiments, start=2):
        fid = synthetic_fid(
            signals, **acq, points=16384, noise=0.02, group_delay=67.98, phase_deg=phase,
            seed=number,
        )  # fmt: skip
        write_bruker(
            sample / str(number), fid, nucleus="13C", pulse_program=program,
            group_delay=67.98, **acq,
        )  # fmt: skip
    return sample


def _labels(row: dict) -> list[str | None]:
    return [p["multiplicity"] for p in row["c13"]]


@pytest.mark.parametrize(
    ("c13_phase", "dept_offset"),
    [((70.0, -150.0), (35.0, -40.0)), ((-120.0, 200.0), (-40.0, 60.0))],
)
@pytest.mark.parametrize("with_90", [True, False])
def test_dept_fids_with_phase_errors_take_their_sign_from_the_13c_phase(
    tmp_path: Path, c13_phase, dept_offset, with_90: bool
) -> None:
    """The DEPT's own phase differs from the 13C's by tens of degrees (another pulse
    program): its sign still comes out right, read against the 13C's phase."""
    dept_phase = (c13_phase[0] + dept_offset[0], c13_phase[1] + dept_offset[1])
    _sample(tmp_path, c13_phase=c13_phase, dept_phase=dept_phase, with_90=with_90)
    (row,) = peaks_from_folders([tmp_path]).rows
    assert row["error"] is None and row["quality"] is None, row
    truth = [LETTERS[n] if with_90 or n != 3 else None for _, n in CARBONS]
    assert _labels(row) == truth, _labels(row)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dept_phase": (180.0, 0.0)}, "phase-inverted"),
        ({"dept_phase": (180.0, 0.0), "with_90": False}, "phase-inverted"),
        ({"dept_phase": (90.0, 0.0)}, "cannot be told"),
        ({"dept_shift": 6.0}, "another sample"),
    ],
)
def test_bad_dept_fids_leave_the_query_unlabelled_and_say_why(
    tmp_path: Path, kwargs, message: str
) -> None:
    _sample(tmp_path, **kwargs)
    report = peaks_from_folders([tmp_path])
    (row,) = report.rows
    assert row["error"] is None, "the query runs"
    assert [round(p["shift"], 1) for p in row["c13"]] == [s.shift for s, _ in CARBONS]
    assert _labels(row) == [None] * len(CARBONS), "no labels"
    assert row["quality"] and row["quality"].startswith("DEPT: ") and message in row["quality"]


def test_dept_without_its_13c_is_named_in_the_1h_row(tmp_path: Path) -> None:
    sample = _sample(tmp_path, with_13c=False, with_90=False)
    h1 = (SyntheticSignal(1.2, 3.0, (7.0, 7.0)), SyntheticSignal(4.1, 2.0, (7.0, 7.0, 7.0)))
    acq = {"observe_mhz": 400.13, "sweep_hz": 8000.0, "carrier_ppm": 4.7}
    fid = synthetic_fid(h1, **acq, points=16384, noise=0.001, group_delay=67.98)
    write_bruker(sample / "1", fid, nucleus="1H", group_delay=67.98, **acq)
    report = peaks_from_folders([tmp_path])
    (row,) = report.rows
    assert row["error"] is None and row["c13"] is None and row["h1"], row
    assert "DEPT-135 without a 13C spectrum" in row["quality"], row["quality"]
    assert any("without a 13C spectrum" in s.reason for s in report.skipped)


def test_a_dept135_fid_without_a_phase_anchor_is_oriented_by_its_dept90_or_refused(
    tmp_path: Path,
) -> None:
    """No 13C phase (an instrument 13C spectrum): the DEPT-90 (CH lines, positive) orients
    itself and the DEPT-135 through their shared CH lines; a DEPT-135 alone is refused."""
    from nmrpeak_cli.io.raw import read_raw
    from nmrpeak_cli.processing.dept import attached_h, dept_lines
    from nmrpeak_cli.spectra import PeakList

    sample = _sample(tmp_path, dept_phase=(200.0, 30.0))
    lines = {
        kind: dept_lines(read_raw(sample / number)) for kind, number in (("135", "2"), ("90", "4"))
    }
    assert all(d.orientation is None for d in lines.values()), "the sign is open"
    c13 = PeakList.from_shifts("13C", [s.shift for s, _ in CARBONS])
    both = attached_h(c13, [lines["135"], lines["90"]])
    assert both.message is None and [p.n_h for p in both.c13] == [n for _, n in CARBONS]
    alone = attached_h(c13, [lines["135"]])
    assert "cannot be fixed" in alone.message and all(p.n_h is None for p in alone.c13)


@pytest.mark.parametrize("with_90", [True, False])
def test_a_dept_from_another_spectrometer_is_not_oriented_by_the_13c_phase(
    tmp_path: Path, with_90: bool
) -> None:
    """A DEPT at 150.9 MHz beside a 100.6 MHz 13C shares no receiver phase with it (here
    180° off): its DEPT-90 orients it, and without one it is not used."""
    _sample(tmp_path, dept_phase=(180.0, 0.0), with_90=with_90, dept_mhz=150.9)
    (row,) = peaks_from_folders([tmp_path]).rows
    if with_90:
        assert row["quality"] is None, row["quality"]
        assert _labels(row) == [LETTERS[n] for _, n in CARBONS], _labels(row)
    else:
        assert "cannot be fixed" in row["quality"], row["quality"]
        assert _labels(row) == [None] * len(CARBONS)


@pytest.mark.parametrize(
    ("names", "with_90"),
    [
        (("ester_13C.fid.jdx", "ester_DEPT135.fid.jdx", "ester_dept90.fid.jdx"), True),
        (("13c.jdx", "dept-135.jdx", None), False),
    ],
)
def test_jcamp_dept_fids_label_the_13c_peaks(
    tmp_path: Path, names: tuple[str, str, str | None], with_90: bool
) -> None:
    """TopSpin-style JCAMP-DX FIDs (NTUPLES, ``$PULPROG``) of one sample: the DEPT files
    group with the 13C file by name and label its peaks, phase errors and all."""
    from nmrpeak_cli.processing.synthetic import write_jcamp

    experiments = [
        (names[0], "zgpg30", tuple(s for s, _ in CARBONS), (60.0, -120.0)),
        (names[1], "dept135", dept_signals(CARBONS, "DEPT-135"), (25.0, -40.0)),
    ]
    if with_90:
        experiments.append((names[2], "dept90", dept_signals(CARBONS, "DEPT-90"), (25.0, -40.0)))
    for seed, (name, program, signals, phase) in enumerate(experiments, start=1):
        fid = synthetic_fid(
            signals, **ACQ, points=16384, noise=0.02, group_delay=67.98, phase_deg=phase,
            seed=seed,
        )  # fmt: skip
        write_jcamp(
            tmp_path / "ester" / name, fid, nucleus="13C", pulse_program=program,
            group_delay=67.98, **ACQ,
        )  # fmt: skip
    (row,) = peaks_from_folders([tmp_path]).rows
    assert row["error"] is None and row["quality"] is None, row
    assert [round(p["shift"], 1) for p in row["c13"]] == [s.shift for s, _ in CARBONS]
    assert _labels(row) == [LETTERS[n] if with_90 or n != 3 else None for _, n in CARBONS]
