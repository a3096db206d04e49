"""CASCADE atom mapping: synthetic index conversion, and real molecules from ../shared."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
from rdkit import Chem

from nmrpeak_cli.data.cascade import CascadeMolecule, map_onto, read_cascade
from nmrpeak_cli.errors import InputFileError
from tests.data.data_builders import build_source


def test_explicit_h_indices_become_heavy_atom_indices(tmp_path):
    source = build_source(tmp_path)
    molecules = read_cascade(source.root / "cascade-exp5k")
    assert sorted(molecules) == list(source.cascade_ids)
    xylene = molecules[source.cascade_ids[0]]
    assert xylene.mol.GetNumAtoms() == 8, "hydrogens removed"
    for atom, shift in zip(xylene.atoms, xylene.shifts, strict=True):
        # synthetic shifts encode the attached-H count: 20 + 30 * nH
        assert xylene.mol.GetAtomWithIdx(atom).GetTotalNumHs() == round((shift - 20) / 30)


def test_mapping_follows_our_atom_order_and_refuses_other_structures(tmp_path):
    source = build_source(tmp_path)
    xylene = read_cascade(source.root / "cascade-exp5k")[source.cascade_ids[0]]
    for smiles in ("Cc1ccc(C)cc1", "c1cc(C)ccc1C"):
        atoms, shifts = map_onto(xylene, smiles)
        mol = Chem.MolFromSmiles(smiles)
        assert atoms == sorted(atoms)
        methyls = [a for a in atoms if mol.GetAtomWithIdx(a).GetTotalNumHs() == 3]
        assert [shifts[atoms.index(a)] for a in methyls] == [110.0, 110.0], smiles
    assert map_onto(xylene, "Cc1cccc(C)c1") is None, "m-xylene is another molecule"
    assert map_onto(xylene, "CCc1ccccc1") is None


def test_missing_files_are_input_errors(tmp_path):
    with pytest.raises(InputFileError, match=r"Exp5K\.csv\.gz"):
        read_cascade(tmp_path)


# Real CASCADE molecules: (mol_id, NMRShiftDB2 SMILES, {atom index: shift}).
REAL = [
    (7986, "CCCCC", {0: 13.43, 1: 23.765, 2: 34.28, 3: 23.765, 4: 13.43}),
    (10258, "CNCc1ccco1", {0: 35.4, 2: 47.8, 3: 153.6, 4: 106.7, 5: 109.8, 6: 141.6}),
    (74220, "CC(C)CC=O", {0: 22.6, 1: 23.6, 2: 22.6, 3: 52.8, 4: 202.4}),
]


@pytest.fixture(scope="module")
def real_cascade(shared_data) -> dict[int, CascadeMolecule]:
    return read_cascade(shared_data / "cascade-exp5k")


@pytest.mark.integration
@pytest.mark.parametrize(("mol_id", "smiles", "expected"), REAL)
def test_real_molecules_map_atom_for_atom(real_cascade, mol_id, smiles, expected):
    atoms, shifts = map_onto(real_cascade[mol_id], smiles)
    assert dict(zip(atoms, shifts, strict=True)) == pytest.approx(expected)


@pytest.mark.integration
def test_real_mapping_agrees_with_nmrshiftdb2_attached_h(real_cascade, shared_data):
    """A mapped shift must have an NMRShiftDB2 13C entry nearby with the atom's H count."""
    table = pq.read_table(
        shared_data / "nmrshiftdb2" / "nmrshiftdb2_molecules.parquet",
        columns=["id", "smiles", "c13", "c13_mult"],
    )
    records = {r["id"]: r for r in table.to_pylist() if r["id"] in real_cascade and r["c13"]}
    agree = total = 0
    for mol_id in sorted(records)[:300]:
        record = records[mol_id]
        mapped = map_onto(real_cascade[mol_id], record["smiles"])
        if mapped is None:
            continue
        mol = Chem.MolFromSmiles(record["smiles"])
        for atom, shift in zip(*mapped, strict=True):
            near = {
                "SDTQ".find((m or "?").upper())
                for s, m in zip(record["c13"], record["c13_mult"], strict=True)
                if abs(s - shift) < 0.6
            }
            total += 1
            agree += mol.GetAtomWithIdx(atom).GetTotalNumHs() in near
    assert total > 2000, f"too few mapped atoms checked ({total})"
    assert agree / total > 0.97, f"only {agree}/{total} mapped atoms agree on attached H"
