"""HOSE-code nearest-environment baseline (the classic NMRShiftDB2 predictor).

A HOSE code (Bremser, Anal. Chim. Acta 1978, 103, 355) describes an atom's environment
sphere by sphere: sphere ``k`` lists the atoms ``k`` bonds away, each with the bond it is
reached by (``=`` double, ``%`` triple, ``*`` aromatic, nothing for single) and ``&`` for a ring
closure back to an atom already listed. Prediction looks up the most specific sphere that
was seen in training (4 → 1) and returns the mean shift stored for that code.

This compact implementation builds codes from RDKit graphs (hydrogens implicit, the centre
written as element + attached-H count + aromatic flag) and makes each sphere canonical by
sorting its branch strings, instead of Bremser's branch-priority ordering. It is fitted on
shift *lists* without atom assignments, as our training data are: expectation–maximization
alternates between assigning observed shifts to atoms by the same constrained optimal
matching the network uses (:mod:`~nmrpeak_cli.predict.matching`) and re-estimating the code
means; CASCADE atom-mapped 13C shifts are used as given. The first assignment uses a crude
rule-based prior (:func:`prior_shifts`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from nmrpeak_cli.predict.dataset import ShiftRecord
from nmrpeak_cli.predict.matching import match_c13, match_h1

if TYPE_CHECKING:
    from rdkit import Chem

MAX_SPHERES = 4
"""Spheres in the most specific code."""

_BOND = {1.0: "", 2.0: "=", 3.0: "%", 1.5: "*"}


def molecule_codes(mol: Chem.Mol, max_spheres: int = MAX_SPHERES) -> list[tuple[str, ...]]:
    """HOSE codes of every atom of ``mol``, spheres 1..``max_spheres`` (each includes the inner ones).

    Sphere ``k`` has one branch per atom of sphere ``k - 1``: its neighbours in sphere ``k``
    (bond symbol + element + H count) and ``&`` for each neighbour in its own sphere (a ring
    closure). Branches and their tokens are sorted, so equivalent atoms get equal codes.
    """
    from rdkit import Chem

    distances = Chem.GetDistanceMatrix(mol).astype(np.int64).tolist()
    atoms = list(mol.GetAtoms())
    tokens = [f"{a.GetSymbol()}{a.GetTotalNumHs()}" for a in atoms]
    # per atom: (neighbour, its token behind the bond symbol, the ring-closure token)
    neighbours: list[list[tuple[int, str, str]]] = [[] for _ in atoms]
    for bond in mol.GetBonds():
        symbol = _BOND.get(bond.GetBondTypeAsDouble(), "")
        begin, end = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        neighbours[begin].append((end, symbol + tokens[end], symbol + "&"))
        neighbours[end].append((begin, symbol + tokens[begin], symbol + "&"))
    codes = []
    for centre, row in enumerate(distances):
        shells: list[list[int]] = [[] for _ in range(max_spheres)]
        for index, distance in enumerate(row):
            if distance < max_spheres:
                shells[distance].append(index)
        body = f"{tokens[centre]}{'a' if atoms[centre].GetIsAromatic() else ''};"
        atom_codes = []
        for sphere in range(max_spheres):
            branches = []
            for index in shells[sphere]:
                parts = [
                    closure if row[other] == sphere else token
                    for other, token, closure in neighbours[index]
                    if row[other] >= sphere
                ]
                parts.sort()
                branches.append("".join(parts))
            branches.sort()
            body += "/" + ",".join(branches)
            atom_codes.append(body)
        codes.append(tuple(atom_codes))
    return codes


def hose_codes(mol: Chem.Mol, atom: int, max_spheres: int = MAX_SPHERES) -> tuple[str, ...]:
    """HOSE codes of one atom (see :func:`molecule_codes`)."""
    return molecule_codes(mol, max_spheres)[atom]


def prior_shifts(mol: Chem.Mol) -> np.ndarray:
    """Rule-of-thumb ``(n_atoms, 2)`` 13C/1H shifts from hybridization and neighbours (EM start)."""
    out = np.zeros((mol.GetNumAtoms(), 2))
    for atom in mol.GetAtoms():
        n_h = atom.GetTotalNumHs()
        hetero = sum(n.GetAtomicNum() in (7, 8) for n in atom.GetNeighbors())
        double_o = any(
            b.GetBondTypeAsDouble() == 2.0 and b.GetOtherAtom(atom).GetAtomicNum() == 8
            for b in atom.GetBonds()
        )
        if atom.GetAtomicNum() != 6:
            c13, h1 = 0.0, 4.0
        elif double_o:
            c13, h1 = 175.0, 9.7
        elif atom.GetIsAromatic():
            c13, h1 = 128.0, 7.3
        elif str(atom.GetHybridization()) == "SP2":
            c13, h1 = 125.0, 5.5
        elif str(atom.GetHybridization()) == "SP":
            c13, h1 = 80.0, 2.5
        else:
            c13 = 20.0 + 8.0 * (3 - n_h) + 40.0 * hetero
            h1 = 0.9 + 0.3 * (3 - n_h) + 2.4 * min(hetero, 1)
        out[atom.GetIdx()] = (c13, h1)
    return out


@dataclass(frozen=True, slots=True)
class HoseModel:
    """Mean shift per HOSE code, per nucleus (column 0 13C, 1 1H) and sphere.

    Attributes
    ----------
    tables
        ``tables[nucleus][sphere - 1]`` maps a code to its mean shift, ppm.
    """

    tables: tuple[tuple[dict[str, float], ...], tuple[dict[str, float], ...]]

    def predict(
        self, mol: Chem.Mol, codes: Sequence[tuple[str, ...]] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per-atom ``(n_atoms, 2)`` shifts and the sphere used per atom/nucleus (0 = prior)."""
        codes = codes if codes is not None else molecule_codes(mol)
        shifts = prior_shifts(mol)
        sphere = np.zeros(shifts.shape, dtype=np.int64)
        for atom, atom_codes in enumerate(codes):
            for nucleus in (0, 1):
                for level in range(len(atom_codes), 0, -1):
                    value = self.tables[nucleus][level - 1].get(atom_codes[level - 1])
                    if value is not None:
                        shifts[atom, nucleus] = value
                        sphere[atom, nucleus] = level
                        break
        return shifts, sphere


def _fit_tables(
    pairs: list[tuple[tuple[str, ...], int, float]],
) -> tuple[tuple[dict[str, float], ...], ...]:
    sums = [[defaultdict(float) for _ in range(MAX_SPHERES)] for _ in range(2)]
    counts = [[defaultdict(int) for _ in range(MAX_SPHERES)] for _ in range(2)]
    for codes, nucleus, value in pairs:
        for level, code in enumerate(codes):
            sums[nucleus][level][code] += value
            counts[nucleus][level][code] += 1
    return tuple(
        tuple(
            {code: s[code] / c[code] for code in s} for s, c in zip(sums[n], counts[n], strict=True)
        )
        for n in range(2)
    )


def fit_hose(
    records: Sequence[ShiftRecord], iterations: int = 3, log: Callable[[str], None] = lambda _: None
) -> HoseModel:
    """Fit code means on ``records`` by EM over constrained matchings (see the module docstring)."""
    from nmrpeak_cli.predict.featurize import parse_molecule

    mols = [parse_molecule(r.smiles) for r in records]
    codes = [molecule_codes(m) for m in mols]
    model = HoseModel(((({},) * MAX_SPHERES), (({},) * MAX_SPHERES)))
    for iteration in range(iterations):
        pairs: list[tuple[tuple[str, ...], int, float]] = []
        for record, mol, mol_codes in zip(records, mols, codes, strict=True):
            shifts, _ = model.predict(mol, mol_codes)
            graph = record.graph
            if record.cascade_atoms is not None:
                pairs.extend(
                    (mol_codes[a], 0, s)
                    for a, s in zip(record.cascade_atoms, record.cascade_shifts, strict=True)
                )
            elif record.c13 is not None:
                carbons = np.flatnonzero(graph.atomic_numbers == 6)
                m = match_c13(shifts[carbons, 0], graph.n_h[carbons], record.c13, record.c13_n_h)
                pairs.extend(
                    (mol_codes[carbons[a]], 0, record.c13[e])
                    for a, e in zip(m.atoms, m.entries, strict=True)
                )
            if record.h1 is not None:
                bearing = np.flatnonzero(graph.n_h > 0)
                m = match_h1(shifts[bearing, 1], graph.n_h[bearing], record.h1)
                pairs.extend(
                    (mol_codes[bearing[a]], 1, record.h1[e])
                    for a, e in zip(m.atoms, m.entries, strict=True)
                )
        model = HoseModel(_fit_tables(pairs))  # type: ignore[arg-type]
        log(
            f"HOSE EM iteration {iteration + 1}: {len(pairs)} assigned shifts, {len(model.tables[0][-1])} 13C sphere-4 codes"
        )
    return model
