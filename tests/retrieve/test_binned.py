"""The peak-density candidate index."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nmrpeak_cli.retrieve.binned import GRIDS, BinnedIndex, densities
from nmrpeak_cli.retrieve.library import open_library
from nmrpeak_cli.retrieve.search import SearchParams, propose_candidates
from nmrpeak_cli.similarity import PackedPeakLists
from nmrpeak_cli.spectra import Nucleus, PeakList, Spectrum

from .conftest import MOLECULES, predicted_spectrum


def _c13(*shifts: float) -> PeakList:
    return PeakList.from_shifts(Nucleus.C13, shifts)


def test_densities_are_normalized_smoothed_counts():
    grid = GRIDS[Nucleus.C13]
    packed = PackedPeakLists.from_peaklists([_c13(77.0), _c13(20.0, 77.0), None], Nucleus.C13)
    vectors = densities(packed, grid)
    assert vectors.shape == (3, grid.bins)
    np.testing.assert_allclose(np.linalg.norm(vectors[:2], axis=1), 1.0, rtol=1e-6)
    assert not vectors[2].any(), "no peaks, zero vector"
    assert abs(grid.start + grid.step * np.argmax(vectors[0]) - 77.0) <= grid.step
    assert 0.6 < float(vectors[0] @ vectors[1]) < 0.8, "one shared peak of two: cosine ~ 1/sqrt(2)"
    empty = PackedPeakLists.from_peaklists([None, None], Nucleus.H1)
    assert not densities(empty, GRIDS[Nucleus.H1], np.float16).any(), "C-only queries: no 1H"


def _random_spectra(n: int, seed: int) -> list[Spectrum]:
    rng = np.random.default_rng(seed)
    return [
        Spectrum(
            f"s{i}",
            c13=_c13(*rng.uniform(10, 210, rng.integers(4, 12))),
            h1=PeakList.from_shifts(Nucleus.H1, rng.uniform(0.5, 8.5, rng.integers(2, 6))),
        )
        for i in range(n)
    ]


def test_index_finds_jittered_twins_among_random_spectra():
    library = _random_spectra(2000, seed=1)
    index = BinnedIndex(
        {
            n: PackedPeakLists.from_peaklists([s.peaks(n) for s in library], n)
            for n in (Nucleus.C13, Nucleus.H1)
        }
    )
    rng = np.random.default_rng(2)
    picked = rng.choice(len(library), 40, replace=False)
    queries = [
        Spectrum(
            "q",
            c13=_c13(*(library[i].c13.shifts + rng.normal(0, 1.0, len(library[i].c13)))),
            h1=None if k % 2 else library[i].h1,  # C-only and C+H queries
        )
        for k, i in enumerate(picked)
    ]
    found = index.search(queries, 20)
    assert all(len(rows) == 20 for rows in found)
    recall = np.mean([i in rows for i, rows in zip(picked, found, strict=True)])
    assert recall >= 0.95, f"jittered twins should be among the top 1% (recall {recall:.2f})"


def test_large_libraries_propose_density_candidates(library_dir: Path):
    library = open_library(library_dir, encoders=())
    query = predicted_spectrum(MOLECULES[2][1])
    small = SearchParams(candidates=len(library))
    assert propose_candidates(library, [query], {}, small) == [None], "small: scan everything"
    few = SearchParams(candidates=3)
    (rows,) = propose_candidates(library, [query], {}, few)
    assert 2 in rows.tolist() and len(rows) == 3, "the twin is among the density candidates"
    with_formula = Spectrum("f", c13=query.c13, formula="C7H8")
    assert propose_candidates(library, [with_formula], {}, few) == [None]
