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
        ("[Na]Cl", "unsupported element"),
        ("[CH3]", "radical"),
        ("C[N+](C)(C)C", r"net charge \+1"),
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
