"""Processing pipeline on synthetic FIDs with exactly known answers."""

from __future__ import annotations

import numpy as np
import pytest

from nmrpeak_cli.io.raw import RawDataError, RawSpectrum
from nmrpeak_cli.processing import multiplets
from nmrpeak_cli.processing.phase import apply_phase, autophase
from nmrpeak_cli.processing.pipeline import peaks_from_raw
from nmrpeak_cli.processing.synthetic import stick_pattern
from nmrpeak_cli.processing.transform import fourier_transform, remove_digital_filter, zero_fill


def _sample(signals):
    return [s for s in signals if s.label is None]


@pytest.mark.parametrize(
    "distortion",
    [{}, {"phase_deg": (60.0, -40.0)}, {"baseline_roll": 0.5}, {"group_delay": 67.3}],
    ids=["clean", "phase", "baseline", "digital-filter"],
)
def test_h1_multiplets_shifts_and_integrals(make_h1, h1_signals, distortion):
    result = peaks_from_raw(make_h1(**distortion), h_count=11)
    found = _sample(result.signals)
    assert len(found) == len(h1_signals), f"{distortion}: got {[s.shift for s in found]}"
    for truth, signal in zip(sorted(h1_signals, key=lambda s: -s.shift), found, strict=True):
        assert abs(signal.shift - truth.shift) <= 0.005, f"{truth.shift}: centre {signal.shift}"
        assert signal.multiplicity == truth.multiplicity, f"{truth.shift}: {signal.multiplicity}"
        assert abs(signal.integration - truth.n_nuclei) <= 0.05 * truth.n_nuclei, (
            f"{truth.shift}: integral {signal.integration}, expected {truth.n_nuclei}"
        )
    couplings = {round(s.shift, 1): s.j_hz for s in found}
    assert couplings[5.8] == pytest.approx((15.6, 6.9, 1.5), abs=0.2), couplings


def test_c13_peaks_found_with_phase_and_baseline_errors(make_c13, c13_signals):
    result = peaks_from_raw(make_c13(phase_deg=(-120.0, 30.0), baseline_roll=2.0))
    shifts = np.array([s.shift for s in _sample(result.signals)])
    expected = np.array(sorted((s.shift for s in c13_signals), reverse=True))
    assert shifts.size == expected.size, f"picked {shifts}"
    assert np.abs(shifts - expected).max() < 0.02, f"picked {shifts}"


def test_autophase_recovers_known_phase(make_h1):
    raw = make_h1(noise=0.0)
    spectrum = fourier_transform(zero_fill(raw.data, 32768))
    distorted = apply_phase(spectrum, 70.0, -50.0)
    p0, p1 = autophase(distorted)
    corrected = apply_phase(distorted, p0, p1).real
    assert corrected.min() > -0.02 * corrected.max(), f"p0={p0:.1f} p1={p1:.1f} leaves dispersion"


def test_digital_filter_removal_realigns_fid(make_h1):
    delayed = make_h1(noise=0.0, group_delay=40.6).data
    ideal = make_h1(noise=0.0).data
    restored = remove_digital_filter(delayed, 40.6)
    assert np.abs(restored[:1000] - ideal[:1000]).max() < 1e-2 * np.abs(ideal).max()


@pytest.mark.parametrize(
    ("couplings", "code"),
    [
        ((), "s"),
        ((7.0,), "d"),
        ((7.0, 7.0), "t"),
        ((7.0,) * 3, "q"),
        ((8.0, 2.0), "dd"),
        ((8.0, 2.0, 2.0), "dt"),
        ((7.0, 7.0, 2.5), "td"),
        ((6.5,) * 6, "hept"),
        ((15.6, 6.9, 1.5), "ddd"),
    ],
)
def test_first_order_analysis_of_stick_patterns(couplings, code):
    offsets, weights = stick_pattern(couplings)
    positions, index = np.unique(np.round(offsets, 6), return_inverse=True)
    amplitudes = np.bincount(index, weights)
    shape = multiplets.analyse(positions + 1000.0, amplitudes)
    assert shape.multiplicity == code, f"{couplings}: got {shape}"


def test_non_first_order_group_is_m():
    shape = multiplets.analyse(np.array([0.0, 3.0, 4.0, 11.0]), np.ones(4))
    assert shape.multiplicity == "m", shape


def test_zero_signal_spectrum_is_rejected():
    noise = np.random.default_rng(0).standard_normal(8192) * (1 + 1j)
    raw = RawSpectrum(noise, "time", "13C", 100.6, 24000.0, carrier_ppm=100.0, source="empty")
    with pytest.raises(RawDataError, match="no 13C signal"):
        peaks_from_raw(raw)


@pytest.mark.parametrize(
    ("nucleus", "experiment", "message"),
    [("15N", "zg", "only 13C and 1H"), ("13C", "dept135", "DEPT")],
)
def test_unsupported_experiments_are_rejected(make_c13, nucleus, experiment, message):
    raw = make_c13()
    other = RawSpectrum(
        raw.data, "time", nucleus, raw.observe_mhz, raw.sweep_hz, experiment=experiment
    )
    with pytest.raises(RawDataError, match=message):
        peaks_from_raw(other)


@pytest.mark.parametrize("solvent", ["CDCl3", None], ids=["named", "recognised"])
def test_solvent_lines_are_labelled_not_reported(solvent):
    from nmrpeak_cli.processing.synthetic import SyntheticSignal, synthetic_fid

    signals = (
        SyntheticSignal(170.0),
        *(SyntheticSignal(77.16 + d, 1.0) for d in (-0.318, 0, 0.318)),
    )
    fid = synthetic_fid(
        signals, observe_mhz=100.61, sweep_hz=24000.0, carrier_ppm=100.0, points=16384, noise=0.05
    )
    raw = RawSpectrum(fid, "time", "13C", 100.61, 24000.0, carrier_ppm=100.0, solvent=solvent)
    result = peaks_from_raw(raw)
    assert result.solvent == "CDCl3", result.solvent
    assert [round(p.shift) for p in result.peak_list()] == [170], result.signals
    assert {s.label for s in result.excluded} == {"solvent"}


def test_proton_counts_far_from_whole_numbers_are_flagged_without_a_formula(make_h1):
    from nmrpeak_cli.processing.h1 import count_flags
    from nmrpeak_cli.processing.types import Signal

    clean = peaks_from_raw(make_h1())
    assert clean.quality == (), "a clean FID's counts come out whole"
    assert peaks_from_raw(make_h1(), h_count=11).quality == ()
    whole = [Signal(7.0, integration=2.02), Signal(2.0, integration=2.97)]
    assert count_flags(whole) == ()
    off = [
        Signal(8.2, integration=6.97),
        Signal(7.5, integration=2.61),
        Signal(2.3, integration=10.6),
    ]
    (flag,) = count_flags(off)
    assert "proton counts unreliable" in flag and "0.27 H" in flag, flag
    labelled = [*whole, Signal(7.26, integration=0.5, label="solvent")]
    assert count_flags(labelled) == (), "solvent and other labelled lines do not count"
