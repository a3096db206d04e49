"""Coarse chemical environment of an atom, for error breakdowns and uncertainty floors."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rdkit import Chem

C13_ENVIRONMENTS: tuple[str, ...] = (
    "C=O",
    "aromatic",
    "sp (C≡X)",
    "sp2 (C=X)",
    "sp3 C–heteroatom",
    "sp3 alkyl",
)
"""Labels :func:`atom_environment` gives carbons."""


def atom_environment(atom: Chem.Atom) -> str:
    """Coarse environment label of a heavy atom: one of :data:`C13_ENVIRONMENTS` for carbon,
    ``"X–H"`` (X its element) otherwise."""
    if atom.GetAtomicNum() != 6:
        return f"{atom.GetSymbol()}–H"
    if atom.GetIsAromatic():
        return "aromatic"
    bonds = list(atom.GetBonds())
    if any(
        b.GetBondTypeAsDouble() == 2.0 and b.GetOtherAtom(atom).GetAtomicNum() == 8 for b in bonds
    ):
        return "C=O"
    if any(b.GetBondTypeAsDouble() == 3.0 for b in bonds):
        return "sp (C≡X)"
    if any(b.GetBondTypeAsDouble() == 2.0 for b in bonds):
        return "sp2 (C=X)"
    if any(n.GetAtomicNum() not in (1, 6) for n in atom.GetNeighbors()):
        return "sp3 C–heteroatom"
    return "sp3 alkyl"
