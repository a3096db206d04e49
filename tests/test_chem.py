"""Chemistry helpers on real molecules."""

from __future__ import annotations

import pytest

from nmrpeak_cli import chem
from nmrpeak_cli.errors import ChemistryError

IBUPROFEN = "CC(C)Cc1ccc(cc1)[C@@H](C)C(=O)O"


def test_parse_gives_canonical_isomeric_smiles():
    mol = chem.parse_smiles("  OC(=O)[C@H](C)c1ccc(CC(C)C)cc1 ")
    canonical = chem.canonical_smiles(mol)
    assert canonical == "CC(C)Cc1ccc([C@@H](C)C(=O)O)cc1"
    assert chem.canonical_smiles(chem.parse_smiles(canonical)) == canonical, "a fixed point"
    assert "@" not in chem.canonical_smiles(mol, isomeric=False), "non-isomeric drops stereo"


@pytest.mark.parametrize(
    ("smiles", "reason"),
    [
        ("C1CC", "unclosed ring"),
        ("CC(", "syntax error"),
        ("CN(C)(C)(C)C", "valence"),
        ("c1cccc1", "kekulize"),
        ("", "empty"),
    ],
)
def test_bad_smiles_raise_with_rdkit_reason_and_print_nothing(smiles, reason, capfd):
    with pytest.raises(ChemistryError, match=reason):
        chem.parse_smiles(smiles)
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == "", "RDKit messages must be captured"
    assert chem.try_parse_smiles(smiles) is None


def test_wrong_type_is_a_type_error():
    with pytest.raises(TypeError, match="SMILES string"):
        chem.parse_smiles(None)  # type: ignore[arg-type]


def test_identifiers_and_formula_of_ibuprofen():
    mol = chem.parse_smiles(IBUPROFEN)
    key = chem.inchikey(mol)
    assert key.startswith("HEFNNWSXXWATRW-"), f"ibuprofen InChIKey, got {key}"
    assert chem.connectivity_key(key) == "HEFNNWSXXWATRW"
    assert chem.formula(mol) == "C13H18O2"
    assert chem.heavy_atom_count(mol) == 15
    assert chem.hydrogen_count(mol) == 18
    assert chem.element_counts(mol) == {"C": 13, "O": 2, "H": 18}


def test_stereoisomers_share_connectivity_key_not_inchikey():
    left = chem.inchikey(chem.parse_smiles("C[C@H](N)C(=O)O"))
    right = chem.inchikey(chem.parse_smiles("C[C@@H](N)C(=O)O"))
    assert left != right, "enantiomers have different InChIKeys"
    assert chem.connectivity_key(left) == chem.connectivity_key(right)


@pytest.mark.parametrize("bad", ["", "HEFNNWSXXWATRW", "hefnnwsxxwatrw-uhfffaoysa-n", None])
def test_connectivity_key_rejects_non_inchikeys(bad):
    with pytest.raises(ChemistryError, match="InChIKey"):
        chem.connectivity_key(bad)  # type: ignore[arg-type]


def test_inchikey_failure_is_a_chemistry_error(capfd):
    mol = chem.parse_smiles("C[N]1(C)CC[NH][Pt]<-1([Cl])[Cl]")
    with pytest.raises(ChemistryError, match="InChIKey"):
        chem.inchikey(mol)
    assert capfd.readouterr().err == ""


def _classes(smiles: str) -> dict[str, int]:
    """Number of symmetry classes per element symbol."""
    mol = chem.parse_smiles(smiles)
    ranks = chem.symmetry_classes(mol)
    assert len(ranks) == mol.GetNumAtoms(), "one class per atom"
    out: dict[str, set[int]] = {}
    for atom, rank in zip(mol.GetAtoms(), ranks, strict=True):
        out.setdefault(atom.GetSymbol(), set()).add(rank)
    return {symbol: len(classes) for symbol, classes in out.items()}


def test_symmetry_of_p_xylene_benzene_and_ibuprofen():
    mol = chem.parse_smiles("Cc1ccc(C)cc1")
    ranks = chem.symmetry_classes(mol)
    ring_ch = {ranks[a.GetIdx()] for a in mol.GetAtoms() if a.GetIsAromatic() and a.GetTotalNumHs()}
    methyls = {ranks[a.GetIdx()] for a in mol.GetAtoms() if a.GetTotalNumHs() == 3}
    assert len(ring_ch) == 1 and len(methyls) == 1, "p-xylene: 4 equivalent CH, 2 equivalent CH3"
    assert _classes("Cc1ccc(C)cc1") == {"C": 3}
    assert _classes("c1ccccc1") == {"C": 1}
    # ibuprofen: 13 C in 10 classes (isopropyl CH3 pair and two aromatic CH pairs coincide)
    assert _classes(IBUPROFEN) == {"C": 10, "O": 2}


def test_murcko_scaffolds():
    assert chem.murcko_scaffold(chem.parse_smiles(IBUPROFEN)) == "c1ccccc1"
    assert chem.murcko_scaffold(chem.parse_smiles("CCCCCC")) == "", "acyclic: empty scaffold"
    assert chem.murcko_scaffold(chem.parse_smiles("Cc1ccc(cc1)-c1ccccc1")) == (
        "c1ccc(-c2ccccc2)cc1"
    )
    cis = chem.murcko_scaffold(chem.parse_smiles("C[C@H]1CC[C@@H](O)CC1"))
    trans = chem.murcko_scaffold(chem.parse_smiles("C[C@H]1CC[C@H](O)CC1"))
    assert cis == trans == "C1CCCCC1", "stereoisomers share a (2D) scaffold"
