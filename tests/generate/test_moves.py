"""Formula-preserving moves and fragment recombination (no model needed)."""

from __future__ import annotations

import pytest
from rdkit import Chem

from nmrpeak_cli import chem
from nmrpeak_cli.generate.fragments import fragments, join, recombine
from nmrpeak_cli.generate.moves import MOVES, bond, hydrogen_fix, stereoisomers, swap, walk

DRUG_LIKE = (
    "CC(=O)Oc1ccccc1C(=O)O",  # aspirin
    "CN1CCC[C@H]2CCCC[C@H]21",
    "O=C1CCCC1",
    "CCOC(=O)/C=C/c1ccc(Cl)cc1",
    "O=[N+]([O-])c1ccc(C)cc1",
)


def canon(smiles: str) -> str:
    return Chem.MolToSmiles(Chem.MolFromSmiles(smiles))


@pytest.mark.parametrize("smiles", DRUG_LIKE)
@pytest.mark.parametrize("name", sorted(MOVES))
def test_every_child_is_a_sanitized_isomer(name, smiles):
    mol = Chem.MolFromSmiles(smiles)
    children = set(MOVES[name](mol))
    for child in children:
        parsed = Chem.MolFromSmiles(child)
        assert parsed is not None, f"{name} made an unreadable SMILES {child!r}"
        assert child == Chem.MolToSmiles(parsed), f"{name} output {child!r} is not canonical"
        if name == "walk":  # walk moves a hydrogen with each bond: the formula always holds
            assert chem.formula(parsed) == chem.formula(mol), f"{child} is not an isomer"
        assert "." not in child, f"{name} disconnected the molecule: {child}"


def test_walk_makes_positional_and_substituent_isomers():
    children = set(walk(Chem.MolFromSmiles("Cc1ccc(O)cc1")))
    expected = {canon(s) for s in ("Cc1ccccc1O", "Cc1cccc(O)c1", "COc1ccccc1", "OCc1ccccc1")}
    assert expected <= children, f"missing {expected - children}"


def test_swap_moves_ring_nitrogen():
    children = set(swap(Chem.MolFromSmiles("CCCc1ccncc1")))
    assert {canon("CCCc1cccnc1"), canon("CCCc1ccccn1")} <= children


def test_bond_moves_keep_aromatic_rings_and_charges():
    assert not list(bond(Chem.MolFromSmiles("Cc1ccc(O)cc1"))), "aromatic bonds must not move"
    children = set(bond(Chem.MolFromSmiles("C=CCC1CCCC1")))
    assert canon("CC=CC1CCCC1") in children, "a double bond one position along"
    assert canon("C1CCC2(C1)CC2") in children or canon("CC1CC12CCCC2") in children
    nitro = Chem.MolFromSmarts("[N+](=O)[O-]")
    for child in bond(Chem.MolFromSmiles("O=[N+]([O-])C1=CCCC1")):
        assert Chem.MolFromSmiles(child).HasSubstructMatch(nitro), f"nitro changed in {child}"


def test_hydrogen_fix_changes_two_hydrogens():
    cyclohexene = Chem.MolFromSmiles("C1=CCCCC1")
    more = set(hydrogen_fix(cyclohexene, 2))
    assert canon("C1CCCCC1") in more and canon("C=CCCCC") in more
    fewer = set(hydrogen_fix(Chem.MolFromSmiles("C1CCCCC1"), -2))
    assert canon("C1=CCCCC1") in fewer
    assert all(chem.formula(Chem.MolFromSmiles(s)) == "C6H10" for s in fewer)
    with pytest.raises(ValueError, match="delta must be"):
        list(hydrogen_fix(cyclohexene, 1))


def test_stereoisomers_include_the_flat_structure_and_every_assignment():
    found = stereoisomers(Chem.MolFromSmiles("C[C@H](N)C(=O)O"))
    assert found[0] == "CC(N)C(=O)O"
    assert {"C[C@H](N)C(=O)O", "C[C@@H](N)C(=O)O"} <= set(found)
    assert stereoisomers(Chem.MolFromSmiles("c1ccccc1")) == ["c1ccccc1"]
    assert len(stereoisomers(Chem.MolFromSmiles("CC(O)C(O)C(O)C"), limit=2)) <= 3


def test_fragments_keep_one_attachment_point():
    pieces = fragments(Chem.MolFromSmiles("CCOC(=O)c1ccccc1"))
    assert pieces, "an ester has acyclic single bonds to cut"
    for piece in pieces:
        assert piece.smiles.count("[*:1]") == 1, piece.smiles
    methyl = [p for p in pieces if p.smiles == "C[*:1]"]
    assert methyl and methyl[0].counts == (("C", 1), ("H", 3))


def test_recombine_joins_pairs_that_make_the_formula():
    seeds = [Chem.MolFromSmiles(s) for s in ("CCOC(=O)c1ccccc1", "COc1ccc(C)cc1")]
    children = set(recombine(seeds, "C10H12O3"))
    assert canon("CCOC(=O)c1ccc(OC)cc1") in children, "ethyl anisate from the two seeds"
    for child in children:
        assert chem.formula(Chem.MolFromSmiles(child)) == "C10H12O3", child
    assert not list(recombine(seeds, "C30H60")), "no pair makes an unrelated formula"


def test_join_refuses_what_cannot_be_sanitized():
    assert join("C[*:1]", "CC[*:1]") == "CCC"
    assert join("O=C(=O)[*:1]", "C(=O)(=O)[*:1]") is None
