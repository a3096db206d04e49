"""Per-atom predicted shifts → 13C and 1H peak lists.

13C: one peak per class of symmetry-equivalent carbons (canonical ranks without tie breaking),
with ``integration`` = ``n_atoms``, the class's atoms and its attached-H count.

1H: one peak per class of symmetry-equivalent hydrogen-bearing heavy atoms, integration = the
number of hydrogens. The multiplicity follows the first-order n+1 rule over the vicinal
(three-bond H–C–C–H) neighbours of one representative atom: neighbour hydrogens are pooled by
approximate coupling constant (neighbours with the same J count as one group, as they do in
practice: the middle CH2 of a propyl group is a sextet), each group of n hydrogens gives an
(n+1)-line pattern, and the codes are joined largest J first (``dq``). More than three groups,
or a group of more than six hydrogens, gives ``m``. Approximate J (Hz): 7 between sp3 centres,
8 ortho in six-membered aromatic rings, 3.5 in five-membered aromatic rings, 16 trans / 10 cis
/ 12 unknown across a C=C, 2.5 to an aldehyde H, 7 otherwise. Geminal and long-range couplings
are ignored, and so is coupling to exchangeable protons.

Exchangeable protons (on O, N, S, Se: OH, NH, COOH, SH) are predicted as broad singlets and
flagged; the Python API can keep or drop them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from nmrpeak_cli.spectra import Nucleus, Peak, PeakList

if TYPE_CHECKING:
    from rdkit import Chem

EXCHANGEABLE_ELEMENTS = frozenset({7, 8, 16, 34})
"""Atomic numbers whose attached protons are exchangeable (N, O, S, Se)."""

_LETTERS = {1: "d", 2: "t", 3: "q", 4: "p", 5: "h", 6: "hept"}


@dataclass(frozen=True, slots=True)
class PredictedPeaks:
    """Peak lists of one molecule.

    Attributes
    ----------
    c13
        13C peaks (``integration`` = ``n_atoms``, ``n_h``, ``atoms``).
    h1
        1H peaks (``integration`` = number of H, multiplicity, J, ``atoms`` = heavy atoms).
    h1_exchangeable
        One flag per ``h1`` peak, in the same order: True for OH/NH/SH protons.
    """

    c13: PeakList
    h1: PeakList
    h1_exchangeable: tuple[bool, ...]


def _coupling(mol: Chem.Mol, a: int, b: int) -> float:
    """Approximate vicinal H–H coupling (Hz) across the bond between heavy atoms ``a`` and ``b``."""
    from rdkit import Chem

    bond = mol.GetBondBetweenAtoms(a, b)
    atom_a, atom_b = mol.GetAtomWithIdx(a), mol.GetAtomWithIdx(b)
    if bond.GetIsAromatic():
        info = mol.GetRingInfo()
        return 3.5 if info.IsBondInRingOfSize(bond.GetIdx(), 5) else 8.0
    if bond.GetBondType() == Chem.BondType.DOUBLE:
        stereo = bond.GetStereo()
        if stereo in (Chem.BondStereo.STEREOE, Chem.BondStereo.STEREOTRANS):
            return 16.0
        if stereo in (Chem.BondStereo.STEREOZ, Chem.BondStereo.STEREOCIS):
            return 10.0
        return 12.0
    if _is_aldehyde(atom_a) or _is_aldehyde(atom_b):
        return 2.5
    return 7.0


def _is_aldehyde(atom: Chem.Atom) -> bool:
    if atom.GetAtomicNum() != 6 or atom.GetTotalNumHs() != 1:
        return False
    return any(
        b.GetBondTypeAsDouble() == 2.0 and b.GetOtherAtom(atom).GetAtomicNum() == 8
        for b in atom.GetBonds()
    )


def first_order_multiplicity(groups: dict[float, int]) -> tuple[str, tuple[float, ...]]:
    """Multiplicity code and J values from ``{J_hz: number of coupled H}``.

    ``{}`` → ``("s", ())``; ``{7.0: 3}`` → ``("q", (7.0,))``; ``{8.0: 1, 2.0: 1}`` → ``("dd", (8.0, 2.0))``.
    """
    items = sorted(((j, n) for j, n in groups.items() if n > 0), reverse=True)
    if not items:
        return "s", ()
    if len(items) > 3 or any(n > 6 for _, n in items):
        return "m", ()
    return "".join(_LETTERS[n] for _, n in items), tuple(j for j, _ in items)


def peaks_from_atoms(
    mol: Chem.Mol, atom_shifts: np.ndarray, classes: list[int] | None = None
) -> PredictedPeaks:
    """Group per-atom predictions into peaks (see the module docstring).

    Parameters
    ----------
    mol
        The molecule (implicit hydrogens), atom order as in ``atom_shifts``.
    atom_shifts
        ``(n_atoms, 2)`` predicted 13C (column 0) and mean 1H (column 1) shift per atom, ppm.
    classes
        Symmetry class per atom; computed with :func:`nmrpeak_cli.chem.symmetry_classes` if ``None``.
    """
    if classes is None:
        from nmrpeak_cli.chem import symmetry_classes

        classes = symmetry_classes(mol)
    atoms = list(mol.GetAtoms())
    members: dict[int, list[int]] = {}
    for index, cls in enumerate(classes):
        members.setdefault(cls, []).append(index)

    c13: list[Peak] = []
    h1: list[tuple[Peak, bool]] = []
    for group in members.values():
        first = atoms[group[0]]
        n_h = first.GetTotalNumHs()
        if first.GetAtomicNum() == 6:
            c13.append(
                Peak(
                    float(np.mean(atom_shifts[group, 0])),
                    integration=len(group),
                    atoms=tuple(group),
                    n_h=min(n_h, 4),
                )
            )
        if n_h == 0:
            continue
        exchangeable = first.GetAtomicNum() in EXCHANGEABLE_ELEMENTS
        if exchangeable:
            multiplicity, j_hz = "br s", ()
        else:
            couplings: dict[float, int] = {}
            own = classes[group[0]]
            for neighbour in first.GetNeighbors():
                other = neighbour.GetIdx()
                other_h = neighbour.GetTotalNumHs()
                if (
                    other_h == 0
                    or classes[other] == own
                    or neighbour.GetAtomicNum() in EXCHANGEABLE_ELEMENTS
                ):
                    continue
                j = _coupling(mol, group[0], other)
                couplings[j] = couplings.get(j, 0) + other_h
            multiplicity, j_hz = first_order_multiplicity(couplings)
        peak = Peak(
            float(np.mean(atom_shifts[group, 1])),
            integration=float(n_h * len(group)),
            multiplicity=multiplicity,
            j_hz=j_hz,
            atoms=tuple(group),
        )
        h1.append((peak, exchangeable))
    h1_list = PeakList(Nucleus.H1, tuple(p for p, _ in h1))
    flags = {id(p): flag for p, flag in h1}
    return PredictedPeaks(
        c13=PeakList(Nucleus.C13, tuple(c13)),
        h1=h1_list,
        h1_exchangeable=tuple(flags[id(p)] for p in h1_list.peaks),
    )
