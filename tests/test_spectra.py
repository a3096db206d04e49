"""The data model validates, coerces and sorts once, at construction."""

from __future__ import annotations

import math

import pytest

from nmrpeak_cli.errors import SpectrumError
from nmrpeak_cli.spectra import (
    Nucleus,
    Peak,
    PeakList,
    Spectrum,
    multiplicity_lines,
    normalize_formula,
    normalize_multiplicity,
)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("s", "s"),
        ("br s", "br s"),
        ("brs", "br s"),
        ("br. s", "br s"),
        ("bs", "br s"),
        ("DD", "dd"),
        ("app t", "t"),
        ("pt", "t"),
        ("septet", "hept"),
        ("quint", "p"),
        ("sextet", "h"),
        ("dtd", "dtd"),
        ("multiplet", "m"),
        ("AB q", "ABq"),
        ("", None),
        (None, None),
    ],
)
def test_multiplicity_normalization(raw, code):
    assert normalize_multiplicity(raw) == code, f"{raw!r} should normalize to {code!r}"


@pytest.mark.parametrize("raw", ["x", "dz", "1H", "doublets of something"])
def test_unknown_multiplicity_names_the_value(raw):
    with pytest.raises(SpectrumError, match="unknown multiplicity"):
        normalize_multiplicity(raw)


def test_multiplicity_lines():
    assert multiplicity_lines("dd") == 4
    assert multiplicity_lines("br t") == 3
    assert multiplicity_lines("hept") == 7
    assert multiplicity_lines("m") is None


def test_peaklist_sorted_descending_and_readonly():
    peaks = PeakList.from_shifts("13C", [77.0, 170.2, 128.4])
    assert list(peaks.shifts) == [170.2, 128.4, 77.0], "peaks sort by decreasing shift"
    with pytest.raises(ValueError):
        peaks.shifts[0] = 1.0


def test_expanded_shifts_repeat_by_integration():
    h1 = PeakList(Nucleus.H1, (Peak(7.2, integration=2), Peak(2.3, integration=3), Peak(1.0)))
    assert list(h1.expanded_shifts()) == [7.2, 7.2, 2.3, 2.3, 2.3, 1.0]
    assert h1.total_count == 6.0


@pytest.mark.parametrize("bad", [math.nan, math.inf, "abc", None])
def test_peak_rejects_non_finite_shift(bad):
    with pytest.raises(SpectrumError, match="shift"):
        Peak(bad)


def test_out_of_range_shift_names_nucleus_and_peak():
    with pytest.raises(SpectrumError, match=r"h1: peak 1: shift 40 ppm is outside"):
        PeakList.from_shifts("1H", [40.0])


def test_negative_integration_rejected():
    with pytest.raises(SpectrumError, match="integration"):
        Peak(1.0, integration=-1)


def test_range_is_ordered_and_partial_range_dropped():
    peak = Peak(2.0, shift_lo=2.10, shift_hi=1.95)
    assert (peak.shift_lo, peak.shift_hi) == (1.95, 2.10)
    assert Peak(2.0, shift_lo=1.9).shift_lo is None


def test_spectrum_normalizes_conditions():
    spectrum = Spectrum("x", c13=[170.0], formula="H10 C9 O2", solvent="dmso-d6", field_mhz="400")
    assert spectrum.formula == "C9H10O2"
    assert spectrum.solvent == "DMSO-d6"
    assert spectrum.field_mhz == 400.0
    assert spectrum.nuclei == (Nucleus.C13,)
    assert spectrum.without_truth().smiles is None


@pytest.mark.parametrize("bad", ["+C9H10O2", "hello", "C9Xx2", "C9H10O2+a"])
def test_bad_formula(bad):
    with pytest.raises(SpectrumError, match="formula"):
        normalize_formula(bad)


@pytest.mark.parametrize(
    ("text", "normal", "charge"),
    [
        ("C9H12N+", "C9H12N+", 1),
        ("C10H7O4S-", "C10H7O4S-", -1),
        ("C10H15N2O7-3", "C10H15N2O7-3", -3),
        ("H12 C9 N ++", "C9H12N+2", 2),
        ("C9H10O2", "C9H10O2", 0),
    ],
)
def test_charged_formulas_as_nmrshiftdb2_writes_them(text, normal, charge):
    from nmrpeak_cli.chem import formula, parse_smiles
    from nmrpeak_cli.spectra import formula_charge, parse_formula

    assert normalize_formula(text) == normal and formula_charge(text) == charge
    assert "+" not in "".join(parse_formula(text)) and parse_formula(text)["C"] in (9, 10)
    ion = parse_smiles("C[N+](C)(C)C")
    assert normalize_formula("C4H12N+") == formula(ion), "query and candidate formulas agree"


def test_spectrum_requires_id_and_matching_nucleus():
    with pytest.raises(SpectrumError, match="id"):
        Spectrum("")
    with pytest.raises(SpectrumError, match="c13"):
        Spectrum("x", c13=PeakList.from_shifts("1H", [1.0]))
