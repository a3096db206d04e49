"""Builders for a tiny synthetic source folder (same files and columns as ../shared/data) and a
fake ``molsets`` wheel, so the whole preparation runs offline in a second."""

from __future__ import annotations

import csv
import gzip
import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from rdkit import Chem, rdBase
from rdkit.Chem import AllChem

#: Molecules that should survive cleaning: several scaffolds, acyclic ones, a stereo pair.
GOOD_SMILES: tuple[str, ...] = (
    "Cc1ccc(C)cc1",
    "CCc1ccccc1",
    "COc1ccccc1",
    "Oc1ccccc1C",
    "CC(C)Cc1ccc(cc1)C(C)C(=O)O",
    "C1CCCCC1",
    "CC1CCCCC1",
    "OC1CCCCC1",
    "O=C1CCCCC1",
    "c1ccc2ccccc2c1",
    "Cc1ccc2ccccc2c1",
    "c1ccncc1",
    "Cc1ccncc1",
    "CC(=O)c1ccncc1",
    "C1CCOC1",
    "CC1CCOC1",
    "c1ccoc1",
    "Cc1ccoc1",
    "C1CCNCC1",
    "CN1CCCCC1",
    "CCCCCC",
    "CCCCO",
    "CC(C)O",
    "CCOC(C)=O",
    "CCCC(=O)O",
    "CC(=O)CC",
    "C/C=C/C(=O)O",
    "C/C=C\\C(=O)O",
    "C[C@H](N)C(=O)O",
    "C[C@@H](N)C(=O)O",
    "c1ccc(cc1)-c1ccccc1",
    "Cc1ccc(cc1)-c1ccccc1",
    "C1CC1",
    "CC1CC1",
    "C1CCC1",
    "OCC1CCC1",
    "c1ccsc1",
    "Cc1ccsc1",
    "O=C1CCCN1",
    "CN1CCCC1=O",
)

#: (SMILES, expected drop reason) for records that must be dropped.
BAD_SMILES: tuple[tuple[str, str], ...] = (
    ("CC(=O)[O-].[Na+]", "multiple_fragments"),
    ("C[Sn](C)(C)C", "unsupported_element"),
    ("C[CH2]", "radical"),
    ("[13CH3]C(=O)O", "isotope_label"),
    ("C[N+](C)(C)C", "net_charge"),
    ("C" * 120, "too_many_heavy_atoms"),
    ("C1CC", "unparseable_smiles"),
)

_MULT = "SDTQ"


@dataclass(frozen=True)
class SyntheticSource:
    """Paths and expectations of a synthetic source folder."""

    root: Path
    n_good: int
    expected_drops: dict[str, int]
    cascade_ids: tuple[int, ...]


def _spectra_for(record_id: int, smiles: str, per_proton: bool) -> list[dict]:
    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return []
    carbons = [a for a in mol.GetAtoms() if a.GetSymbol() == "C"]
    c13 = {
        "id": record_id,
        "inchikey": None,
        "nucleus": "13C",
        "spectrum_index": 0,
        "shifts": [10.0 + 4.5 * a.GetIdx() for a in carbons],
        "multiplicity": [_MULT[min(a.GetTotalNumHs(), 3)] for a in carbons],
        "atoms": [a.GetIdx() for a in carbons],
        "solvent": "Chloroform-D1 (CDCl3)",
        "temperature_k": None,
        "field_mhz": 100.0,
        "assignment_method": None,
    }
    shifts, atoms = [], []
    for atom in mol.GetAtoms():
        copies = atom.GetTotalNumHs() if per_proton else min(atom.GetTotalNumHs(), 1)
        for _ in range(copies):
            shifts.append(round(0.5 + 0.3 * atom.GetIdx(), 3))
            atoms.append(atom.GetIdx())
    h1 = {
        **c13,
        "nucleus": "1H",
        "shifts": shifts,
        "multiplicity": [None] * len(shifts),
        "atoms": atoms,
        "solvent": "DMSO-d6",
        "field_mhz": 400.0,
    }
    return [c13] + ([h1] if shifts else [])


def _key(smiles: str) -> str:
    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(smiles)
    return "" if mol is None else Chem.MolToInchiKey(mol)


def _write_cascade(folder: Path, records: Sequence[tuple[int, str]]) -> None:
    folder.mkdir(parents=True)
    writer_buffer = io.StringIO()
    sdf = Chem.SDWriter(writer_buffer)
    rows = []
    for mol_id, smiles in records:
        mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
        AllChem.EmbedMolecule(mol, randomSeed=7)
        # Put the hydrogens first so CSV indices differ from heavy-atom indices.
        order = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() == 1]
        order += [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() != 1]
        mol = Chem.RenumberAtoms(mol, order)
        mol.SetProp("_Name", str(mol_id))
        sdf.write(mol)
        for atom in mol.GetAtoms():
            if atom.GetSymbol() == "C":
                shift = 20.0 + 30.0 * atom.GetTotalNumHs(includeNeighbors=True)
                rows.append([len(rows), mol_id, atom.GetIdx(), shift, 6])
    sdf.close()
    (folder / "Exp5K_FF.sdf.gz").write_bytes(gzip.compress(writer_buffer.getvalue().encode()))
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["", "mol_id", "atom_index", "Shift", "atom_type"])
    writer.writerows(rows)
    (folder / "Exp5K.csv.gz").write_bytes(gzip.compress(text.getvalue().encode()))


def build_source(root: Path) -> SyntheticSource:
    """Write ``root/nmrshiftdb2/*.parquet`` and ``root/cascade-exp5k/*`` for a few molecules."""
    molecules, spectra = [], []
    drops: dict[str, int] = {}
    entries = [(s, None) for s in GOOD_SMILES] + list(BAD_SMILES)
    for i, (smiles, reason) in enumerate(entries):
        record_id = 1000 + i
        molecules.append({"id": record_id, "inchikey": _key(smiles), "smiles": smiles})
        spectra += _spectra_for(record_id, smiles, per_proton=i % 2 == 0)
        if reason:
            drops[reason] = drops.get(reason, 0) + 1
    # No id; no 13C/1H spectrum; wrong stored InChIKey; duplicate of the first molecule.
    molecules.append({"id": None, "inchikey": "", "smiles": "CCN"})
    molecules.append({"id": 2000, "inchikey": _key("CCCl"), "smiles": "CCCl"})
    molecules.append({"id": 2001, "inchikey": _key("CCBr")[:-1] + "X", "smiles": "CCBr"})
    spectra += _spectra_for(2001, "CCBr", True)
    molecules.append({"id": 2002, "inchikey": _key(GOOD_SMILES[0]), "smiles": GOOD_SMILES[0]})
    spectra += [s for s in _spectra_for(2002, GOOD_SMILES[0], True) if s["nucleus"] == "13C"]
    drops.update(missing_id=1, no_c13_or_h1=1, inchikey_mismatch=1, duplicate_inchikey=1)
    for row in molecules:
        row.update(smiles_source=row["smiles"], n_c13_spectra=1, n_h1_spectra=1)
    folder = root / "nmrshiftdb2"
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(molecules), folder / "nmrshiftdb2_molecules.parquet")
    pq.write_table(pa.Table.from_pylist(spectra), folder / "nmrshiftdb2_spectra.parquet")
    cascade = ((1000, GOOD_SMILES[0]), (1004, GOOD_SMILES[4]))
    _write_cascade(root / "cascade-exp5k", cascade)
    return SyntheticSource(root, len(GOOD_SMILES), drops, tuple(i for i, _ in cascade))


def build_wheel(path: Path, members: dict[str, Sequence[str]], header: str = "SMILES") -> Path:
    """A fake wheel: ``members`` maps ``moses/dataset/data/<name>.csv.gz`` to CSV lines."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("moses/__init__.py", "")
        for name, lines in members.items():
            text = ("\n".join([header, *lines]) + "\n").encode()
            archive.writestr(name, gzip.compress(text) if name.endswith(".gz") else text)
    return path
