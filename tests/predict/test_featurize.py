"""Featurization and the molecule checks of the predictor."""

from __future__ import annotations

import numpy as np
import pytest

from nmrpeak_cli.errors import ChemistryError
from nmrpeak_cli.predict.featurize import (
    ATOM_DIM,
    BOND_DIM,
    MAX_HEAVY_ATOMS,
    MODEL_SOLVENTS,
    SUPPORTED_ELEMENTS,
    featurize,
    parse_molecule,
    solvent_index,
)


def test_graph_shapes_and_counts():
    graph = featurize(parse_molecule("CC(=O)Nc1ccccc1"), solvent_index("CDCl3"))
    assert graph.atom_features.shape == (10, ATOM_DIM), "one feature row per heavy atom"
    assert graph.edge_index.shape == (2, 20), "two directed edges per bond"
    assert graph.edge_features.shape == (20, BOND_DIM)
    assert graph.n_h.tolist() == [3, 0, 0, 1, 0, 1, 1, 1, 1, 1], "attached H per atom"
    assert graph.solvent == MODEL_SOLVENTS.index("CDCl3")
    assert np.isfinite(graph.atom_features).all()


def test_single_atom_molecule_has_no_edges():
    graph = featurize(parse_molecule("C"), solvent_index(None))
    assert graph.edge_index.shape == (2, 0) and graph.n_h.tolist() == [4]


@pytest.mark.parametrize(
    ("smiles", "reason"),
    [
        ("C1CC", "cannot be parsed"),
        ("c1cccc1", "cannot be sanitized"),
        ("[Na]Cl", "metal Na"),
        ("C[Fe]C", "coordination compounds"),
        ("[CH3]", "radical"),
        ("C" * (MAX_HEAVY_ATOMS + 1), "heavy atoms"),
        ("", "empty"),
    ],
)
def test_bad_molecules_say_why(smiles, reason):
    with pytest.raises(ChemistryError, match=reason):
        parse_molecule(smiles)


def test_zwitterions_are_accepted():
    assert parse_molecule("[NH3+]CC(=O)[O-]").GetNumAtoms() == 5


def test_solvent_categories():
    assert MODEL_SOLVENTS[solvent_index("dmso-d6")] == "DMSO-d6"
    assert MODEL_SOLVENTS[solvent_index("CD3CN")] == "other", (
        "known solvents outside the model's set"
    )
    assert MODEL_SOLVENTS[solvent_index(None)] == "unknown"
    with pytest.raises(ValueError, match="unknown solvent 'xylitol'"):
        solvent_index("xylitol")


def test_version_2_appends_chemistry_columns():
    from nmrpeak_cli.predict.featurize import ATOM_DIM_V1, ATOM_DIMS, FEATURE_VERSION

    assert ATOM_DIMS[FEATURE_VERSION] == ATOM_DIM > ATOM_DIM_V1 == ATOM_DIMS["1"]
    extra = featurize(parse_molecule("CC(=O)Nc1ccccc1"), 0).atom_features[:, ATOM_DIM_V1:]
    carbonyl, ring_carbon = extra[1], extra[4]
    assert carbonyl[:4].tolist() == [0.0, 0.5, 0.25, 0.0], "C=O: neighbours O/N sp2, CH3 sp3"
    assert ring_carbon[4 + 4] == 1.0, "smallest ring of a phenyl carbon is the 6-ring"
    assert ring_carbon[13] == 1.0 and carbonyl[13] == 0.0, "aromatic 6-ring membership"
    nitrogen_charge, carbon_charge = extra[3, 15], extra[0, 15]
    assert nitrogen_charge < 0 < carbon_charge + 0.5, "Gasteiger: amide N is negative"


def test_features_do_not_touch_the_molecule():
    mol = parse_molecule("OCC")
    featurize(mol, 0)
    assert not mol.GetAtomWithIdx(0).HasProp("_GasteigerCharge"), "featurize mutated its input"


@pytest.mark.parametrize("smiles", ["C[N+](C)(C)C", "CC(=O)[O-]", "c1cc[n+](C)cc1"])
def test_charged_molecules_are_accepted(smiles):
    from nmrpeak_cli.predict.featurize import prepare_molecule

    mol, notes = prepare_molecule(smiles)
    assert mol.GetNumAtoms() > 0 and notes == ()


def test_salts_keep_the_main_component_and_say_so():
    from rdkit import Chem

    from nmrpeak_cli.predict.featurize import prepare_molecule

    mol, notes = prepare_molecule("C[NH3+].[Cl-].O")
    assert Chem.MolToSmiles(mol) == "C[NH3+]"
    assert notes == ("predicted the largest organic component C[NH3+]; removed O, [Cl-]",)
    mol, notes = prepare_molecule("[Na+].CC(=O)[O-]")
    assert Chem.MolToSmiles(mol) == "CC(=O)[O-]" and "removed [Na+]" in notes[0]


@pytest.mark.parametrize(
    ("smiles", "kept", "removed"),
    [
        ("COS(=O)(=O)[O][Na]", "COS(=O)(=O)[O-]", "[Na+]"),
        ("CC(=O)O[K]", "CC(=O)[O-]", "[K+]"),
        ("CCCC(=O)O[Ca]OC(C)=O", "CCCC(=O)[O-]", "CC(=O)[O-], [Ca+2]"),
    ],
)
def test_salts_written_with_covalent_alkali_metal_bonds_are_ionized(smiles, kept, removed):
    from rdkit import Chem

    from nmrpeak_cli.predict.featurize import prepare_molecule

    mol, notes = prepare_molecule(smiles)
    assert Chem.MolToSmiles(mol) == kept
    assert notes[0].endswith(f"removed {removed}"), notes


@pytest.mark.parametrize("smiles", ["C[Mg]Br", "[Li]CCCC", "CC(=O)O[Pt]OC(C)=O"])
def test_organometallics_stay_refused(smiles):
    from nmrpeak_cli.errors import ChemistryError
    from nmrpeak_cli.predict.featurize import prepare_molecule

    with pytest.raises(ChemistryError, match="organometallic and coordination compounds"):
        prepare_molecule(smiles)


def test_rare_main_group_elements_get_a_note_not_an_error():
    from nmrpeak_cli.predict.featurize import ATOM_DIM_V1, prepare_molecule

    mol, notes = prepare_molecule("C[Sn](C)(C)C")
    assert notes == ("Sn (1 atom) is rare in the training data: shifts near it are less reliable",)
    row = featurize(mol, 0).atom_features[1]
    assert row[len(SUPPORTED_ELEMENTS)] == 1.0, "Sn uses the 'other element' column"
    assert row[ATOM_DIM_V1 + 18 + 3] == 1.0, "period 5 one-hot"
