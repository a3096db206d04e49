"""Constrained optimal matching of predicted shifts to observed lists."""

from __future__ import annotations

import numpy as np

from nmrpeak_cli.predict.matching import match_c13, match_h1, matched_errors


def test_c13_matching_is_permutation_invariant():
    rng = np.random.default_rng(0)
    predicted = np.array([10.0, 50.0, 120.0, 170.0])
    n_h = np.array([3, 2, 1, 0])
    observed = predicted + rng.normal(0, 0.5, 4)
    base = np.sort(np.abs(matched_errors(predicted, observed, match_c13(predicted, n_h, observed))))
    for perm in (np.array([3, 1, 0, 2]), np.array([2, 3, 1, 0])):
        m = match_c13(predicted, n_h, observed[perm], n_h[perm])
        errors = np.sort(np.abs(matched_errors(predicted, observed[perm], m)))
        assert np.allclose(errors, base), f"matched errors changed under permutation {perm}"


def test_c13_matching_respects_attached_h_counts():
    predicted = np.array([20.0, 30.0])
    n_h = np.array([3, 2])
    observed = np.array([21.0, 29.0])
    # The nearest-shift pairing would be (20↔21, 30↔29); the H counts force the crossed pairing.
    m = match_c13(predicted, n_h, observed, np.array([2, 3]))
    pairs = sorted(zip(m.atoms.tolist(), m.entries.tolist(), strict=True))
    assert pairs == [(0, 1), (1, 0)], f"expected the CH3 to take the Q entry, got {pairs}"


def test_c13_unknown_h_count_matches_freely_and_partial_lists_use_listed_entries():
    predicted = np.array([10.0, 50.0, 120.0])
    m = match_c13(predicted, np.array([3, 2, 1]), np.array([49.0]), np.array([-1]))
    assert m.atoms.tolist() == [1] and m.entries.tolist() == [0], (
        "single entry should take the nearest carbon"
    )


def test_c13_entry_without_a_compatible_carbon_is_left_out():
    m = match_c13(np.array([10.0]), np.array([3]), np.array([11.0, 100.0]), np.array([3, 0]))
    assert len(m) == 1 and m.entries.tolist() == [0], (
        "the quaternary entry has no quaternary carbon"
    )


def test_h1_matching_expands_atoms_by_hydrogen_count():
    predicted = np.array([1.0, 4.0])  # CH3 at 1.0, CH2 at 4.0
    n_h = np.array([3, 2])
    observed = np.array([4.1, 0.9, 1.1, 1.0, 3.9])
    m = match_h1(predicted, n_h, observed)
    assert sorted(m.atoms.tolist()) == [0, 0, 0, 1, 1], "each atom matched once per hydrogen"
    errors = matched_errors(predicted, observed, m)
    assert np.max(np.abs(errors)) <= 0.1 + 1e-9, (
        f"optimal matching should pair nearby shifts: {errors}"
    )


def test_empty_inputs_give_empty_matchings():
    assert len(match_c13(np.zeros(0), np.zeros(0, int), np.array([1.0]))) == 0
    assert len(match_h1(np.array([1.0]), np.array([0]), np.array([1.0]))) == 0
