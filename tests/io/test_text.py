"""Journal-style text: edge cases of real papers, sentences, errors, and the round trip."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nmrpeak_cli.errors import ParseError, SpectrumError
from nmrpeak_cli.io.text import (
    format_nmr_text,
    format_peaks,
    normalize_text,
    parse_nmr_text,
    parse_peaks,
    parse_spectrum_text,
    split_nmr_sentences,
)
from nmrpeak_cli.spectra import Nucleus, Peak, PeakList


def h1(text: str) -> PeakList:
    return parse_peaks(text, "1H")


def c13(text: str) -> PeakList:
    return parse_peaks(text, "13C")


# --------------------------------------------------------------------------------------------
# Shifts and ranges
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "2.10–1.95 (m, 2H)",  # en dash
        "2.10-1.95 (m, 2H)",  # hyphen
        "2.10−1.95 (m, 2H)",  # minus sign
        "2.10 to 1.95 (m, 2H)",
        "1.95 - 2.10 (m, 2H)",  # low first, spaced
        "2.10—1.95 (m, 2H)",  # em dash
    ],
)
def test_ranges_in_every_spelling(text: str) -> None:
    (peak,) = h1(text)
    assert (peak.shift_lo, peak.shift_hi) == (1.95, 2.10), f"range bounds of {text!r}: {peak}"
    assert peak.shift == pytest.approx(2.025), f"range centre of {text!r}"
    assert peak.integration == 2 and peak.multiplicity == "m", f"annotation of {text!r}"


def test_centre_with_its_range_in_the_bracket() -> None:
    (peak,) = h1("2.03 (2.10–1.95, m, 2H)")
    assert (peak.shift, peak.shift_lo, peak.shift_hi) == (2.03, 1.95, 2.10), "centre kept"
    assert format_peaks(PeakList(Nucleus.H1, (peak,))) == "2.03 (2.1–1.95, m, 2H)", "written back"
    (other,) = h1("2.03 (m, 2H, 5-6)")
    assert other.shift_lo is None, "numbers not around the centre are an assignment"


def test_negative_shifts_with_minus_sign_and_negative_ranges() -> None:
    peaks = h1("0.11 (s, 36H), −0.11 (s, 18H), −0.50–−0.60 (m, 2H)")
    assert [p.shift for p in peaks] == pytest.approx([0.11, -0.11, -0.55]), "negative shifts"
    assert (peaks[2].shift_lo, peaks[2].shift_hi) == (-0.6, -0.5), "negative range"


def test_bare_comma_list_with_and_trailing_period_and_ppm() -> None:
    peaks = c13("δC 170.1, 128.3,\n 77.0 and 21.4 ppm.")
    assert peaks.shifts.tolist() == [170.1, 128.3, 77.0, 21.4], "shifts of a bare list"
    assert all(p.integration is None for p in peaks), "no integration on bare 13C values"


def test_whitespace_only_separated_and_semicolons() -> None:
    peaks = h1("6.64–7.97 (m, 3H, ArH) 9.22 (s, 1H, NH); 7.43 (s, 2H, -NH2)")
    assert peaks.shifts.tolist() == pytest.approx([9.22, 7.43, 7.305]), "three peaks"


# --------------------------------------------------------------------------------------------
# Bracket contents
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7.38 (dd, J = 8.0, 2.0 Hz, 1H)", (8.0, 2.0)),
        ("7.38 (dd, J = 8.0 Hz, J = 2.0 Hz, 1H)", (8.0, 2.0)),
        ("7.38 (dd, J1 = 8.0 Hz, J2 = 2.0 Hz, 1H)", (8.0, 2.0)),
        ("7.38 (dd, J 8.0, 2.0Hz, 1H)", (8.0, 2.0)),
        ("7.38 (dd, J=8.0 and 2.0 Hz, 1H)", (8.0, 2.0)),
        ("7.38 (1H, dd, J = 2.0, 8.0)", (8.0, 2.0)),
        ("4.45 (dt, JHF = 47.6, J = 6.0 Hz, 2H)", (47.6, 6.0)),
        ("4.45 (d, 2JHF = 47.6 Hz, 2H)", (47.6,)),
        ("4.45 (d, J(H,F) = 47.6 Hz, 2H)", (47.6,)),
        ("7.38 (dd, J = 8.0, 1H)", (8.0,)),  # "1H" is the integration, not a coupling
    ],
)
def test_coupling_constants(text: str, expected: tuple[float, ...]) -> None:
    (peak,) = h1(text)
    assert peak.j_hz == expected, f"J values of {text!r}: {peak.j_hz}"
    assert peak.integration in (1, 2), f"integration of {text!r}: {peak.integration}"


@pytest.mark.parametrize(
    "text",
    [
        "5.02 (d, 1H, J = 2.0 Hz, 5’-H)",
        "5.02 (1H, d, J = 2.0 Hz)",
        "5.02 (d, J = 2.0 Hz, 1H, H-5′)",
        "5.02 (d, J\u2009=\u20092.0\u2009Hz, 1\u00a0H, CH-SO2)",
    ],
)
def test_integration_before_or_after_multiplicity_and_assignments_ignored(text: str) -> None:
    (peak,) = h1(text)
    assert (peak.multiplicity, peak.j_hz, peak.integration) == ("d", (2.0,), 1.0), text


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("5.26 (br s, 1H)", "br s"),
        ("5.26 (brs, 1H)", "br s"),
        ("5.26 (bs, 1H)", "br s"),
        ("5.26 (S, 1H, NH)", "s"),
        ("5.26 (app t, J = 7 Hz, 1H)", "t"),
        ("5.26 (ddd, J = 8, 4, 2 Hz, 1H)", "ddd"),
        ("5.26 (1H, m)", "m"),
        ("1.54m", "m"),
    ],
)
def test_multiplicity_spellings(text: str, code: str) -> None:
    (peak,) = h1(text)
    assert peak.multiplicity == code, f"multiplicity of {text!r}: {peak.multiplicity}"


def test_missing_integration_and_bare_count_without_unit() -> None:
    peaks = h1("7.26 (d, J = 8.4 Hz), 3.39 (s, OH), −0.11 (s, 18, −SiCH3)")
    assert [p.integration for p in peaks] == [None, None, None], "no integration was printed"
    assert [p.multiplicity for p in peaks] == ["d", "s", "s"], "multiplicities still read"


def test_carbon_counts_dept_labels_and_cf_couplings() -> None:
    peaks = c13(
        "162.3 (d, J = 245.1 Hz), 128.3 (2C), 127.1 (2 × CH), 68.7 (2×), 26.6 (CH2), 14.0 (CH3), "
        "131.2 (Cq), 124.0 (q, 1JCF = 272 Hz, CF3), 55.1 (OMe)"
    )
    by_shift = {p.shift: p for p in peaks}
    assert by_shift[162.3].multiplicity == "d" and by_shift[162.3].j_hz == (245.1,), "C–F doublet"
    assert by_shift[128.3].integration == 2 and by_shift[128.3].n_h is None, "(2C) is a count"
    assert (by_shift[127.1].integration, by_shift[127.1].n_h) == (2, 1), "2 × CH"
    assert by_shift[68.7].integration == 2, "(2×)"
    assert [by_shift[s].n_h for s in (26.6, 14.0, 131.2)] == [2, 3, 0], "DEPT labels"
    assert by_shift[124.0].j_hz == (272.0,) and by_shift[124.0].multiplicity == "q", "CF3 quartet"
    assert by_shift[55.1].integration is None and by_shift[55.1].n_h is None, "assignment only"


def test_unicode_look_alikes() -> None:
    text = "７.２６ (d, J = 8.4 Hz, 2H),\u00a03.81\u2009(s, 3H)\u200b, 2·10 (s, 1H)"
    assert h1(text).shifts.tolist() == [7.26, 3.81, 2.10], f"normalized: {normalize_text(text)!r}"


def test_square_bracket_groups_and_remarks() -> None:
    peaks = c13("14.3 (CH3), [23.0, 26.2, 29.7 (CH2, overlapping)], 50.5 (CH) (Figure S2)")
    assert peaks.shifts.tolist() == [50.5, 29.7, 26.2, 23.0, 14.3], "peaks inside [...] are read"


# --------------------------------------------------------------------------------------------
# Sentences
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "nucleus", "field", "solvent", "count"),
    [
        ("13C NMR (101 MHz, CDCl3) δ 170.2, 77.0", Nucleus.C13, 400.0, "CDCl3", 2),
        ("1H NMR (400 MHz, CDCl3): δ 8.81 (s, 3H), 7.66 (s, 3H)", Nucleus.H1, 400.0, "CDCl3", 2),
        ("1H NMR (CDCl3) δ 1.84 (s, 6H)", Nucleus.H1, None, "CDCl3", 1),
        (
            "1H-NMR (200 MHz) DMSO-d6 (ppm): 11.37 and 11.17 (s, 1H)",
            Nucleus.H1,
            200.0,
            "DMSO-d6",
            2,
        ),
        ("13C- NMR (50 MHz) DMSO-d6 (ppm): 177.65 and 172.42", Nucleus.C13, 200.0, "DMSO-d6", 2),
        ("13C NMR: (125 MHz, CDCl3) δ ppm: 110.78, 126.85", Nucleus.C13, 500.0, "CDCl3", 2),
        ("1H NMR (DMSO–d6, 500 MHz) δ 1.77–1.87 (1H, m)", Nucleus.H1, 500.0, "DMSO-d6", 1),
        ("1H NMR (400 MHz, CDCl3, TMS, δ ppm): 7.6 (1H, bs, NH)", Nucleus.H1, 400.0, "CDCl3", 1),
        ("¹H NMR (600 MHz, Chloroform-d) δ11.22 (s, 1H)", Nucleus.H1, 600.0, "CDCl3", 1),
        (
            "1H NMR (400 MHz, CDCl3): δ = 11.67(s, 1H), δ = 9.05(d, J = 9 Hz, 2H)",
            Nucleus.H1,
            400.0,
            "CDCl3",
            2,
        ),
        ("13C NMR (400 MHz, CD3OD) δ 50.0", Nucleus.C13, 400.0, "CD3OD", 1),
    ],
)
def test_full_sentences(text, nucleus, field, solvent, count) -> None:
    parsed = parse_nmr_text(text)
    assert parsed.nucleus is nucleus, f"nucleus of {text!r}"
    assert parsed.field_mhz == field, f"1H field of {text!r}: {parsed.field_mhz}"
    assert parsed.solvent == solvent, f"solvent of {text!r}: {parsed.solvent}"
    assert len(parsed.peaks) == count, f"peak count of {text!r}: {parsed.peaks}"


def test_parse_peaks_accepts_a_sentence_of_its_nucleus_only() -> None:
    assert len(parse_peaks("13C NMR (CDCl3) δ 170.2, 77.0", "13C")) == 2, "header stripped"
    with pytest.raises(ParseError, match="13C NMR description"):
        parse_peaks("13C NMR (CDCl3) δ 170.2, 77.0", "1H")


def test_parse_spectrum_text_and_split_sentences() -> None:
    paragraph = "1H NMR (400 MHz, CDCl3) δ 7.26 (s, 1H); 13C NMR (101 MHz, CDCl3) δ 128.0, 77.0."
    first, second = split_nmr_sentences(paragraph)
    spectrum = parse_spectrum_text(second, first, id="x", formula="C7H8")
    assert spectrum.h1 is not None and len(spectrum.h1) == 1, "1H peaks"
    assert spectrum.c13 is not None and spectrum.c13.shifts.tolist() == [128.0, 77.0], "13C peaks"
    assert (spectrum.solvent, spectrum.field_mhz, spectrum.formula) == ("CDCl3", 400.0, "C7H8")


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("170.2, 128.3, carbonyl at 200", "carbonyl at 200"),
        ("7.26 (d, 2H), HRMS found 123", "HRMS found 123"),
        ("18 carbon signals, two for ketone", "carbon signals"),
    ],
)
def test_unparseable_fragment_is_named(text: str, fragment: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_peaks(text, "13C")
    assert fragment in str(info.value), f"message should quote {fragment!r}: {info.value}"
    assert info.value.field == "c13", "field of the error"


@pytest.mark.parametrize("text", ["", "   ", "δ ppm", "The 1H NMR data are in Table 1"])
def test_no_peaks_is_an_error(text: str) -> None:
    with pytest.raises(ParseError):
        parse_peaks(text, "1H")


def test_sentence_without_header_needs_a_nucleus_and_values_are_validated() -> None:
    with pytest.raises(ParseError, match="header"):
        parse_nmr_text("7.26 (s, 1H)")
    assert len(parse_nmr_text("7.26 (s, 1H)", "1H").peaks) == 1, "nucleus given"
    with pytest.raises(SpectrumError, match="outside the plausible"):
        parse_peaks("87.05 (s, 1H)", "1H")
    with pytest.raises(ParseError, match="unclosed bracket"):
        parse_peaks("7.26 (s, 1H", "1H")


# --------------------------------------------------------------------------------------------
# Writing and the round trip
# --------------------------------------------------------------------------------------------


def test_format_examples() -> None:
    peaks = PeakList(
        Nucleus.H1,
        (
            Peak(7.26, integration=2, multiplicity="d", j_hz=(8.4,)),
            Peak(2.025, shift_lo=1.95, shift_hi=2.1, integration=2, multiplicity="m"),
            Peak(3.81, integration=3, multiplicity="s"),
        ),
    )
    assert format_peaks(peaks) == "7.26 (d, J = 8.4 Hz, 2H), 3.81 (s, 3H), 2.1–1.95 (m, 2H)"
    carbons = PeakList(Nucleus.C13, (Peak(128.3, integration=2, n_h=1), Peak(77.0)))
    assert format_peaks(carbons) == "128.3 (2C, CH), 77.0"
    assert (
        format_nmr_text(carbons, solvent="CDCl3", field_mhz=400)
        == "13C NMR (101 MHz, CDCl3) δ 128.3 (2C, CH), 77.0"
    )


_MULTIPLICITIES = [
    None,
    "s",
    "d",
    "t",
    "q",
    "p",
    "h",
    "hept",
    "m",
    "dd",
    "dt",
    "td",
    "ddd",
    "br s",
    "br d",
    "ABq",
]


@st.composite
def peak_lists(draw, nucleus: Nucleus) -> PeakList:
    low, high = nucleus.shift_range
    shifts = st.floats(low, high, allow_nan=False, allow_infinity=False)
    peaks = []
    for _ in range(draw(st.integers(0, 8))):
        if draw(st.booleans()):
            a, b = sorted((draw(shifts), draw(shifts)))
            centre = (a + b) / 2 if draw(st.booleans()) else draw(st.floats(a, b))
            kwargs = {"shift": centre, "shift_lo": a, "shift_hi": b}
        else:
            kwargs = {"shift": draw(shifts)}
        multiplicity = draw(st.sampled_from(_MULTIPLICITIES))
        j_hz = tuple(draw(st.lists(st.floats(0, 500, allow_nan=False), max_size=3)))
        if nucleus is Nucleus.C13 and multiplicity in {"s", "d", "t", "q"} and not j_hz:
            multiplicity = None  # bare 13C s/d/t/q letters are read as attached-H labels
        peaks.append(
            Peak(
                **kwargs,
                integration=draw(st.none() | st.floats(0, 100, allow_nan=False)),
                multiplicity=multiplicity,
                j_hz=j_hz,
                n_h=draw(st.none() | st.integers(0, 4)) if nucleus is Nucleus.C13 else None,
            )
        )
    return PeakList(nucleus, tuple(peaks))


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(list(Nucleus)).flatmap(peak_lists))
def test_round_trip_text_peaklist_text(peaks: PeakList) -> None:
    if not peaks.peaks:
        return  # an empty list has no text form
    text = format_peaks(peaks)
    again = parse_peaks(text, peaks.nucleus)
    assert again == peaks, f"peaks changed through {text!r}"
    assert format_peaks(again) == text, "text is stable"


def test_format_peaks_journal_rounds_like_a_paper() -> None:
    h1 = parse_peaks(
        "8.0148 (d, J = 8.43 Hz, 1.96H), 2.1234–1.9512 (m, 2.2H), 1.2 (t, J = 7.1 Hz, 0.4H)",
        "1H",
    )
    assert format_peaks(h1, journal=True) == (
        "8.01 (d, J = 8.4 Hz, 2H), 2.12–1.95 (m, 2H), 1.20 (t, J = 7.1 Hz, 1H)"
    ), "1H: 2 decimals, J to 0.1 Hz, whole protons (at least 1)"
    c13 = parse_peaks("128.345 (CH), 77.04, 30.0 (2C)", "13C")
    assert format_peaks(c13, journal=True) == "128.3 (CH), 77.0, 30.0 (2C)", "13C: 1 decimal"
    assert format_peaks(h1).startswith("8.0148 (d, J = 8.43 Hz, 1.96H)"), "default keeps all"


def test_c13_letters_are_attached_h_counts_only_when_they_mix() -> None:
    dept = c13("13.8 (q), 18.5 (t), 42.6 (d), 173.6 (s), 128.3 (CH)")
    assert [p.n_h for p in dept] == [0, 1, 1, 2, 3], "s/d/t/q = C/CH/CH2/CH3"
    assert all(p.multiplicity is None for p in dept), "letters become labels, not multiplets"
    singlets = c13("160.2 (s), 54.7 (s), 35.7 (s)")
    assert [p.n_h for p in singlets] == [None] * 3, "all-(s) lists are software singlets"
    cf = c13("162.3 (d, J = 245.1 Hz), 124.0 (q), 115.2 (d)")
    assert [p.n_h for p in cf] == [None] * 3, "a list with J values has C–F multiplets"
    assert format_peaks(dept).startswith("173.6 (C), 128.3 (CH)"), "written as DEPT labels"
