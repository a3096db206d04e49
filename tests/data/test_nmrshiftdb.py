"""Cleaning rules for NMRShiftDB2 records: per-atom 13C, per-proton 1H, drop reasons."""

from __future__ import annotations

from collections import Counter

import pytest

from nmrpeak_cli import chem
from nmrpeak_cli.data.nmrshiftdb import (
    MAX_HEAVY_ATOMS,
    Rejected,
    SourceSpectrum,
    build_record,
    c13_data,
    carbon_classes,
    carbon_h_counts,
    check_molecule,
    class_sizes,
    h1_data,
)


def spectrum(nucleus, entries, solvent=None, index=0, field_mhz=None):
    """A source spectrum from ``(shift, multiplicity, atom)`` triples."""
    return SourceSpectrum(
        nucleus=nucleus,
        spectrum_index=index,
        shifts=tuple(e[0] for e in entries),
        multiplicity=tuple(e[1] for e in entries),
        atoms=tuple(e[2] for e in entries),
        solvent=solvent,
        field_mhz=field_mhz,
    )


# Ethyl acetate CH3-C(=O)-O-CH2-CH3 with molblock indices 0..5 (0 CH3, 1 C=O, 4 CH2, 5 CH3).
ETOAC_C13 = [(21.0, "Q", 0), (171.1, "S", 1), (60.4, "t", 4), (14.2, "Q", 5)]


def test_c13_one_entry_per_carbon_with_attached_h():
    data = c13_data(spectrum("13C", ETOAC_C13, "Chloroform-D1 (CDCl3)"), n_carbons=4)
    assert data.shifts == (171.1, 60.4, 21.0, 14.2), "sorted by decreasing shift"
    assert data.n_h == (0, 2, 3, 3), "S/D/T/Q in any case give 0-3 attached H"
    assert data.complete and data.solvent == "CDCl3"


def test_c13_repeated_atom_index_is_kept_once_and_unknown_multiplicity_is_none():
    entries = [(21.0, "Q", 0), (21.0, "Q", 0), (171.1, "u", 1)]
    data = c13_data(spectrum("13C", entries), n_carbons=4)
    assert data.shifts == (171.1, 21.0) and data.n_h == (None, 3)
    assert not data.complete, "2 of 4 carbons listed"


def test_c13_peaks_group_equivalent_carbons():
    entries = [(128.5, "D", 1), (128.5, "D", 2), (137.0, "S", 0), (21.0, "Q", 3)]
    peaks = c13_data(spectrum("13C", entries), n_carbons=4).peaks()
    assert peaks == [
        {"shift": 137.0, "n_atoms": 1, "n_h": 0},
        {"shift": 128.5, "n_atoms": 2, "n_h": 1},
        {"shift": 21.0, "n_atoms": 1, "n_h": 3},
    ]


# 4'-fluoro-3-chloropropiophenone, O=C(CCCl)c1ccc(F)cc1, as NMRShiftDB2 lists it: each
# symmetry class once (7 entries for 9 carbons), 1H one entry per carbon.
FLUORO = "O=C(CCCl)c1ccc(F)cc1"
FLUORO_C13 = [
    (195.08, "S", 1), (38.6, "T", 2), (41.23, "T", 3), (132.98, "S", 5),
    (130.76, "D", 6), (115.91, "D", 7), (166.05, "S", 8),
]  # fmt: skip
FLUORO_H1 = [(7.993, None, 6), (7.154, None, 7), (3.439, None, 2), (3.918, None, 3)]


def test_carbon_classes_of_a_para_substituted_ring():
    classes = carbon_classes(chem.parse_smiles(FLUORO))
    assert classes == ((0, 1), (0, 1), (0, 1), (1, 2), (1, 2), (2, 1), (2, 1))
    assert class_sizes([0, 0, 0, 1, 1, 2, 2], classes) == {0: 1, 1: 2, 2: 1}
    assert class_sizes([0, 0, 0, 1, 1, 1, 2], classes) is None, "H counts do not match"
    assert class_sizes([0, 0, 0, 1, 1, 2, None], classes) is None, "unknown H count"
    assert class_sizes([0, 1], ((0, 1), (1, 1))) is None, "nothing to expand"
    assert class_sizes([1, 1], ((1, 2), (1, 1))) is None, "ambiguous sizes"


def test_symmetry_classes_listed_once_are_expanded():
    classes = carbon_classes(chem.parse_smiles(FLUORO))
    data = c13_data(spectrum("13C", FLUORO_C13), n_carbons=9, classes=classes)
    assert data.complete and data.added == 2
    assert data.shifts.count(130.76) == 2 and data.shifts.count(115.91) == 2
    assert c13_data(spectrum("13C", FLUORO_C13), n_carbons=9).added == 0, "no classes given"
    h_counts = carbon_h_counts([spectrum("13C", FLUORO_C13)])
    h1 = h1_data(spectrum("1H", FLUORO_H1), 12, 8, h_counts, classes)
    assert h1.complete and h1.added == 4, "2H per aromatic CH class, 2H per CH2"
    assert [p["integration"] for p in h1.peaks()] == [2.0, 2.0, 2.0, 2.0]


@pytest.mark.parametrize(
    ("entries", "n_carbons", "reason"),
    [
        (ETOAC_C13, 3, "c13_more_entries_than_carbons"),
        ([(400.0, "S", 0)], 1, "c13_shift_out_of_range"),
    ],
)
def test_c13_rejections(entries, n_carbons, reason):
    with pytest.raises(Rejected) as info:
        c13_data(spectrum("13C", entries), n_carbons)
    assert info.value.reason == reason


def test_h1_one_entry_per_group_is_expanded_with_13c_h_counts():
    h_counts = carbon_h_counts([spectrum("13C", ETOAC_C13)])
    assert h_counts == {0: 3, 1: 0, 4: 2, 5: 3}
    h1 = spectrum("1H", [(2.05, "s", 0), (4.12, "q", 4), (1.26, "t", 5)])
    data = h1_data(h1, n_heavy=6, n_hydrogens=8, h_counts=h_counts)
    assert data.shifts == (4.12, 4.12, 2.05, 2.05, 2.05, 1.26, 1.26, 1.26)
    assert data.complete, "8 protons for 8 H"
    assert data.added == 5, "2 + 1 + 2 protons added to the CH3, CH2, CH3 entries"
    assert data.peaks() == [
        {"shift": 4.12, "integration": 2.0, "multiplicity": "q"},
        {"shift": 2.05, "integration": 3.0, "multiplicity": "s"},
        {"shift": 1.26, "integration": 3.0, "multiplicity": "t"},
    ]


def test_h1_one_entry_per_proton_is_kept_and_diastereotopic_protons_stay_apart():
    h_counts = {0: 3, 4: 2}
    entries = [(2.0, None, 0)] * 3 + [(4.0, None, 4), (4.2, None, 4)]
    data = h1_data(spectrum("1H", entries), n_heavy=6, n_hydrogens=8, h_counts=h_counts)
    assert data.shifts == (4.2, 4.0, 2.0, 2.0, 2.0)
    assert not data.complete and data.added == 0


def test_h1_explicit_h_indices_are_one_proton_each_without_13c():
    # indices 6.. point at explicit H atoms; a repeated H index is kept once
    entries = [(1.2, None, 6), (1.2, None, 7), (1.2, None, 7), (3.6, None, 9)]
    data = h1_data(spectrum("1H", entries), n_heavy=6, n_hydrogens=6, h_counts={})
    assert data.shifts == (3.6, 1.2, 1.2)


def test_h1_unknown_h_count_counts_each_entry_once_and_bad_multiplicity_is_dropped():
    entries = [(7.26, "AA'BB'", 2), (7.26, "d", 2), (9.8, "br s", 3)]
    data = h1_data(spectrum("1H", entries), n_heavy=6, n_hydrogens=6, h_counts={})
    assert data.shifts == (9.8, 7.26, 7.26)
    assert data.peaks()[1] == {"shift": 7.26, "integration": 2.0, "multiplicity": "d"}


def test_h1_rejections():
    too_many = [(1.0, None, 0)] * 4
    with pytest.raises(Rejected, match="h1_more_protons_than_hydrogens"):
        h1_data(spectrum("1H", too_many), n_heavy=2, n_hydrogens=3, h_counts={})
    with pytest.raises(Rejected, match="h1_shift_out_of_range"):
        h1_data(spectrum("1H", [(30.0, None, 0)]), n_heavy=2, n_hydrogens=3, h_counts={})


@pytest.mark.parametrize(
    ("smiles", "reason"),
    [
        ("CC(=O)[O-].[Na+]", "multiple_fragments"),
        ("CCl.Cl", "multiple_fragments"),
        ("C[Sn](C)(C)C", "unsupported_element"),
        ("C[CH2]", "radical"),
        ("[2H]C(Cl)(Cl)Cl", "isotope_label"),
        ("C[N+](C)(C)C", "net_charge"),
        ("C" * (MAX_HEAVY_ATOMS + 1), "too_many_heavy_atoms"),
    ],
)
def test_out_of_domain_molecules(smiles, reason):
    with pytest.raises(Rejected) as info:
        check_molecule(chem.parse_smiles(smiles))
    assert info.value.reason == reason, f"{smiles}: {info.value}"


def test_zwitterions_and_nitro_groups_are_kept():
    check_molecule(chem.parse_smiles("C[N+](=O)[O-]"))
    check_molecule(chem.parse_smiles("[NH3+]CC(=O)[O-]"))


def _row(smiles, record_id=7, key=None):
    mol = chem.parse_smiles(smiles) if key is None else None
    return {"id": record_id, "smiles": smiles, "inchikey": key or chem.inchikey(mol)}


def test_build_record_chooses_the_complete_spectrum_and_fills_identifiers():
    partial = spectrum("13C", ETOAC_C13[:3], "Chloroform-D1 (CDCl3)", index=0)
    complete = spectrum("13C", ETOAC_C13, None, index=1)
    h1 = spectrum("1H", [(2.05, "s", 0), (4.12, "q", 4), (1.26, "t", 5)], "CD3OD", 2, 400.0)
    record = build_record(_row("CCOC(C)=O"), [partial, complete, h1])
    assert record.id == "nmrshiftdb2:7" and record.source_id == 7
    assert record.smiles == "CCOC(C)=O" and record.formula == "C4H8O2" and record.n_heavy == 6
    assert record.scaffold == ""
    assert record.c13 is not None and record.c13.spectrum_index == 1 and record.c13.complete
    assert record.h1 is not None and record.h1.complete and record.h1.field_mhz == 400.0
    assert record.h1.solvent == "CD3OD"


def test_build_record_prefers_known_solvent_then_lowest_index_among_equals():
    first = spectrum("13C", ETOAC_C13, None, index=0)
    second = spectrum("13C", ETOAC_C13, "DMSO", index=1)
    third = spectrum("13C", ETOAC_C13, "CDCl3", index=2)
    record = build_record(_row("CCOC(C)=O"), [third, first, second])
    assert record.c13 is not None and record.c13.spectrum_index == 1


@pytest.mark.parametrize(
    ("row", "spectra", "reason"),
    [
        ({"id": None, "smiles": "CC", "inchikey": ""}, [], "missing_id"),
        ({"id": 1, "smiles": "C1CC", "inchikey": ""}, [], "unparseable_smiles"),
        (_row("CCOC(C)=O"), [spectrum("31P", [(1.0, None, 0)])], "no_c13_or_h1"),
        (
            _row("CCOC(C)=O", key="XEKOWRVHYACXOJ-UHFFFAOYSA-X"),
            [spectrum("13C", ETOAC_C13)],
            "inchikey_mismatch",
        ),
        (_row("CCOC(C)=O"), [spectrum("13C", [(999.0, "S", 0)])], "no_usable_spectrum"),
    ],
)
def test_build_record_drop_reasons(row, spectra, reason):
    rejections: Counter = Counter()
    with pytest.raises(Rejected) as info:
        build_record(row, spectra, rejections)
    assert info.value.reason == reason
    if reason == "no_usable_spectrum":
        assert rejections == {"c13_shift_out_of_range": 1}, "spectrum rejection is counted"


def test_source_spectrum_from_row_checks_lengths():
    row = {"id": 3, "nucleus": "13C", "spectrum_index": 0, "shifts": [1.0, 2.0], "atoms": [0]}
    with pytest.raises(ValueError, match="expected equal lengths"):
        SourceSpectrum.from_row(row)
    ok = SourceSpectrum.from_row({**row, "atoms": None, "field_mhz": float("nan")})
    assert ok.atoms == (0, 1) and ok.multiplicity == (None, None) and ok.field_mhz is None
