"""Formula-preserving local moves on a structure: the proposals of the structure search.

Each move edits one RDKit molecule in its Kekulé form (aromaticity is re-perceived when the
result is sanitized) and yields canonical isomeric SMILES of the children that RDKit can
sanitize. By construction every move keeps the heavy atoms and the hydrogen count (a bond
that leaves an atom gives it one hydrogen back, a bond that arrives takes one), but valence
and aromaticity can still change the count, so the caller checks each child's formula
(:func:`formula_of`) before any prediction is spent on it.

Moves (names are the keys of :data:`MOVES`):

- ``walk``: cut an acyclic single bond and re-attach one side, by the same atom, to any
  other hydrogen-bearing atom of the other side: positional isomers (ortho/meta/para, ring
  and chain positions) and, seen from the other side, substituent isomers (n-propyl ↔
  isopropyl, methoxy ↔ hydroxymethyl);
- ``swap``: exchange the elements of two heavy atoms (ring N ↔ CH, ester O ↔ CH2 …);
- ``bond``: move one unit of bond order: lower a non-aromatic double/triple bond or open a
  ring bond, and raise a nearby non-aromatic single bond to double or close a new ring of
  3–7 atoms (double-bond shifts, ring-size changes, ring ↔ double bond); cumulated double
  bonds (allenes) are not made;
- ``crem`` (not in :data:`MOVES`: it needs a fragment database, named by
  ``SearchConfig.crem_db``): CReM fragment replacements,
  :func:`~nmrpeak_cli.generate.crem_moves.crem_move`;
- stereoisomers of the best structures (:func:`stereoisomers`), used at the end of a search;
- :func:`hydrogen_fix`: children with two hydrogens more or fewer (one unit of bond order
  removed or added), which turn a hypothesis of the right heavy atoms but the wrong
  hydrogen count into structures of the formula.

Atoms with a formal charge or a radical are left alone (they keep their own hydrogens).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rdkit.Chem import Mol, RWMol

Move = Callable[["Mol"], Iterator[str]]
"""``(parent molecule) -> canonical isomeric SMILES of its children``."""

NEW_RING_SIZES = range(3, 8)
"""Sizes of the rings the ``bond`` move may close."""
BOND_REACH = 2
"""The ``bond`` move raises only bonds whose atoms lie within this many bonds of the bond
it lowered (a move stays local)."""


def editable(mol: Mol) -> RWMol:
    """A Kekulé, editable copy of ``mol`` whose neutral atoms take implicit hydrogens.

    Hydrogen counts are then recomputed from valence after each edit; charged atoms and
    radicals keep their explicit hydrogens.
    """
    from rdkit import Chem

    rw = Chem.RWMol(mol)
    Chem.Kekulize(rw, clearAromaticFlags=True)
    for atom in rw.GetAtoms():
        if _movable(atom):
            atom.SetNumExplicitHs(0)
            atom.SetNoImplicit(False)
    rw.UpdatePropertyCache(strict=False)
    return rw


def _movable(atom) -> bool:
    return atom.GetFormalCharge() == 0 and atom.GetNumRadicalElectrons() == 0


def _hydrogens(rw: RWMol) -> list[int]:
    """Hydrogens each atom can give up (0 for charged atoms and radicals)."""
    return [a.GetTotalNumHs() if _movable(a) else 0 for a in rw.GetAtoms()]


def finish(rw: RWMol, touched: tuple[int, ...]) -> str | None:
    """Canonical isomeric SMILES of an edited molecule, ``None`` when it cannot be sanitized.

    Stereo tags on ``touched`` atoms and on double bonds next to them are dropped (their
    meaning changed with the edit); stereo elsewhere is kept.
    """
    from rdkit import Chem, rdBase

    for index in touched:
        atom = rw.GetAtomWithIdx(index)
        atom.SetChiralTag(Chem.ChiralType.CHI_UNSPECIFIED)
        for bond in atom.GetBonds():
            bond.SetStereo(Chem.BondStereo.STEREONONE)
            for end in (bond.GetBeginAtom(), bond.GetEndAtom()):
                for other in end.GetBonds():
                    if other.GetBondType() == Chem.BondType.DOUBLE:
                        other.SetStereo(Chem.BondStereo.STEREONONE)
    mol = rw.GetMol()
    with rdBase.BlockLogs():
        try:
            Chem.SanitizeMol(mol)
        except (ValueError, RuntimeError):  # Kekulize/valence errors (RDKit raises subclasses)
            return None
    Chem.AssignStereochemistry(mol, cleanIt=True, force=True)
    smiles = Chem.MolToSmiles(mol)
    if "." in smiles:
        return None
    again = Chem.MolFromSmiles(smiles)  # canonical only after a round trip (stereo perception)
    return None if again is None else Chem.MolToSmiles(again)


def _side(rw: RWMol, start: int, cut: tuple[int, int]) -> set[int]:
    """Atoms reachable from ``start`` without crossing the bond ``cut``."""
    seen, stack = {start}, [start]
    while stack:
        atom = rw.GetAtomWithIdx(stack.pop())
        for neighbour in atom.GetNeighbors():
            j = neighbour.GetIdx()
            if j in seen or {atom.GetIdx(), j} == set(cut):
                continue
            seen.add(j)
            stack.append(j)
    return seen


def _cuttable(rw: RWMol) -> Iterator[tuple[int, int]]:
    """Acyclic single bonds between movable atoms, as ``(begin, end)``."""
    from rdkit import Chem

    for bond in rw.GetBonds():
        if bond.IsInRing() or bond.GetBondType() != Chem.BondType.SINGLE:
            continue
        a, b = bond.GetBeginAtom(), bond.GetEndAtom()
        if _movable(a) and _movable(b):
            yield a.GetIdx(), b.GetIdx()


def _reattach(base: RWMol, cut: tuple[int, int], new: tuple[int, int]) -> str | None:
    from rdkit import Chem

    rw = Chem.RWMol(base)
    rw.RemoveBond(*cut)
    rw.AddBond(*new, Chem.BondType.SINGLE)
    return finish(rw, (*cut, *new))


def walk(mol: Mol) -> Iterator[str]:
    """Positional and substituent isomers: across each acyclic single bond, either side
    re-attached (by the same atom) at every other hydrogen-bearing atom of the other side."""
    base = editable(mol)
    hydrogens = _hydrogens(base)
    for a, b in _cuttable(base):
        for anchor, moving in ((a, b), (b, a)):
            rest = set(range(base.GetNumAtoms())) - _side(base, moving, (a, b))
            for target in sorted(rest):
                if target != anchor and hydrogens[target] > 0:
                    child = _reattach(base, (a, b), (moving, target))
                    if child:
                        yield child


def swap(mol: Mol) -> Iterator[str]:
    """Element swaps: two neutral heavy atoms of different elements exchange places."""
    from rdkit import Chem

    base = editable(mol)
    atoms = [a for a in base.GetAtoms() if _movable(a)]
    for i, first in enumerate(atoms):
        for second in atoms[i + 1 :]:
            if first.GetAtomicNum() == second.GetAtomicNum():
                continue
            rw = Chem.RWMol(base)
            rw.GetAtomWithIdx(first.GetIdx()).SetAtomicNum(second.GetAtomicNum())
            rw.GetAtomWithIdx(second.GetIdx()).SetAtomicNum(first.GetAtomicNum())
            child = finish(rw, (first.GetIdx(), second.GetIdx()))
            if child:
                yield child


def _double_bonds(rw: RWMol, atom: int) -> int:
    from rdkit import Chem

    return sum(b.GetBondType() == Chem.BondType.DOUBLE for b in rw.GetAtomWithIdx(atom).GetBonds())


def _lowerings(mol: Mol, base: RWMol) -> Iterator[tuple[RWMol, tuple[int, int]]]:
    """``base`` with one unit of bond order removed (a non-aromatic double/triple bond lowered,
    or a ring single bond opened), and the bond's atoms."""
    from rdkit import Chem

    single, double = Chem.BondType.SINGLE, Chem.BondType.DOUBLE
    for lowered in base.GetBonds():
        a, b = lowered.GetBeginAtomIdx(), lowered.GetEndAtomIdx()
        kind = lowered.GetBondType()
        if mol.GetBondWithIdx(lowered.GetIdx()).GetIsAromatic() or not (
            _movable(lowered.GetBeginAtom()) and _movable(lowered.GetEndAtom())
        ):
            continue
        if kind not in (double, Chem.BondType.TRIPLE) and not (
            kind == single and lowered.IsInRing()
        ):
            continue
        opened = Chem.RWMol(base)
        if kind == single:
            opened.RemoveBond(a, b)
        else:
            opened.GetBondBetweenAtoms(a, b).SetBondType(single if kind == double else double)
        opened.UpdatePropertyCache(strict=False)
        yield opened, (a, b)


def _raisings(
    mol: Mol, rw: RWMol, atoms: Sequence[int], skip: tuple[int, int] | None = None
) -> Iterator[tuple[RWMol, tuple[int, int]]]:
    """``rw`` with one unit of bond order added between two hydrogen-bearing ``atoms``: a
    non-aromatic single bond raised to double (no allenes), or a new ring of
    :data:`NEW_RING_SIZES` closed; and the pair."""
    from rdkit import Chem

    single = Chem.BondType.SINGLE
    hydrogens = _hydrogens(rw)
    path = Chem.GetDistanceMatrix(rw)
    for i, c in enumerate(atoms):
        if hydrogens[c] == 0:
            continue
        for d in atoms[i + 1 :]:
            if hydrogens[d] == 0 or (skip is not None and {c, d} == set(skip)):
                continue
            existing = rw.GetBondBetweenAtoms(c, d)
            if existing is None:
                if int(path[c, d]) + 1 not in NEW_RING_SIZES:
                    continue
            elif (
                existing.GetBondType() != single
                or mol.GetBondBetweenAtoms(c, d).GetIsAromatic()
                or _double_bonds(rw, c)
                or _double_bonds(rw, d)
            ):
                continue
            raised = Chem.RWMol(rw)
            if existing is None:
                raised.AddBond(c, d, single)
            else:
                raised.GetBondBetweenAtoms(c, d).SetBondType(Chem.BondType.DOUBLE)
            yield raised, (c, d)


def bond(mol: Mol) -> Iterator[str]:
    """Unsaturation and ring moves: one unit of bond order moves to a nearby atom pair."""
    from rdkit import Chem

    base = editable(mol)
    distances = Chem.GetDistanceMatrix(base)
    n = base.GetNumAtoms()
    for opened, (a, b) in _lowerings(mol, base):
        near = [i for i in range(n) if min(distances[i, a], distances[i, b]) <= BOND_REACH]
        for raised, (c, d) in _raisings(mol, opened, near, skip=(a, b)):
            child = finish(raised, (a, b, c, d))
            if child:
                yield child


def hydrogen_fix(mol: Mol, delta: int) -> Iterator[str]:
    """Children with ``delta`` (+2 or −2) more hydrogens: one unit of bond order removed
    (a double bond saturated, a ring opened) or added (a double bond or a ring made).

    Repairs generator hypotheses with the right heavy atoms but the wrong hydrogen count.
    """
    if delta not in (2, -2):
        raise ValueError(f"delta must be +2 or -2 hydrogens, got {delta}")
    base = editable(mol)
    if delta == 2:
        changed = _lowerings(mol, base)
    else:
        changed = _raisings(mol, base, range(base.GetNumAtoms()))
    for child_rw, pair in changed:
        child = finish(child_rw, pair)
        if child:
            yield child


MOVES: dict[str, Move] = {"walk": walk, "swap": swap, "bond": bond}
"""Local moves by name (the search's ``moves`` setting)."""


def stereoisomers(mol: Mol, limit: int = 16) -> list[str]:
    """``mol`` without stereo, and up to ``limit`` fully assigned stereoisomers of it.

    Every tetrahedral centre and stereo double bond is enumerated (assigned ones too: the
    generator's marks are guesses), so a structure found without its stereo can still
    match a stereo-specific answer.
    """
    from rdkit import Chem
    from rdkit.Chem.EnumerateStereoisomers import (
        EnumerateStereoisomers,
        StereoEnumerationOptions,
    )

    flat = Chem.Mol(mol)
    Chem.RemoveStereochemistry(flat)
    out = [Chem.MolToSmiles(flat)]
    options = StereoEnumerationOptions(onlyUnassigned=True, unique=True, maxIsomers=limit)
    for isomer in EnumerateStereoisomers(flat, options=options):
        smiles = Chem.MolToSmiles(isomer)
        if smiles not in out:
            out.append(smiles)
    return out


def formula_of(smiles: str) -> str | None:
    """Hill formula of a SMILES, ``None`` when RDKit cannot read it."""
    from nmrpeak_cli import chem

    mol = chem.try_parse_smiles(smiles)
    return None if mol is None else chem.formula(mol)


__all__ = [
    "BOND_REACH",
    "MOVES",
    "NEW_RING_SIZES",
    "Move",
    "bond",
    "editable",
    "finish",
    "formula_of",
    "hydrogen_fix",
    "stereoisomers",
    "swap",
    "walk",
]
