"""Attached-H labels (DEPT: C, CH, CH2, CH3) as a hard filter on candidate structures.

A query whose 13C peaks carry attached-H labels (``Peak.n_h``: DEPT-135/90, ``128.3 (CH)``)
rules out structures that cannot give those peaks: each labelled peak needs a carbon of its
class that no other labelled peak uses. The test is a count per class: a structure fits
when, for every attached-H count ``k``, the query's peaks labelled ``k`` are no more than the
structure's carbons with ``k`` hydrogens that can give separate peaks (:func:`label_capacity`).

It is lenient (a necessary condition of the structure's carbons, never of shifts):

- unlabelled peaks impose nothing, and a structure may have more classes than peaks (lines
  overlap, quaternary carbons go unseen);
- symmetry-equivalent carbons give one peak and count once only when they are aromatic
  (the two ortho CH of a phenyl or of a para-disubstituted benzene: fast ring rotation makes
  them equivalent); equivalent non-aromatic carbons count once per carbon, because they often
  give separate peaks (diastereotopic methyls of an isopropyl or of two ethoxy groups beside a
  stereocentre, N-CH3 and N-CH2 of amides frozen by slow rotation, E/Z-fixed esters).

On the random VALIDATION queries with DEPT-like labels from their own records (3,111
labelled), counting every topological class once would reject the true structure of 8.8 %;
this rule rejects 0.32 % (paracyclophanes and hindered biaryls, whose aromatic carbons do not
average) and one carbon per peak 0.03 % (a record whose labels disagree with its structure);
see benchmarks/RESULTS.md (DEPT part).

Pure functions; the structure search calls :func:`label_filter` before it spends a
prediction on a proposal.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from itertools import pairwise
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rdkit import Chem

    from nmrpeak_cli.spectra import Spectrum


def query_label_counts(query: Spectrum, merge_ppm: float = 0.05) -> Counter[int]:
    """How many separate 13C peaks of the query carry each attached-H label (empty: no
    labels). Peaks of one label closer than ``merge_ppm`` are one peak (a list that repeats
    a shift for each equivalent carbon); a peak's integration (equivalent carbons) does not
    count."""
    if not query.c13:
        return Counter()
    shifts: dict[int, list[float]] = {}
    for peak in query.c13:
        if peak.n_h is not None:
            shifts.setdefault(peak.n_h, []).append(peak.shift)
    counts: Counter[int] = Counter()
    for n_h, values in shifts.items():
        values.sort()
        counts[n_h] = 1 + sum(b - a >= merge_ppm for a, b in pairwise(values))
    return counts


def label_capacity(mol: Chem.Mol) -> Counter[int]:
    """For each attached-H count, how many separate 13C peaks the molecule's carbons of that
    count can give: one per class of symmetry-equivalent aromatic carbons, one per carbon
    otherwise (see the module docstring). Hydrogens counted are implicit and explicit."""
    from rdkit import Chem

    ranks = list(Chem.CanonicalRankAtoms(mol, breakTies=False))
    aromatic_classes: set[tuple[int, int]] = set()
    capacity: Counter[int] = Counter()
    for atom in mol.GetAtoms():
        if atom.GetAtomicNum() != 6:
            continue
        n_h = atom.GetTotalNumHs(includeNeighbors=True)
        if atom.GetIsAromatic():
            if (n_h, ranks[atom.GetIdx()]) in aromatic_classes:
                continue
            aromatic_classes.add((n_h, ranks[atom.GetIdx()]))
        capacity[n_h] += 1
    return capacity


def labels_fit(mol: Chem.Mol, wanted: Counter[int]) -> bool:
    """Whether the molecule can give the labelled peaks counted in ``wanted``
    (:func:`query_label_counts`): :func:`label_capacity` ≥ ``wanted`` for every label. The
    symmetry classes are only computed when counting its carbons does not decide."""
    if not wanted:
        return True
    plain: Counter[int] = Counter()
    aromatic: Counter[int] = Counter()
    for atom in mol.GetAtoms():
        if atom.GetAtomicNum() == 6:
            counts = aromatic if atom.GetIsAromatic() else plain
            counts[atom.GetTotalNumHs(includeNeighbors=True)] += 1
    if any(plain[k] + aromatic[k] < n for k, n in wanted.items()):
        return False
    if all(plain[k] >= n for k, n in wanted.items()):
        return True
    capacity = label_capacity(mol)
    return all(capacity[k] >= n for k, n in wanted.items())


def label_filter(query: Spectrum) -> Callable[..., bool] | None:
    """A predicate ``fits(smiles, mol=None)``: ``False`` for a structure the query's
    attached-H labels rule out (``mol``: the parsed SMILES when the caller has it; unreadable
    SMILES pass, the search drops them elsewhere). ``None`` when the query carries no labels
    (nothing to check)."""
    from nmrpeak_cli import chem

    wanted = query_label_counts(query)
    if not wanted:
        return None

    def fits(smiles: str, mol: Chem.Mol | None = None) -> bool:
        mol = mol if mol is not None else chem.try_parse_smiles(smiles)
        return mol is None or labels_fit(mol, wanted)

    return fits


__all__ = ["label_capacity", "label_filter", "labels_fit", "query_label_counts"]
