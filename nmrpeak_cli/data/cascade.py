"""CASCADE Exp5K: atom-mapped experimental 13C shifts, mapped onto our molecules.

``Exp5K.csv.gz`` gives ``(mol_id, atom_index, Shift)`` where ``atom_index`` counts the atoms of
the explicit-H 3D structure in ``Exp5K_FF.sdf.gz`` (molecule name = ``mol_id`` = NMRShiftDB2
ID). :func:`read_cascade` converts the indices to the heavy-atom structure and
:func:`map_onto` carries them onto the atom order of ``Chem.MolFromSmiles(smiles)`` of a
prepared record by substructure match (stereo-aware first, so diastereotopic groups map to
the right atoms when the stereo agrees; plain connectivity otherwise).
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from nmrpeak_cli.errors import InputFileError

if TYPE_CHECKING:
    from rdkit.Chem import Mol

CSV_NAME = "Exp5K.csv.gz"
SDF_NAME = "Exp5K_FF.sdf.gz"


@dataclass(frozen=True, slots=True)
class CascadeMolecule:
    """One CASCADE molecule: heavy-atom structure and its assigned 13C shifts.

    Attributes
    ----------
    mol_id
        CASCADE ``mol_id`` (the NMRShiftDB2 ID).
    mol
        Heavy-atom RDKit molecule with stereo from the 3D coordinates.
    atoms
        Heavy-atom index per shift, in ``mol``'s atom order, ascending.
    shifts
        13C shift per entry of ``atoms``, ppm.
    """

    mol_id: int
    mol: Mol
    atoms: tuple[int, ...]
    shifts: tuple[float, ...]


def _read_shifts(path: Path) -> dict[int, list[tuple[int, float]]]:
    shifts: dict[int, list[tuple[int, float]]] = {}
    with gzip.open(path, "rt", newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            try:
                mol_id, atom, shift = (
                    int(row["mol_id"]),
                    int(row["atom_index"]),
                    float(row["Shift"]),
                )
            except (KeyError, TypeError, ValueError):
                raise InputFileError(
                    f"{path}: line {line}: expected integer mol_id, atom_index and a numeric "
                    f"Shift, got {row!r}"
                ) from None
            shifts.setdefault(mol_id, []).append((atom, shift))
    return shifts


def _iter_structures(path: Path) -> Iterator[tuple[int, Mol]]:
    from rdkit import Chem, rdBase

    with gzip.open(path, "rb") as handle, rdBase.BlockLogs():
        for mol in Chem.ForwardSDMolSupplier(handle, removeHs=False):
            if mol is None or not mol.HasProp("_Name"):
                continue
            name = mol.GetProp("_Name").strip()
            if name.isdigit():
                yield int(name), mol


def _heavy(mol_id: int, mol: Mol, entries: list[tuple[int, float]]) -> CascadeMolecule | None:
    from rdkit import Chem

    Chem.AssignStereochemistryFrom3D(mol)
    for atom in mol.GetAtoms():
        atom.SetIntProp("cascade_index", atom.GetIdx())
    heavy = Chem.RemoveHs(mol)
    new_index = {a.GetIntProp("cascade_index"): a.GetIdx() for a in heavy.GetAtoms()}
    pairs = sorted({(new_index[a], s) for a, s in entries if a in new_index})
    if len(pairs) != len(entries) or len({a for a, _ in pairs}) != len(pairs):
        return None
    if any(heavy.GetAtomWithIdx(a).GetAtomicNum() != 6 for a, _ in pairs):
        return None
    return CascadeMolecule(mol_id, heavy, tuple(a for a, _ in pairs), tuple(s for _, s in pairs))


def read_cascade(directory: Path) -> dict[int, CascadeMolecule]:
    """Read the CASCADE folder: ``mol_id`` → :class:`CascadeMolecule`.

    Molecules missing from the SDF, or whose indices do not point at distinct carbons, are left
    out. Raises :class:`InputFileError` when a file is missing or malformed.
    """
    directory = Path(directory)
    for name in (CSV_NAME, SDF_NAME):
        if not (directory / name).is_file():
            raise InputFileError(f"CASCADE file {directory / name} not found")
    shifts = _read_shifts(directory / CSV_NAME)
    molecules: dict[int, CascadeMolecule] = {}
    for mol_id, mol in _iter_structures(directory / SDF_NAME):
        if mol_id in shifts and mol_id not in molecules:
            entry = _heavy(mol_id, mol, shifts[mol_id])
            if entry is not None:
                molecules[mol_id] = entry
    return molecules


def map_onto(cascade: CascadeMolecule, smiles: str) -> tuple[list[int], list[float]] | None:
    """CASCADE shifts on the atom order of ``Chem.MolFromSmiles(smiles)``.

    Returns ``(atoms, shifts)`` sorted by atom index, or ``None`` when the structures do not
    match atom for atom (different tautomer, charge form or constitution).
    """
    from rdkit import Chem

    target = Chem.MolFromSmiles(smiles)
    query = cascade.mol
    if target is None or target.GetNumAtoms() != query.GetNumAtoms():
        return None
    match = target.GetSubstructMatch(query, useChirality=True) or target.GetSubstructMatch(query)
    if not match:
        return None
    pairs = sorted((match[a], s) for a, s in zip(cascade.atoms, cascade.shifts, strict=True))
    if any(target.GetAtomWithIdx(a).GetAtomicNum() != 6 for a, _ in pairs):
        return None
    return [a for a, _ in pairs], [s for _, s in pairs]
