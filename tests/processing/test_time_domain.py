"""Time-domain corner cases met in real JCAMP-DX FIDs: late acquisition (benchtop dead time),
no shift reference in the file, sample lines beside a solvent multiplet."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from nmrpeak_cli.io.raw import RawSpectrum
from nmrpeak_cli.processing.pipeline import peaks_from_raw
from nmrpeak_cli.processing.synthetic import SyntheticSignal, synthetic_fid
from nmrpeak_cli.processing.transform import backward_predict
from tests.processing.conftest import C13_ACQ, H1_ACQ, H1_SIGNALS, h1_raw


def test_backward_prediction_rebuilds_missing_first_points():
    fid = synthetic_fid(H1_SIGNALS, **H1_ACQ, points=4096)
    rebuilt = backward_predict(fid[7:], 7)
    assert rebuilt.size == fid.size
    error = np.abs(rebuilt[:7] - fid[:7]).max() / np.abs(fid[:7]).max()
    assert error < 1e-3, f"relative error of the rebuilt points {error:.2g}"


def test_late_fid_is_rebuilt_not_phased_into_a_rolling_baseline():
    late = h1_raw()
    raw = replace(late, data=late.data[6:])  # acquisition started 6 dwell times late
    result = peaks_from_raw(raw, h_count=11)
    steps = dict(result.spectrum.steps)
    assert steps.get("backward_prediction") == {"points": 6}, result.spectrum.steps
    assert abs(steps["phase"]["p1_deg"]) < 90, steps["phase"]
    shifts = result.peak_list().shifts
    for signal in H1_SIGNALS:
        assert np.abs(shifts - signal.shift).min() < 0.005, (signal.shift, shifts)
    assert result.quality == (), result.quality


def test_unreferenced_fid_without_tms_is_flagged():
    raw = replace(h1_raw(), referenced=False)
    flags = peaks_from_raw(raw).quality
    assert len(flags) == 1 and flags[0].startswith("not referenced"), flags
    assert peaks_from_raw(h1_raw()).quality == (), "a referenced FID is not flagged"


def test_sample_lines_beside_a_solvent_quintet_are_kept():
    mhz, j = C13_ACQ["observe_mhz"], 27.2
    quintet = tuple(
        SyntheticSignal(53.84 + k * j / mhz, w, (), 1.0)
        for k, w in zip(range(-2, 3), (1, 2, 3, 2, 1), strict=True)
    )
    outer = 53.84 + 2 * j / mhz
    sample = (SyntheticSignal(outer + 0.05, 2.0, (), 1.0), SyntheticSignal(128.0, 2.0, (), 1.0))
    fid = synthetic_fid(quintet + sample, **C13_ACQ, points=32768, noise=0.02)
    raw = RawSpectrum(fid, "time", "13C", mhz, C13_ACQ["sweep_hz"], carrier_ppm=100.0)
    result = peaks_from_raw(replace(raw, solvent="CD2Cl2"))
    reported = result.peak_list().shifts
    assert np.abs(reported - (outer + 0.05)).min() < 0.02, f"CH2N-like line lost: {reported}"
    assert sum(s.label == "solvent" for s in result.signals) == 5, result.signals
