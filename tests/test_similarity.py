"""The peak-aware similarity: definition, required properties and the vectorized kernel."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nmrpeak_cli.errors import SpectrumError
from nmrpeak_cli.similarity import (
    C13_DEFAULTS,
    DEFAULT_PARAMS,
    H1_DEFAULTS,
    NucleusParams,
    PackedPeakLists,
    SimilarityParams,
    credit,
    match_peaks,
    match_spectra,
    score_many,
    similarity,
    spectrum_score_many,
    spectrum_similarity,
)
from nmrpeak_cli.spectra import Nucleus, Peak, PeakList, Spectrum

GREEDY = replace(DEFAULT_PARAMS, matching="greedy")
FAST = settings(max_examples=60, deadline=None)


def c13(*shifts: float, counts: list[float] | None = None) -> PeakList:
    return PeakList.from_shifts(Nucleus.C13, shifts, counts)


def h1(*peaks: tuple[float, float]) -> PeakList:
    return PeakList(Nucleus.H1, tuple(Peak(s, integration=n) for s, n in peaks))


# --------------------------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------------------------

c13_shifts = st.lists(st.floats(-5, 230, allow_nan=False), max_size=20)
h1_peaks = st.lists(
    st.tuples(st.floats(-0.5, 13, allow_nan=False), st.sampled_from([1, 2, 3])), max_size=12
)


@st.composite
def peak_lists(draw: st.DrawFn) -> tuple[PeakList, PeakList]:
    """Two lists of the same nucleus, 13C or 1H, possibly empty."""
    if draw(st.booleans()):
        return c13(*draw(c13_shifts)), c13(*draw(c13_shifts))
    return h1(*draw(h1_peaks)), h1(*draw(h1_peaks))


def distinct(values: list[float], gap: float = 1e-3) -> list[float]:
    """``values`` with near-duplicates dropped (13C lists of distinct signals)."""
    kept: list[float] = []
    for v in sorted(values):
        if not kept or v - kept[-1] > gap:
            kept.append(v)
    return kept


# --------------------------------------------------------------------------------------------
# Required properties
# --------------------------------------------------------------------------------------------


@FAST
@given(pair=peak_lists(), matching=st.sampled_from(["optimal", "greedy"]))
def test_identical_lists_score_one(pair, matching):
    a, _ = pair
    score = similarity(a, a, params=replace(DEFAULT_PARAMS, matching=matching))
    assert score == pytest.approx(1.0, abs=1e-12), f"{a} against itself scored {score}"


@FAST
@given(
    pair=peak_lists(),
    matching=st.sampled_from(["optimal", "greedy"]),
    extra_weight=st.floats(0, 1),
)
def test_score_lies_in_unit_interval(pair, matching, extra_weight):
    a, b = pair
    params = replace(DEFAULT_PARAMS, matching=matching, extra_weight=extra_weight)
    score = similarity(a, b, params=params)
    assert 0.0 <= score <= 1.0, f"score {score} outside [0, 1]"
    assert np.isfinite(score), "score is not finite"


@FAST
@given(pair=peak_lists(), seed=st.integers(0, 2**16))
def test_order_invariant(pair, seed):
    a, b = pair
    order = np.random.default_rng(seed).permutation(len(a.peaks))
    shuffled = PeakList(a.nucleus, tuple(a.peaks[i] for i in order))
    assert similarity(shuffled, b) == similarity(a, b), "peak order changed the score"


@FAST
@given(pair=peak_lists())
def test_optimal_symmetric_score_is_symmetric(pair):
    a, b = pair
    forward, backward = similarity(a, b), similarity(b, a)
    assert forward == pytest.approx(backward, abs=1e-9), f"{forward} != {backward}"


@FAST
@given(a=st.lists(st.floats(0.5, 200), min_size=2, max_size=8), missing=st.floats(0.1, 1))
def test_query_coverage_variant_is_asymmetric(a, missing):
    """extra_weight = 0 forgives candidate peaks the query lacks, not the reverse."""
    shifts = distinct(a, gap=20)
    assume(len(shifts) >= 2)
    full, partial = c13(*shifts), c13(*shifts[1:])
    params = replace(DEFAULT_PARAMS, extra_weight=0.0)
    assert similarity(partial, full, params=params) == pytest.approx(1.0)
    assert similarity(full, partial, params=params) < 1.0


@st.composite
def spaced_lists(draw: st.DrawFn) -> PeakList:
    """Peaks 2.3× the wide tolerance apart: under drifts up to 1.2× wide each matches only its twin."""
    nucleus = draw(st.sampled_from([Nucleus.C13, Nucleus.H1]))
    wide = DEFAULT_PARAMS.for_nucleus(nucleus).wide_tolerance_ppm
    start = 10.0 if nucleus is Nucleus.C13 else 0.5
    gaps = draw(st.lists(st.floats(2.3 * wide, 3 * wide), min_size=0, max_size=8))
    shifts = start + np.concatenate([[0.0], np.cumsum(gaps)])
    counts = draw(st.lists(st.sampled_from([1, 2, 3]), min_size=len(shifts), max_size=len(shifts)))
    if nucleus is Nucleus.C13:
        return PeakList.from_shifts(nucleus, shifts)
    return PeakList.from_shifts(nucleus, shifts, counts)


@FAST
@given(
    base=spaced_lists(),
    fractions=st.tuples(st.floats(0, 1.2), st.floats(0, 1.2)),
    sign=st.sampled_from([-1.0, 1.0]),
    matching=st.sampled_from(["optimal", "greedy"]),
)
def test_larger_uniform_drift_scores_lower(base, fractions, sign, matching):
    params = replace(DEFAULT_PARAMS, matching=matching)
    wide = params.for_nucleus(base.nucleus).wide_tolerance_ppm
    small, large = sorted(fractions)

    def drifted(fraction: float) -> PeakList:
        delta = sign * fraction * wide
        return PeakList(base.nucleus, tuple(replace(p, shift=p.shift + delta) for p in base))

    near = similarity(base, drifted(small), params=params)
    far = similarity(base, drifted(large), params=params)
    assert far <= near + 1e-12, f"drift {large}×wide scored {far} > {near} at {small}×wide"
    if len(base) and small + 1e-3 < large < 1.0:
        assert far < near, f"drift {small}→{large}×wide did not lower the score ({near})"


@FAST
@given(shifts=c13_shifts, seed=st.integers(0, 2**16))
def test_missing_13c_peaks_lower_the_score(shifts, seed):
    shifts = distinct(shifts)
    assume(len(shifts) >= 2)
    order = np.random.default_rng(seed).permutation(len(shifts))
    full = c13(*shifts)
    scores = [similarity(full, c13(*np.delete(shifts, order[:k]))) for k in range(len(shifts))]
    assert all(np.diff(scores) < 0), f"removing peaks one by one gave {scores}"


@FAST
@given(peaks=h1_peaks, seed=st.integers(0, 2**16))
def test_missing_1h_nuclei_lower_the_score(peaks, seed):
    assume(peaks)
    full = h1(*peaks)
    expanded = list(full.expanded_shifts())
    order = np.random.default_rng(seed).permutation(len(expanded))
    scores = []
    for k in range(len(expanded)):
        kept = np.delete(expanded, order[:k])
        scores.append(similarity(full, PeakList.from_shifts(Nucleus.H1, kept)))
    assert all(np.diff(scores) < 0), f"removing nuclei one by one gave {scores}"


@FAST
@given(pair=peak_lists(), extra=st.lists(st.floats(0.1, 12), min_size=1, max_size=5))
def test_extra_peaks_lower_the_score(pair, extra):
    base, _ = pair
    existing = set(base.shifts.tolist())
    extra = [e for e in distinct(extra) if e not in existing]
    assume(extra and len(base))
    scores = [
        similarity(base, PeakList(base.nucleus, base.peaks + tuple(Peak(e) for e in extra[:k])))
        for k in range(len(extra) + 1)
    ]
    assert all(np.diff(scores) < 0), f"adding peaks one by one gave {scores}"


def test_empty_lists():
    for nucleus in Nucleus:
        empty = PeakList(nucleus)
        one = PeakList.from_shifts(nucleus, [5.0])
        assert similarity(empty, empty) == 1.0, "empty vs empty must be 1"
        assert similarity(empty, one) == 0.0, "empty query vs non-empty must be 0"
        assert similarity(one, empty) == 0.0, "non-empty query vs empty must be 0"
        result = match_peaks(one, empty)
        assert result.pairs.shape == (0, 2), f"pairs of an empty match: {result.pairs}"


def test_nan_cannot_reach_the_similarity():
    with pytest.raises(SpectrumError, match="finite"):
        c13(170.0, float("nan"))


# --------------------------------------------------------------------------------------------
# Definition details
# --------------------------------------------------------------------------------------------


def test_credit_is_continuous_and_decreasing():
    for params in (C13_DEFAULTS, H1_DEFAULTS):
        d = np.linspace(0, 1.5 * params.wide_tolerance_ppm, 2001)
        values = credit(d, params)
        assert values[0] == 1.0, "zero distance earns full credit"
        assert np.all(np.diff(values) <= 0), "credit increases somewhere"
        assert np.max(np.abs(np.diff(values))) < 0.01, "credit jumps"
        at_edge = credit(params.tolerance_ppm, params)
        assert at_edge == pytest.approx(params.edge_credit), f"edge credit {at_edge}"
        assert credit(params.wide_tolerance_ppm, params) == 0.0, "credit at wide tolerance"


def test_match_rounds_and_errors():
    query = c13(170.0, 128.0, 77.0, 40.0)
    candidate = c13(171.0, 123.0, 20.0)  # +1 ppm, −5 ppm, far
    result = match_peaks(query, candidate)
    assert result.pairs.tolist() == [[0, 0], [1, 1]], f"pairs {result.pairs.tolist()}"
    assert result.round.tolist() == [1, 2], f"rounds {result.round.tolist()}"
    assert result.errors_ppm == pytest.approx([1.0, -5.0]), f"errors {result.errors_ppm}"
    assert result.first_round_errors() == pytest.approx([1.0]), "first-round errors"
    expected = 2 * (credit(1.0, C13_DEFAULTS) + credit(5.0, C13_DEFAULTS)) / (4 + 3)
    assert result.score == pytest.approx(float(expected)), f"score {result.score}"


def test_optimal_matching_beats_greedy_on_a_crossing():
    # Greedy takes the closest pair (0.15 tol apart) and leaves a 1.25 tol pair to round 2;
    # optimal keeps two round-1 pairs (0.5 and 0.9 tol apart).
    tol = C13_DEFAULTS.tolerance_ppm
    query = c13(100.0, 100.0 - 0.75 * tol)
    candidate = c13(100.0 + 0.5 * tol, 100.0 + 0.15 * tol)
    greedy = match_peaks(query, candidate, params=GREEDY)
    optimal = match_peaks(query, candidate)
    assert greedy.round.tolist() == [1, 2], f"greedy rounds {greedy.round.tolist()}"
    assert optimal.round.tolist() == [1, 1], f"optimal rounds {optimal.round.tolist()}"
    assert optimal.score > greedy.score, f"optimal {optimal.score} <= greedy {greedy.score}"


def test_symmetric_13c_molecule_is_not_penalized():
    # Toluene: journal lists 5 signals; a prediction carries n_atoms (2 for ortho and meta).
    journal = c13(137.9, 129.1, 128.3, 125.4, 21.5)
    predicted = c13(137.5, 129.0, 128.5, 125.6, 21.3, counts=[1, 2, 2, 1, 1])
    per_atom = c13(137.9, 129.1, 129.1, 128.3, 128.3, 125.4, 21.5)  # NMRShiftDB2 style
    assert similarity(journal, predicted) > 0.99, "journal signals vs prediction"
    assert similarity(per_atom, predicted) > 0.99, "per-atom list vs prediction"
    wrong_count = c13(137.5, 129.0, 128.5, 125.6, 21.3, counts=[1, 3, 3, 1, 1])
    penalized = similarity(per_atom, wrong_count)
    expected = similarity(per_atom, predicted) * (1 - 0.2 * 2 / 9)
    assert penalized == pytest.approx(expected), f"count factor not applied: {penalized}"
    assert similarity(journal, wrong_count) == similarity(journal, predicted), (
        "a list without counts must not be charged for hidden equivalent carbons"
    )


def test_1h_integration_counts_nuclei():
    three = h1((2.10, 3))
    assert similarity(three, h1((2.10, 1), (2.10, 1), (2.10, 1))) == pytest.approx(1.0)
    assert similarity(three, h1((2.10, 1))) == pytest.approx(0.5), "3H vs 1H is 2·1/(3+1)"
    result = match_peaks(h1((7.26, 2), (3.81, 3)), h1((7.30, 2), (3.80, 3)))
    assert result.n_nuclei.tolist() == [2.0, 3.0], f"nuclei per pair {result.n_nuclei}"
    assert len(result.first_round_errors()) == 5, "one first-round error per matched nucleus"


def test_different_nuclei_are_rejected():
    with pytest.raises(SpectrumError, match="same nucleus"):
        similarity(c13(10.0), h1((1.0, 1)))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"tolerance_ppm": 0, "wide_tolerance_ppm": 1}, "tolerance_ppm"),
        ({"tolerance_ppm": 2, "wide_tolerance_ppm": 1}, "wide_tolerance_ppm"),
        ({"tolerance_ppm": 1, "wide_tolerance_ppm": 2, "edge_credit": 1.5}, "edge_credit"),
    ],
)
def test_nucleus_params_are_validated(kwargs, field):
    with pytest.raises(SpectrumError, match=field):
        NucleusParams(**kwargs)


def test_similarity_params_are_validated():
    with pytest.raises(SpectrumError, match="matching"):
        SimilarityParams(matching="hungarian")  # type: ignore[arg-type]
    with pytest.raises(SpectrumError, match="extra_weight"):
        SimilarityParams(extra_weight=2.0)


# --------------------------------------------------------------------------------------------
# Spectra (C + H)
# --------------------------------------------------------------------------------------------


def test_spectrum_similarity_uses_the_query_nuclei():
    carbon, proton = c13(170.0, 20.0), h1((2.0, 3))
    query = Spectrum("q", c13=carbon)
    both = Spectrum("c", c13=carbon, h1=h1((9.0, 1)))
    assert spectrum_similarity(query, both) == 1.0, "candidate 1H must be ignored"
    full = Spectrum("q", c13=carbon, h1=proton)
    only_c = Spectrum("c", c13=carbon)
    assert spectrum_similarity(full, only_c) == pytest.approx(0.5), "missing 1H scores 0 on 1H"
    weighted = SimilarityParams(c13_weight=3.0, h1_weight=1.0)
    assert spectrum_similarity(full, only_c, params=weighted) == pytest.approx(0.75)
    empty = Spectrum("e")
    assert spectrum_similarity(empty, empty) == 1.0, "no peaks vs no peaks"
    assert spectrum_similarity(empty, full) == 0.0, "no peaks vs peaks"


# --------------------------------------------------------------------------------------------
# Vectorized kernel
# --------------------------------------------------------------------------------------------


def _random_lists(rng: np.random.Generator, nucleus: Nucleus, n: int) -> list[PeakList]:
    lists = []
    for _ in range(n):
        size = int(rng.integers(0, 25))
        if nucleus is Nucleus.C13:
            lists.append(PeakList.from_shifts(nucleus, rng.uniform(0, 220, size)))
        else:
            size = min(size, 12)
            lists.append(
                PeakList.from_shifts(nucleus, rng.uniform(0, 12, size), rng.integers(1, 4, size))
            )
    return lists


@pytest.mark.parametrize("nucleus", list(Nucleus))
def test_score_many_equals_greedy_pair_version(nucleus):
    rng = np.random.default_rng(7)
    candidates = _random_lists(rng, nucleus, 300)
    packed = PackedPeakLists.from_peaklists(candidates, nucleus)
    for query in _random_lists(rng, nucleus, 5):
        fast = score_many(query, packed)
        slow = np.array([similarity(query, c, params=GREEDY) for c in candidates])
        assert fast.shape == (300,), f"shape {fast.shape}"
        np.testing.assert_allclose(fast, slow, atol=1e-9, err_msg=f"query {query}")


@pytest.mark.parametrize("nucleus", list(Nucleus))
def test_score_many_is_close_to_optimal(nucleus):
    """The stated agreement of the greedy kernel with optimal matching (RESULTS.md)."""
    rng = np.random.default_rng(11)
    candidates = _random_lists(rng, nucleus, 200)
    packed = PackedPeakLists.from_peaklists(candidates, nucleus)
    gaps = []
    for query in _random_lists(rng, nucleus, 5):
        fast = score_many(query, packed)
        exact = np.array([similarity(query, c) for c in candidates])
        gaps.append(np.abs(exact - fast))
    gaps = np.concatenate(gaps)
    assert gaps.max() < 0.1, f"largest greedy/optimal gap {gaps.max():.3f}"
    assert gaps.mean() < 0.005, f"mean greedy/optimal gap {gaps.mean():.4f}"


def test_score_many_count_factor_and_empty_lists():
    query = c13(137.9, 129.1, 129.1, 128.3, 128.3, 125.4, 21.5)
    candidates = [
        c13(137.5, 129.0, 128.5, 125.6, 21.3, counts=[1, 2, 2, 1, 1]),
        c13(137.5, 129.0, 128.5, 125.6, 21.3, counts=[1, 3, 3, 1, 1]),
        c13(137.5, 129.0, 128.5, 125.6, 21.3),
        None,
        PeakList(Nucleus.C13),
    ]
    packed = PackedPeakLists.from_peaklists(candidates, Nucleus.C13)
    expected = [similarity(query, c or PeakList(Nucleus.C13), params=GREEDY) for c in candidates]
    np.testing.assert_allclose(score_many(query, packed), expected, atol=1e-12)
    empty_query = score_many(PeakList(Nucleus.C13), packed)
    assert empty_query.tolist() == [0, 0, 0, 1, 1], f"empty query scores {empty_query}"


def test_packed_lists_check_their_nucleus():
    with pytest.raises(SpectrumError, match="list 1"):
        PackedPeakLists.from_peaklists([c13(1.0), h1((1.0, 1))], Nucleus.C13)
    packed = PackedPeakLists.from_peaklists([c13(1.0)], Nucleus.C13)
    with pytest.raises(SpectrumError, match="nucleus"):
        score_many(h1((1.0, 1)), packed)


def test_spectrum_score_many_matches_pair_version():
    rng = np.random.default_rng(3)
    carbons = _random_lists(rng, Nucleus.C13, 40)
    protons = _random_lists(rng, Nucleus.H1, 40)
    spectra = [
        Spectrum(f"c{i}", c13=c, h1=h)
        for i, (c, h) in enumerate(zip(carbons, protons, strict=True))
    ]
    packed = {
        Nucleus.C13: PackedPeakLists.from_peaklists([s.c13 for s in spectra], Nucleus.C13),
        Nucleus.H1: PackedPeakLists.from_peaklists([s.h1 for s in spectra], Nucleus.H1),
    }
    query = Spectrum("q", c13=carbons[0], h1=protons[1])
    fast = spectrum_score_many(query, packed)
    slow = [spectrum_similarity(query, s, params=GREEDY) for s in spectra]
    np.testing.assert_allclose(fast, slow, atol=1e-9)
    with pytest.raises(SpectrumError, match="1H"):
        spectrum_score_many(query, {Nucleus.C13: packed[Nucleus.C13]})


def test_match_spectra_compares_chosen_nuclei():
    query = Spectrum("q", c13=c13(170.0, 20.0), h1=h1((2.0, 3)))
    candidate = Spectrum("c", c13=c13(170.0, 20.0), h1=h1((5.0, 3)))
    both = match_spectra(query, candidate)
    assert list(both.matches) == [Nucleus.C13, Nucleus.H1], f"nuclei {list(both.matches)}"
    assert both.score == pytest.approx(0.5), "13C identical, 1H unmatched"
    carbon = match_spectra(query, candidate, nuclei=["13C"])
    assert list(carbon.matches) == [Nucleus.C13] and carbon.score == 1.0, "13C only"


def test_spectrum_score_many_edge_cases():
    packed = {
        Nucleus.C13: PackedPeakLists.from_peaklists([c13(170.0), None], Nucleus.C13),
        Nucleus.H1: PackedPeakLists.from_peaklists([None, None], Nucleus.H1),
    }
    empty = spectrum_score_many(Spectrum("e"), packed)
    assert empty.tolist() == [0.0, 1.0], f"query without peaks scored {empty}"
    uneven = {**packed, Nucleus.H1: PackedPeakLists.from_peaklists([None], Nucleus.H1)}
    with pytest.raises(SpectrumError, match="differ in length"):
        spectrum_score_many(Spectrum("q", c13=c13(170.0)), uneven)
