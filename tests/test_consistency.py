"""Query consistency checks: formula against peaks, errors vs warnings."""

from __future__ import annotations

import pytest

from nmrpeak_cli.consistency import (
    attached_h_problem,
    check_consistency,
    coupling_lines,
    formula_problem,
    without_attached_h,
)
from nmrpeak_cli.spectra import Nucleus, Peak, PeakList, Spectrum


@pytest.mark.parametrize(
    ("formula", "expected"),
    [
        ("C9H10O2", None),
        ("C2H5", "odd electron count"),
        ("C2H10", "more hydrogens"),
        ("H2", "no carbon"),
        ("C2H6Fe", "outside what the models know"),
    ],
)
def test_formula_problem(formula: str, expected: str | None) -> None:
    problem = formula_problem(formula)
    if expected is None:
        assert problem is None, f"{formula} is a real formula: {problem}"
    else:
        assert problem is not None and expected in problem, f"{formula}: {problem}"


def test_consistent_query_has_no_errors() -> None:
    query = Spectrum("ethyl acetate", c13=[171.1, 60.5, 21.0, 14.2],
                     h1=[Peak(4.12, integration=2), Peak(2.05, integration=3),
                         Peak(1.26, integration=3)], formula="C4H8O2")  # fmt: skip
    check = check_consistency(query)
    assert check.errors == () and check.warnings == (), check


def test_more_13c_signals_than_carbons_is_an_error() -> None:
    check = check_consistency(Spectrum("q", c13=[170.0, 130.0, 60.0, 20.0], formula="C3H6O2"))
    assert len(check.errors) == 1 and "4 distinct 13C signals" in check.errors[0], check
    assert "3 carbons" in check.errors[0]


def test_1h_integrals_above_the_formula_hydrogens_is_an_error() -> None:
    h1 = [Peak(2.1, integration=6), Peak(1.2, integration=3)]
    check = check_consistency(Spectrum("q", h1=h1, formula="C3H6O"))
    assert any("sum to 9" in e and "6 hydrogens" in e for e in check.errors), check


def test_odd_electron_formula_is_an_error() -> None:
    check = check_consistency(Spectrum("q", c13=[20.0], formula="C2H5"))
    assert any("odd electron count" in e for e in check.errors), check


def test_no_peaks_is_an_error() -> None:
    assert check_consistency(Spectrum("q", formula="C2H6O")).errors, "nothing to answer with"


def test_c_f_doublet_lines_are_a_warning_not_an_error() -> None:
    # 4-fluorotoluene printed line by line at 100 MHz: C-F doublets of 245, 21, 8 and 3 Hz.
    lines = [162.3, 159.9, 133.3, 133.2, 130.5, 130.4, 115.1, 114.9, 20.9]
    query = Spectrum("fluoro", c13=lines, formula="C7H7F")
    check = check_consistency(query)
    assert check.errors == (), f"coupling lines must not fail the record: {check}"
    assert any("C–F" in w for w in check.warnings), check


def test_excess_lines_without_f_or_p_stay_an_error() -> None:
    lines = [162.3, 159.9, 133.3, 133.2, 130.5, 130.4, 115.1, 114.9, 20.9]
    check = check_consistency(Spectrum("no-f", c13=lines, formula="C7H8O"))
    assert check.errors, "without F or P nothing explains the extra lines"


def test_coupling_lines_uses_the_field() -> None:
    peaks = PeakList(Nucleus.C13, [100.0, 97.0])  # 3 ppm apart
    assert coupling_lines(peaks) == 1, "300 Hz at 100 MHz looks like a 1J(C-F)"
    assert coupling_lines(peaks, field_mhz=800.0) == 0, "600 Hz at 200 MHz 13C does not"


def _labelled(pairs: list[tuple[float, int | None]], formula: str) -> Spectrum:
    return Spectrum("q", c13=[Peak(s, n_h=h) for s, h in pairs], formula=formula)


@pytest.mark.parametrize(
    ("pairs", "formula", "expected"),
    [
        ([(171.1, 0), (60.5, 2), (21.0, 3), (14.2, 3)], "C4H8O2", None),
        ([(171.1, 0), (60.5, None), (21.0, 3)], "C4H8O2", None),
        ([(30.0, 3), (25.0, 3), (20.0, 3)], "C3H8O", "3 CH3 need 9 hydrogens"),
        ([(130.0, 1), (60.0, 2), (40.0, 2), (30.0, 2)], "C4H6", "carry 7 hydrogens"),
        ([(130.0, 0), (120.0, 0), (110.0, 0)], "C2H2O", "3 labelled carbons"),
    ],
)
def test_attached_h_problem(pairs, formula: str, expected: str | None) -> None:
    problem = attached_h_problem(_labelled(pairs, formula))
    if expected is None:
        assert problem is None, f"{pairs} fit {formula}: {problem}"
    else:
        assert problem is not None and expected in problem and formula in problem, problem


def test_attached_h_counts_equivalent_carbons_and_ignores_queries_without_formula() -> None:
    tert_butyl = [Peak(80.0, n_h=0), Peak(28.0, integration=3, n_h=3)]
    assert attached_h_problem(Spectrum("q", c13=tert_butyl, formula="C4H10O")) is None
    problem = attached_h_problem(Spectrum("q", c13=tert_butyl, formula="C4H8O"))
    assert problem is not None and "9 hydrogens" in problem, problem
    assert attached_h_problem(Spectrum("q", c13=tert_butyl)) is None, "no formula, no check"


def test_without_attached_h_drops_only_the_labels() -> None:
    query = _labelled([(30.0, 3), (25.0, 3), (20.0, 3)], "C3H8O")
    plain = without_attached_h(query)
    assert [p.n_h for p in plain.c13] == [None] * 3, plain.c13
    assert list(plain.c13.shifts) == list(query.c13.shifts) and plain.formula == query.formula
    assert check_consistency(plain) == check_consistency(query), "other checks unchanged"
