"""Binned peak densities: a fast, rule-based candidate index for queries without a formula.

Each peak list becomes a vector of Gaussian-smoothed peak counts on a fixed ppm grid, with
widths of the order of the peak-aware similarity's tolerances, L2-normalized per nucleus. The
inner product of a query's and an entry's vectors, summed over the query's nuclei, follows
the similarity closely enough to pick a few thousand candidates from a large library in
milliseconds; the similarity itself then ranks them (:mod:`nmrpeak_cli.retrieve.search`).
Unlike the learned embeddings it needs no model and cannot miss a molecule because of a gap
between simulated and experimental spectra that the encoders never saw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from nmrpeak_cli.similarity import PackedPeakLists
from nmrpeak_cli.spectra import Nucleus, Spectrum


@dataclass(frozen=True, slots=True)
class Grid:
    """A ppm grid: ``bins`` bins of ``step`` ppm from ``start``; peaks spread with ``sigma``."""

    start: float
    step: float
    bins: int
    sigma: float


GRIDS: Mapping[Nucleus, Grid] = {
    Nucleus.C13: Grid(start=-5.0, step=2.0, bins=121, sigma=2.0),  # -5 … 237 ppm
    Nucleus.H1: Grid(start=-1.0, step=0.1, bins=141, sigma=0.15),  # -1 … 13.1 ppm
}
"""Grids per nucleus (the similarity's round-1 tolerances are ~3–4.5 ppm and ~0.2–0.3 ppm)."""

_CHUNK = 32_768
"""Lists (or library rows) handled at once, which bounds temporary memory."""

_QUERY_GROUP = 16
"""Queries scored together (a ``(16, n)`` float32 score matrix: 64 MB for 1M entries)."""


def densities(
    packed: PackedPeakLists, grid: Grid, dtype: type[np.floating] = np.float32
) -> np.ndarray:
    """``(n, grid.bins)`` smoothed peak counts of each list, rows L2-normalized (an empty list
    gives a zero row), as ``dtype``. Each distinct peak counts once, whatever its
    integration: experimental integrations are too often per listed shift rather than per
    proton. Lists are handled in chunks, so no full-size float64 array is ever made."""
    out = np.zeros((len(packed), grid.bins), dtype)
    half = int(np.ceil(3 * grid.sigma / grid.step))
    window = np.arange(-half, half + 2)
    for first in range(0, len(packed), _CHUNK):
        last = min(first + _CHUNK, len(packed))
        lo, hi = packed.offsets[first], packed.offsets[last]
        owner = np.repeat(np.arange(last - first), np.diff(packed.offsets[first : last + 1]))
        centre = (np.asarray(packed.shifts[lo:hi]) - grid.start) / grid.step
        bins = np.floor(centre).astype(np.int64)[:, None] + window[None, :]
        weight = np.exp(-0.5 * ((bins - centre[:, None]) * (grid.step / grid.sigma)) ** 2)
        inside = (bins >= 0) & (bins < grid.bins)
        flat = (owner[:, None] * grid.bins + bins)[inside]
        block = np.bincount(flat, weights=weight[inside], minlength=(last - first) * grid.bins)
        block = block.astype(np.float64, copy=False).reshape(last - first, grid.bins)
        norms = np.linalg.norm(block, axis=1, keepdims=True)
        np.divide(block, norms, out=block, where=norms > 0)
        out[first:last] = block
    return out


class BinnedIndex:
    """Peak-density vectors of a library's predicted spectra, searched by inner product.

    Parameters
    ----------
    packed
        The library's packed predicted peak lists per nucleus.
    """

    def __init__(self, packed: Mapping[Nucleus, PackedPeakLists]) -> None:
        self._vectors = {
            nucleus: densities(lists, GRIDS[nucleus], np.float16)
            for nucleus, lists in packed.items()
        }
        self._size = len(next(iter(packed.values()))) if packed else 0

    def __len__(self) -> int:
        return self._size

    def search(self, queries: Sequence[Spectrum], depth: int) -> list[np.ndarray]:
        """Row numbers of the ``depth`` best entries of each query (unordered)."""
        depth = min(depth, self._size)
        if not queries or depth == 0:
            return [np.zeros(0, np.int64) for _ in queries]
        found: list[np.ndarray] = []
        for first in range(0, len(queries), _QUERY_GROUP):
            found.extend(self._search_group(queries[first : first + _QUERY_GROUP], depth))
        return found

    def _search_group(self, queries: Sequence[Spectrum], depth: int) -> list[np.ndarray]:
        blocks = {
            nucleus: densities(
                PackedPeakLists.from_peaklists([q.peaks(nucleus) for q in queries], nucleus),
                GRIDS[nucleus],
            )
            for nucleus in self._vectors
        }
        scores = np.zeros((len(queries), self._size), np.float32)
        for first in range(0, self._size, _CHUNK):
            last = min(first + _CHUNK, self._size)
            for nucleus, block in blocks.items():
                scores[:, first:last] += block @ self._vectors[nucleus][first:last].T.astype(
                    np.float32
                )
        if depth == self._size:
            return [np.arange(self._size) for _ in queries]
        return list(np.argpartition(-scores, depth - 1, axis=1)[:, :depth])
