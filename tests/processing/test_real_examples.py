"""Real raw examples from ../shared/data/raw-examples (skipped when absent).

Expected shifts and tolerances (the comparison table is in benchmarks/RESULTS.md, ## Peaks):

- ibuprofen 13C (CDCl3): the values commonly reported in the literature (181.2, 140.9, 137.0,
  129.4, 127.3, 45.1, 45.0, 30.2, 22.4, 18.1; no peak list ships with this source), 0.5 ppm;
- isopropyl 4-(1-hydroxyethyl)benzoate: the source's own TopSpin peak picks
  (``pdata/1/peaklist.xml``): 13C expno 2 within 0.5 ppm (we reference CDCl3 to 77.16 ppm,
  the source to 77.0), 1H expno 1 multiplet centres within 0.02 ppm;
- cytisine 1H (CD2Cl2): the assignments in the source's MestReNova ``1h.molecule.jdx``
  (``PEAKASSIGNMENTS``), 0.02 ppm.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nmrpeak_cli.io.raw import read_raw
from nmrpeak_cli.processing.pipeline import peaks_from_raw

ROOT = Path(__file__).resolve().parents[3] / "shared" / "data" / "raw-examples"
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not ROOT.is_dir(), reason="../shared/data/raw-examples not available"),
]

IBUPROFEN_C13 = [181.2, 140.9, 137.0, 129.4, 127.3, 45.1, 45.0, 30.2, 22.4, 18.1]
BENZOATE_C13 = [165.96, 150.69, 130.05, 129.82, 125.20, 70.07, 68.35, 25.38, 21.99]
BENZOATE_H1 = [8.015, 7.433, 5.246, 4.963, 1.892, 1.499, 1.364]


def _matched(found, expected, tolerance):
    found = np.asarray(found)
    return [bool(np.min(np.abs(found - e)) <= tolerance) for e in expected]


@pytest.mark.parametrize("reprocess", [False, True], ids=["pdata", "fid"])
@pytest.mark.parametrize(
    ("folder", "expected"),
    [
        ("ibuprofen_bruker/2", IBUPROFEN_C13),
        ("isopropyl-4-(1-hydroxyethyl)benzoate_bruker/2", BENZOATE_C13),
    ],
)
def test_bruker_c13_matches_expected(folder, expected, reprocess):
    peaks = peaks_from_raw(read_raw(ROOT / folder, reprocess=reprocess)).peak_list()
    matched = _matched(peaks.shifts, expected, 0.5)
    assert all(matched), (
        f"{folder}: unmatched {np.array(expected)[~np.array(matched)]} in {peaks.shifts}"
    )
    assert len(peaks) == len(expected), f"{folder}: {len(peaks)} peaks {peaks.shifts}"


@pytest.mark.parametrize("reprocess", [False, True], ids=["pdata", "fid"])
def test_ibuprofen_h1_shifts_and_multiplicities(reprocess):
    result = peaks_from_raw(read_raw(ROOT / "ibuprofen_bruker/1", reprocess=reprocess), h_count=18)
    found = [(round(p.shift, 2), p.multiplicity, round(p.count)) for p in result.peak_list()]
    expected = [
        (7.22, "d", 2),
        (7.1, "d", 2),
        (3.71, "q", 1),
        (2.45, "d", 2),
        (1.85, "m", 1),
        (1.5, "d", 3),
        (0.9, "d", 6),
    ]
    assert found == expected, found


@pytest.mark.parametrize("reprocess", [False, True], ids=["pdata", "fid"])
def test_bruker_h1_matches_source_peaks(reprocess):
    folder = ROOT / "isopropyl-4-(1-hydroxyethyl)benzoate_bruker/1"
    result = peaks_from_raw(read_raw(folder, reprocess=reprocess), h_count=16)
    peaks = result.peak_list()
    assert all(_matched(peaks.shifts, BENZOATE_H1, 0.02)), peaks.shifts
    counts = {round(p.shift, 1): round(p.count) for p in peaks}
    assert counts[8.0] == 2 and counts[5.2] == 1, counts


def test_jcamp_cytisine_h1_matches_source_assignments():
    expected = [7.304, 6.339, 6.008, 4.036, 3.839, 3.023, 2.910, 2.326, 1.948]
    peaks = peaks_from_raw(read_raw(ROOT / "jcamp/cytisine/1h.jdx"), h_count=14).peak_list()
    matched = _matched(peaks.shifts, expected, 0.02)
    assert all(matched), f"unmatched {np.array(expected)[~np.array(matched)]} in {peaks.shifts}"


def test_jcamp_cytisine_13c_fid_is_referenced_to_cd2cl2_and_keeps_its_ch2n_carbons():
    """Cytisine (C11H14N2O, 11 carbons) in CD2Cl2 at 150.9 MHz: the FID is referenced to the
    solvent quintet (53.84 ppm); the three CH2N carbons (about 54.2, 53.3 and 50.0 ppm, one
    under the quintet's outer line) are sample peaks, the quintet's lines are not."""
    result = peaks_from_raw(read_raw(ROOT / "jcamp/cytisine/13c.fid.jdx"))
    steps = dict(result.spectrum.steps)
    assert steps["reference"]["to"] == "CD2Cl2 53.84 ppm", steps
    shifts = result.peak_list().shifts
    assert len(shifts) == 11, shifts
    ch2n = shifts[(shifts > 49) & (shifts < 55)]
    assert len(ch2n) == 3 and _matched(ch2n, [54.21, 53.26, 49.99], 0.1) == [True] * 3, ch2n
    inner = [53.66, 53.84, 54.02]  # quintet lines 27 Hz (0.18 ppm at 150.9 MHz) apart
    assert not any(np.min(np.abs(shifts - q)) < 0.05 for q in inner), shifts
    assert not result.quality


def test_jcamp_forms_load():
    for name in [
        "aspirin/1h.dx",
        "aspirin/1h.fid.dx",
        "geraniol/1h.jdx",
        "paclitaxel/1h.jdx",
        "indometacin/1h.dx",
        "cytisine/1h.molecule.jdx",
        "cytisine/13c.fid.jdx",
    ]:
        peaks = peaks_from_raw(read_raw(ROOT / "jcamp" / name)).peak_list()
        assert len(peaks) > 3, f"{name}: {peaks.shifts}"
    aspirin = peaks_from_raw(read_raw(ROOT / "jcamp/aspirin/1h.dx")).peak_list()
    assert np.min(np.abs(aspirin.shifts - 2.36)) < 0.1, aspirin.shifts
