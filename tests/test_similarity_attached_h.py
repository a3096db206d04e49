"""13C matching within attached-H classes (``SimilarityParams.attached_h``)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from nmrpeak_cli.similarity import (
    DEFAULT_PARAMS,
    PackedPeakLists,
    match_peaks,
    score_many,
    similarity,
)
from nmrpeak_cli.spectra import Nucleus, Peak, PeakList

LABELS = replace(DEFAULT_PARAMS, attached_h=True)
GREEDY_LABELS = replace(LABELS, matching="greedy")


def c13(*peaks: tuple[float, int | None]) -> PeakList:
    return PeakList(Nucleus.C13, tuple(Peak(s, n_h=h) for s, h in peaks))


# ethyl acetate, and a candidate whose CH2/CH3 sit at the same shifts but in swapped classes
QUERY = c13((171.1, 0), (60.5, 2), (21.0, 3), (14.2, 3))
SAME = c13((170.5, 0), (61.0, 2), (21.5, 3), (14.0, 3))
SWAPPED = c13((170.5, 0), (61.0, 1), (21.5, 2), (14.0, 2))


def test_labels_change_nothing_without_the_option() -> None:
    plain = c13(*((p.shift, None) for p in QUERY))
    off = replace(DEFAULT_PARAMS, attached_h=False)
    for candidate in (SAME, SWAPPED):
        assert similarity(QUERY, candidate, params=off) == similarity(plain, candidate), "off"


def test_labels_are_used_by_default() -> None:
    assert DEFAULT_PARAMS.attached_h, "a user's DEPT labels constrain every score"
    assert similarity(QUERY, SWAPPED) < similarity(QUERY, SAME) - 0.4


@pytest.mark.parametrize("params", [LABELS, GREEDY_LABELS])
def test_peaks_of_another_class_do_not_match(params) -> None:
    same, swapped = (
        similarity(QUERY, SAME, params=params),
        similarity(QUERY, SWAPPED, params=params),
    )
    off = replace(DEFAULT_PARAMS, attached_h=False)
    assert same == pytest.approx(similarity(QUERY, SAME, params=off)), "same classes: unchanged"
    assert swapped < same - 0.4, f"3 of 4 peaks in other classes: {swapped:.3f} vs {same:.3f}"
    match = match_peaks(QUERY, SWAPPED, params=params)
    assert match.pairs.tolist() == [[0, 0]], "only the carbonyl keeps its partner"


def test_unlabelled_query_peaks_match_what_is_left() -> None:
    partial = c13((171.1, 0), (60.5, 2), (21.0, None), (14.2, None))  # DEPT-135 alone
    match = match_peaks(partial, SWAPPED, params=LABELS)
    assert sorted(match.pairs.tolist()) == [[0, 0], [2, 2], [3, 3]], match.pairs
    unlabelled_query = c13(*((p.shift, None) for p in QUERY))
    assert similarity(unlabelled_query, SWAPPED, params=LABELS) == similarity(
        unlabelled_query, SWAPPED
    ), "a query without labels matches anything"
    unlabelled_candidate = c13(*((p.shift, None) for p in SWAPPED))
    assert similarity(QUERY, unlabelled_candidate, params=LABELS) == similarity(
        QUERY, unlabelled_candidate
    ), "a candidate without labels is matched as without the option"


def _random_lists(rng: np.random.Generator, n: int, unlabelled: float) -> list[PeakList]:
    lists = []
    for _ in range(n):
        size = int(rng.integers(0, 20))
        shifts = rng.uniform(0, 220, size)
        labels = rng.integers(0, 4, size)
        if size and rng.random() < 0.1:
            shifts[-1] = shifts[0]  # two carbons at one shift (labels may conflict)
        lists.append(
            c13(
                *(
                    (s, None if rng.random() < unlabelled else int(h))
                    for s, h in zip(shifts, labels, strict=True)
                )
            )
        )
    return lists


@pytest.mark.parametrize("unlabelled", [0.0, 0.3])
def test_score_many_equals_greedy_pair_version(unlabelled: float) -> None:
    rng = np.random.default_rng(3)
    candidates = [*_random_lists(rng, 300, 0.0), c13((50.0, None), (20.0, None)), PeakList("13C")]
    packed = PackedPeakLists.from_peaklists(candidates, Nucleus.C13)
    for query in _random_lists(rng, 6, unlabelled):
        fast = score_many(query, packed, params=LABELS)
        slow = np.array([similarity(query, c, params=GREEDY_LABELS) for c in candidates])
        np.testing.assert_allclose(fast, slow, atol=1e-9, err_msg=f"query {query}")


def test_packed_lists_without_labels_score_as_before() -> None:
    rng = np.random.default_rng(5)
    candidates = _random_lists(rng, 50, 0.0)
    packed = PackedPeakLists.from_peaklists(candidates, Nucleus.C13)
    bare = replace(packed, n_h=None)
    query = _random_lists(rng, 1, 0.0)[0]
    off = replace(DEFAULT_PARAMS, attached_h=False)
    np.testing.assert_array_equal(
        score_many(query, bare, params=LABELS),
        score_many(query, packed, params=off),
        "no labels: as before",
    )
    assert not np.array_equal(
        score_many(query, packed, params=LABELS), score_many(query, packed, params=off)
    )
