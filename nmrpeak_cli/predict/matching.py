"""Optimal constrained matching of predicted per-atom shifts to experimental shift lists.

Experimental NMRShiftDB2 lists are per-atom multisets without a usable atom mapping, so
training and the assignment-free metrics pair predictions with observations by a minimum-cost
assignment (Hungarian, ``scipy.optimize.linear_sum_assignment``) on the absolute shift error:

- 13C: carbons may only be paired with entries of the same attached-H count (S/D/T/Q) when
  the entry carries one; entries without a count may pair with any carbon.
- 1H: each heavy atom's prediction is repeated once per attached hydrogen and paired with the
  per-H list.

Lists may be incomplete: every listed entry is paired with a distinct atom when possible and
entries that cannot be paired under the constraints are left out. All functions are pure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

_FORBIDDEN = 1.0e6


@dataclass(frozen=True, slots=True)
class Matching:
    """Pairs of (atom, experimental entry).

    Attributes
    ----------
    atoms
        ``(k,)`` int64 atom indices (in the molecule's atom order).
    entries
        ``(k,)`` int64 indices into the experimental list.
    """

    atoms: np.ndarray
    entries: np.ndarray

    def __len__(self) -> int:
        return int(self.atoms.shape[0])


def _empty() -> Matching:
    return Matching(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))


def match_c13(
    predicted: np.ndarray,
    atom_n_h: np.ndarray,
    observed: np.ndarray,
    observed_n_h: np.ndarray | None = None,
) -> Matching:
    """Match 13C predictions of the carbons to an observed per-carbon shift list.

    Parameters
    ----------
    predicted
        ``(n_carbons,)`` predicted shifts, ppm.
    atom_n_h
        ``(n_carbons,)`` attached-H count of each carbon.
    observed
        ``(m,)`` observed shifts, ppm (one per carbon, possibly incomplete).
    observed_n_h
        ``(m,)`` attached-H count per observed entry, negative where unknown; ``None`` if none known.

    Returns
    -------
    Matching
        ``atoms`` index ``predicted``; ``entries`` index ``observed``.
    """
    predicted = np.asarray(predicted, dtype=np.float64)
    observed = np.asarray(observed, dtype=np.float64)
    if predicted.size == 0 or observed.size == 0:
        return _empty()
    cost = np.abs(observed[:, None] - predicted[None, :])
    if observed_n_h is not None:
        obs_h = np.asarray(observed_n_h, dtype=np.int64)
        mismatch = (obs_h[:, None] >= 0) & (obs_h[:, None] != np.asarray(atom_n_h)[None, :])
        cost = np.where(mismatch, _FORBIDDEN, cost)
    return _assign(cost)


def match_h1(predicted: np.ndarray, atom_n_h: np.ndarray, observed: np.ndarray) -> Matching:
    """Match per-heavy-atom 1H predictions to an observed per-H shift list.

    Parameters
    ----------
    predicted
        ``(n,)`` predicted mean 1H shift of each H-bearing heavy atom, ppm.
    atom_n_h
        ``(n,)`` number of hydrogens on each of those atoms.
    observed
        ``(m,)`` observed shifts, one per hydrogen (possibly incomplete).

    Returns
    -------
    Matching
        ``atoms`` index ``predicted`` (an atom appears once per matched hydrogen); ``entries``
        index ``observed``.
    """
    observed = np.asarray(observed, dtype=np.float64)
    owner = np.repeat(np.arange(len(predicted)), np.asarray(atom_n_h, dtype=np.int64))
    if owner.size == 0 or observed.size == 0:
        return _empty()
    expanded = np.asarray(predicted, dtype=np.float64)[owner]
    matching = _assign(np.abs(observed[:, None] - expanded[None, :]))
    return Matching(owner[matching.atoms], matching.entries)


def _assign(cost: np.ndarray) -> Matching:
    rows, cols = linear_sum_assignment(cost)
    keep = cost[rows, cols] < _FORBIDDEN
    return Matching(cols[keep].astype(np.int64), rows[keep].astype(np.int64))


def matched_errors(predicted: np.ndarray, observed: np.ndarray, matching: Matching) -> np.ndarray:
    """Signed errors ``predicted[atoms] - observed[entries]`` of a matching."""
    return np.asarray(predicted)[matching.atoms] - np.asarray(observed)[matching.entries]
