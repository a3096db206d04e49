"""Fragment recombination (NMR-Solver style): cut seeds, join fragment pairs that fit the formula.

Every acyclic single bond of a seed (chain bonds and ring-exo bonds) is cut into two
fragments, each keeping an attachment point. Two fragments, from the same seed or from
different ones, are joined when their element counts (hydrogens included) add up to the
query formula exactly, so every child has the formula by construction; wrong-formula seeds
still contribute the parts they got right. Pairs are tried best seed first (the caller
orders the seeds), so a prediction budget is spent on the likeliest joins.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rdkit.Chem import Mol

Counts = tuple[tuple[str, int], ...]
"""Sorted ``(element, count)`` pairs, hydrogens included."""


@dataclass(frozen=True, slots=True)
class Fragment:
    """One side of a cut bond."""

    smiles: str
    """SMILES with one attachment point (``[*:1]``)."""
    counts: Counts
    """Element counts without the attachment point."""
    rank: int
    """Position of the seed it came from (0: best)."""


def _counts(mol: Mol) -> Counts:
    counts: dict[str, int] = {}
    for atom in mol.GetAtoms():
        if atom.GetAtomicNum() == 0:
            continue
        counts[atom.GetSymbol()] = counts.get(atom.GetSymbol(), 0) + 1
        if atom.GetTotalNumHs():
            counts["H"] = counts.get("H", 0) + atom.GetTotalNumHs()
    return tuple(sorted(counts.items()))


def fragments(mol: Mol, rank: int = 0) -> list[Fragment]:
    """Both fragments of every acyclic single bond of ``mol`` (charged atoms kept whole)."""
    from rdkit import Chem

    out = []
    for bond in mol.GetBonds():
        if bond.IsInRing() or bond.GetBondType() != Chem.BondType.SINGLE:
            continue
        if bond.GetBeginAtom().GetFormalCharge() or bond.GetEndAtom().GetFormalCharge():
            continue
        cut = Chem.FragmentOnBonds(mol, [bond.GetIdx()], addDummies=True, dummyLabels=[(1, 1)])
        for piece in Chem.GetMolFrags(cut, asMols=True, sanitizeFrags=False):
            for atom in piece.GetAtoms():
                if atom.GetAtomicNum() == 0:
                    atom.SetIsotope(0)
                    atom.SetAtomMapNum(1)
            out.append(Fragment(Chem.MolToSmiles(piece), _counts(piece), rank))
    return out


def target_counts(formula: str) -> Counts:
    """Element counts of a formula, as :data:`Counts`."""
    from nmrpeak_cli.spectra import parse_formula

    return tuple(sorted((e, n) for e, n in parse_formula(formula).items() if n))


def _complement(total: Counts, part: Counts) -> Counts | None:
    rest = dict(total)
    for element, n in part:
        left = rest.get(element, 0) - n
        if left < 0:
            return None
        rest[element] = left
    return tuple(sorted((e, n) for e, n in rest.items() if n))


def join(first: str, second: str) -> str | None:
    """The molecule made by bonding two fragments at their attachment points (``None`` if
    RDKit cannot sanitize it)."""
    from rdkit import Chem, rdBase

    with rdBase.BlockLogs():
        a, b = Chem.MolFromSmiles(first), Chem.MolFromSmiles(second)
        if a is None or b is None:
            return None
        try:
            joined = Chem.molzip(a, b)
            Chem.SanitizeMol(joined)
        except (ValueError, RuntimeError):
            return None
    smiles = Chem.MolToSmiles(joined)
    return None if "." in smiles or "*" in smiles else smiles


def recombine(seeds: Sequence[Mol], formula: str) -> Iterator[str]:
    """Children of fragment pairs of ``seeds`` (best first) whose counts make ``formula``.

    Pairs are yielded in order of the worse of their two seed ranks, so the joins of the
    best seeds come first; duplicates are not removed here.
    """
    total = target_counts(formula)
    by_counts: dict[Counts, list[Fragment]] = {}
    pieces: list[Fragment] = []
    seen: set[str] = set()
    for rank, mol in enumerate(seeds):
        for piece in fragments(mol, rank):
            if piece.smiles in seen:
                continue
            seen.add(piece.smiles)
            pieces.append(piece)
            by_counts.setdefault(piece.counts, []).append(piece)
    pairs: list[tuple[int, int, str, str]] = []
    for index, piece in enumerate(pieces):
        rest = _complement(total, piece.counts)
        if not rest:
            continue
        for other in by_counts.get(rest, ()):
            if (other.rank, other.smiles) < (piece.rank, piece.smiles):
                continue  # each unordered pair once
            pairs.append((max(piece.rank, other.rank), index, piece.smiles, other.smiles))
    pairs.sort()
    for _, _, first, second in pairs:
        child = join(first, second)
        if child:
            yield child


__all__ = ["Counts", "Fragment", "fragments", "join", "recombine", "target_counts"]
