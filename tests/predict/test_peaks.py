"""Peaks from per-atom predictions: symmetry grouping, integrations, multiplicities."""

from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem

from nmrpeak_cli.predict.peaks import first_order_multiplicity, peaks_from_atoms


def _peaks(smiles: str):
    mol = Chem.MolFromSmiles(smiles)
    shifts = np.column_stack(
        [np.arange(mol.GetNumAtoms()) * 10.0, np.arange(mol.GetNumAtoms()) * 0.5]
    )
    return mol, peaks_from_atoms(mol, shifts)


def test_p_xylene_gives_three_carbon_peaks():
    _, peaks = _peaks("Cc1ccc(C)cc1")
    counts = sorted(int(p.integration) for p in peaks.c13)
    assert counts == [2, 2, 4], f"p-xylene: expected 13C peaks of 2, 2 and 4 carbons, got {counts}"
    assert sorted(p.n_h for p in peaks.c13) == [0, 1, 3], "n_h per class: C, CH, CH3"
    assert all(len(p.atoms) == p.integration for p in peaks.c13), "atoms listed per carbon"
    h1 = sorted((p.integration, p.multiplicity) for p in peaks.h1)
    assert h1 == [(4.0, "s"), (6.0, "s")], f"p-xylene 1H: 4H s and 6H s, got {h1}"


def test_ethyl_group_is_quartet_and_triplet():
    _, peaks = _peaks("CCOC(C)=O")
    by_atoms = {p.atoms: (p.integration, p.multiplicity, p.j_hz) for p in peaks.h1}
    assert by_atoms[(0,)] == (3.0, "t", (7.0,)), f"ethyl CH3: {by_atoms[(0,)]}"
    assert by_atoms[(1,)] == (2.0, "q", (7.0,)), f"ethyl CH2: {by_atoms[(1,)]}"
    assert by_atoms[(4,)] == (3.0, "s", ()), f"acetyl CH3: {by_atoms[(4,)]}"


@pytest.mark.parametrize(
    ("smiles", "atom", "expected"),
    [
        ("CC(C)C", 1, "m"),  # 9 neighbouring H
        ("CC(C)O", 1, "hept"),  # isopropanol CH: 6 H, OH does not couple
        ("CCC", 1, "hept"),  # propane CH2: 6 equivalent-J neighbours
        ("CCCO", 1, "h"),  # propyl middle CH2: 5 H → sextet
        ("C/C=C/CC", 1, "dq"),  # trans 16 Hz + CH3 7 Hz
        ("C/C=C/C", 1, "q"),  # equivalent vinyl H do not split each other
    ],
)
def test_first_order_multiplicities(smiles, atom, expected):
    _, peaks = _peaks(smiles)
    got = next(p.multiplicity for p in peaks.h1 if atom in p.atoms)
    assert got == expected, f"{smiles} atom {atom}: expected {expected}, got {got}"


def test_exchangeable_protons_are_flagged_broad_singlets():
    _, peaks = _peaks("OC(=O)CN")
    flagged = {p.atoms: flag for p, flag in zip(peaks.h1, peaks.h1_exchangeable, strict=True)}
    assert flagged == {(0,): True, (3,): False, (4,): True}, f"OH/NH flagged, CH2 not: {flagged}"
    assert all(
        p.multiplicity == "br s" for p, f in zip(peaks.h1, peaks.h1_exchangeable, strict=True) if f
    )


def test_first_order_multiplicity_codes():
    assert first_order_multiplicity({}) == ("s", ())
    assert first_order_multiplicity({8.0: 1, 2.0: 1}) == ("dd", (8.0, 2.0))
    assert first_order_multiplicity({7.0: 7}) == ("m", ())
    assert first_order_multiplicity({16.0: 1, 7.0: 1, 3.0: 1, 1.0: 1}) == ("m", ())
