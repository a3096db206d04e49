"""DEPT-135/90 → attached-H labels of 13C peaks, and the bad inputs that must not label."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nmrpeak_cli.processing.dept import DeptLines, attached_h
from nmrpeak_cli.spectra import PeakList

# ibuprofen-like: C, C, CH, CH2, CH, CH3
C13 = PeakList.from_shifts("13C", [180.7, 141.0, 129.5, 45.2, 30.3, 22.5])
TRUTH = [0, 0, 1, 2, 1, 3]


def _dept(kind: str, pairs: list[tuple[float, float]], offset: float = 0.0) -> DeptLines:
    ppm = np.array([p + offset for p, _ in pairs])
    return DeptLines(kind, f"{kind}.fid", "s", ppm, np.array([h for _, h in pairs]))


D135 = [(129.5, 390.0), (45.2, -160.0), (30.3, 176.0), (22.5, 325.0)]
D90 = [(129.5, 460.0), (30.3, 190.0), (22.5, 50.0)]  # CH3 leaks at a sixth of CH


def test_dept135_and_90_give_c_ch_ch2_ch3_despite_reference_offset_and_leakage():
    labelled = attached_h(C13, [_dept("DEPT-135", D135, -0.16), _dept("DEPT-90", D90, -0.16)])
    assert labelled.message is None, labelled.message
    assert [p.n_h for p in labelled.c13] == TRUTH


def test_dept135_alone_leaves_high_field_positive_lines_unknown():
    labelled = attached_h(C13, [_dept("DEPT-135", D135)])
    assert [p.n_h for p in labelled.c13] == [0, 0, 1, 2, None, None], "CH only above 65 ppm"


@pytest.mark.parametrize(
    ("depts", "message"),
    [
        ([("DEPT-135", [(p + 7.0, h) for p, h in D135])], "another sample"),
        ([("DEPT-135", [(p, -h) for p, h in D135])], "phase-inverted"),
        ([("DEPT-135", D135), ("DEPT-90", [(p, -h) for p, h in D90])], "phase-inverted"),
        ([("DEPT-90", D90)], "without a DEPT-135"),
    ],
)
def test_bad_dept_gives_a_message_and_no_labels(depts, message):
    labelled = attached_h(C13, [_dept(kind, pairs) for kind, pairs in depts])
    assert labelled.message is not None and message in labelled.message, labelled.message
    assert all(p.n_h is None for p in labelled.c13), "the query runs without labels"


def test_dept_without_its_13c_is_skipped_with_a_reason(tmp_path):
    from nmrpeak_cli.io.raw.walk import iter_samples
    from nmrpeak_cli.processing.peaks import PeakBatch
    from nmrpeak_cli.processing.synthetic import SyntheticSignal, synthetic_fid, write_bruker

    acq = {"observe_mhz": 100.61, "sweep_hz": 24000.0, "carrier_ppm": 100.0}
    fid = synthetic_fid((SyntheticSignal(40.0, 1), SyntheticSignal(30.0, -1)), points=4096, **acq)
    write_bruker(tmp_path / "mol" / "3", fid, nucleus="13C", pulse_program="dept135", **acq)
    (sample,) = iter_samples([tmp_path], on_skip=lambda item: None)
    result = PeakBatch().sample(sample)
    assert result.rows == [], result.rows
    assert any("without a 13C spectrum" in s.reason for s in result.skipped), result.skipped


RAW = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "raw-examples"


@pytest.mark.integration
@pytest.mark.skipif(not RAW.is_dir(), reason="../shared/data/raw-examples not present")
@pytest.mark.parametrize("reprocess", [False, True], ids=["topspin", "fid"])
def test_real_ibuprofen_dept_labels(reprocess: bool):
    """TopSpin's phased DEPT spectra, and the DEPT FIDs phased here (sign from the 13C's)."""
    from nmrpeak_cli.processing.peaks import peaks_from_folders

    (row,) = peaks_from_folders([RAW / "ibuprofen_bruker"], reprocess=reprocess).rows
    labels = [p["multiplicity"] for p in row["c13"]]
    # 180.7 C, 141.0 C, 137.1 C, 129.5 CH, 127.4 CH, 45.2/45.1 CH2+CH, 30.3 CH, 22.5/18.2 CH3
    assert labels[:5] == ["s", "s", "s", "d", "d"] and labels[7:] == ["d", "q", "q"], labels
    assert sorted(labels[5:7]) == ["d", "t"] and row["quality"] is None, row


@pytest.mark.integration
@pytest.mark.skipif(not RAW.is_dir(), reason="../shared/data/raw-examples not present")
def test_real_benzoate_dept135_fid_labels_from_the_13c_phase():
    """Another spectral width and carrier than its 13C: every DEPT-135 line positive (four CH,
    two CH3 left open without a DEPT-90)."""
    from nmrpeak_cli.processing.peaks import peaks_from_folders

    folder = RAW / "isopropyl-4-(1-hydroxyethyl)benzoate_bruker"
    (row,) = peaks_from_folders([folder], reprocess=True).rows
    labels = [p["multiplicity"] for p in row["c13"]]
    assert labels == ["s", "s", "s", "d", "d", "d", "d", None, None], labels


@pytest.mark.integration
@pytest.mark.skipif(not RAW.is_dir(), reason="../shared/data/raw-examples not present")
def test_a_dept_fid_beside_a_processed_13c_is_oriented_by_the_13c_fid(tmp_path):
    """TopSpin's 13C spectrum but only the DEPT-135's FID (its pdata removed, no DEPT-90):
    the 13C's own FID gives the phase that orients it."""
    import shutil

    from nmrpeak_cli.processing.peaks import peaks_from_folders

    sample = tmp_path / "ibuprofen_bruker"
    for number in ("2", "3"):
        shutil.copytree(RAW / "ibuprofen_bruker" / number, sample / number)
    shutil.rmtree(sample / "3" / "pdata")
    (row,) = peaks_from_folders([sample]).rows
    labels = [p["multiplicity"] for p in row["c13"]]
    # without DEPT-90 the positive lines below 65 ppm stay open (CH or CH3)
    assert labels == ["s", "s", "s", "d", "d", "t", None, None, None, None], labels
    assert row["quality"] is None, row["quality"]
