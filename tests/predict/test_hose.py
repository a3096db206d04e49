"""The HOSE-code baseline: codes, lookup fallback, fitting on unassigned lists."""

from __future__ import annotations

import numpy as np
from rdkit import Chem

from nmrpeak_cli.predict.dataset import records_from_rows
from nmrpeak_cli.predict.hose import MAX_SPHERES, fit_hose, hose_codes


def test_symmetric_atoms_share_codes_and_spheres_nest():
    mol = Chem.MolFromSmiles("Cc1ccc(C)cc1")
    assert hose_codes(mol, 0) == hose_codes(mol, 5), "the two methyls have one environment"
    assert hose_codes(mol, 2) == hose_codes(mol, 7), "equivalent ring CH"
    codes = hose_codes(mol, 1)
    assert len(codes) == MAX_SPHERES
    assert all(codes[i + 1].startswith(codes[i]) for i in range(MAX_SPHERES - 1)), codes


def test_different_environments_differ():
    mol = Chem.MolFromSmiles("CCO")
    assert hose_codes(mol, 0)[0] != hose_codes(mol, 1)[0]


def test_fit_recovers_training_shifts(tiny_rows):
    records, _ = records_from_rows(tiny_rows)
    model = fit_hose(records, iterations=2)
    mol = Chem.MolFromSmiles("CCOC(C)=O")
    shifts, spheres = model.predict(mol)
    assert spheres[[0, 1, 3, 4], 0].min() == MAX_SPHERES, (
        "training molecule: full-sphere codes known"
    )
    assert np.allclose(shifts[[0, 1, 3, 4], 0], [14.2, 60.4, 171.0, 21.0], atol=1e-6), shifts[:, 0]
    assert abs(shifts[1, 1] - 4.12) < 1e-6, "OCH2 protons"


def test_unknown_environment_falls_back_to_prior():
    records, _ = records_from_rows(
        [
            {
                "id": "a",
                "smiles": "CC",
                "n_heavy": 2,
                "solvent_c13": None,
                "solvent_h1": None,
                "c13_shifts": [7.0, 7.0],
                "c13_n_h": [3, 3],
                "h1_shifts": None,
                "cascade_atoms": None,
                "cascade_shifts": None,
            }
        ]
    )
    model = fit_hose(records, iterations=1)
    shifts, spheres = model.predict(Chem.MolFromSmiles("FC(F)(F)Br"))
    assert spheres[1, 0] == 0 and np.isfinite(shifts[1, 0]), "no code known → rule-based prior"
