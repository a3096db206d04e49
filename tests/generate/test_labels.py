"""Attached-H (DEPT) labels as a filter on candidate structures, on real molecules."""

from __future__ import annotations

from collections import Counter

import pytest
from rdkit import Chem

from nmrpeak_cli.generate.inputs import canonical_input
from nmrpeak_cli.generate.labels import (
    label_capacity,
    label_filter,
    labels_fit,
    query_label_counts,
)
from nmrpeak_cli.spectra import Peak, PeakList, Spectrum

S, D, T, Q = 0, 1, 2, 3


def c13_query(*peaks: tuple[float, int | None], formula: str | None = None) -> Spectrum:
    return Spectrum(
        "q", c13=PeakList("13C", tuple(Peak(s, n_h=n) for s, n in peaks)), formula=formula
    )


def mol(smiles: str) -> Chem.Mol:
    return Chem.MolFromSmiles(smiles)


# journal spectra: ethyl acetate, isobutanol, o-/p-xylene (CDCl3)
ETHYL_ACETATE = c13_query((171.1, S), (60.4, T), (21.0, Q), (14.2, Q))
ISOBUTANOL = c13_query((69.6, T), (30.8, D), (18.9, Q))
O_XYLENE = c13_query((136.5, S), (129.6, D), (125.8, D), (19.7, Q))
P_XYLENE = c13_query((134.7, S), (129.0, D), (21.0, Q))


def test_capacity_counts_aromatic_symmetry_classes_once_and_other_carbons_each():
    assert label_capacity(mol("CCOC(C)=O")) == Counter({S: 1, T: 1, Q: 2})
    # isobutanol's two methyls are one class but may be told apart: one per carbon
    assert label_capacity(mol("CC(C)CO")) == Counter({Q: 2, D: 1, T: 1})
    # p-xylene: one ipso class, one CH class (four carbons), two methyls
    assert label_capacity(mol("Cc1ccc(C)cc1")) == Counter({S: 1, D: 1, Q: 2})
    assert label_capacity(mol("Cc1ccccc1C")) == Counter({S: 1, D: 2, Q: 2})
    assert label_capacity(mol("Cc1cccc(C)c1")) == Counter({S: 1, D: 3, Q: 2})
    # explicit hydrogens count as attached
    assert label_capacity(Chem.AddHs(mol("CCO"))) == Counter({Q: 1, T: 1})


@pytest.mark.parametrize(
    ("query", "smiles", "fits"),
    [
        (ETHYL_ACETATE, "CCOC(C)=O", True),
        (ETHYL_ACETATE, "CCC(=O)OC", True),  # methyl propanoate: same C/CH2/CH3 pattern
        (ETHYL_ACETATE, "CCCOC=O", False),  # propyl formate: one CH3, an O=CH
        (ETHYL_ACETATE, "CC(C)OC=O", False),  # isopropyl formate: no CH2
        (ISOBUTANOL, "CC(C)CO", True),
        (ISOBUTANOL, "CCCCO", False),  # butan-1-ol has no CH
        (ISOBUTANOL, "CCC(C)O", True),  # butan-2-ol: CH, CH2, two CH3
        (O_XYLENE, "Cc1ccccc1C", True),
        (O_XYLENE, "Cc1cccc(C)c1", True),
        (O_XYLENE, "Cc1ccc(C)cc1", False),  # p-xylene has one aromatic CH class
        (P_XYLENE, "Cc1ccc(C)cc1", True),
        (P_XYLENE, "Cc1ccccc1C", True),  # fewer peaks than classes: lenient
    ],
)
def test_labels_fit(query: Spectrum, smiles: str, fits: bool):
    assert labels_fit(mol(smiles), query_label_counts(query)) is fits


def test_unlabelled_peaks_impose_nothing_and_repeated_shifts_are_one_peak():
    partly = c13_query((171.1, None), (60.4, T), (21.0, None), (14.2, Q))
    assert query_label_counts(partly) == Counter({T: 1, Q: 1})
    assert labels_fit(mol("CCCOC=O"), query_label_counts(partly))
    # one line per equivalent carbon (p-xylene's four CH at one shift) is one peak
    repeated = c13_query((129.0, D), (129.0, D), (129.01, D), (129.0, D), (21.0, Q), (21.0, Q))
    assert query_label_counts(repeated) == Counter({D: 1, Q: 1})
    assert labels_fit(mol("Cc1ccc(C)cc1"), query_label_counts(repeated))


def test_label_filter_predicate():
    assert label_filter(c13_query((171.1, None), (60.4, None))) is None
    assert label_filter(Spectrum("h", h1=PeakList.from_shifts("1H", [1.2]))) is None
    fits = label_filter(ISOBUTANOL)
    assert fits is not None
    assert fits("CC(C)CO") and not fits("CCCCO")
    assert fits("not a smiles"), "unreadable SMILES are left to the search"


def test_canonical_input_keeps_the_labels_its_merged_peaks_agree_on():
    query = c13_query((129.02, D), (129.0, D), (128.0, D), (127.99, S), (21.0, Q))
    canonical = canonical_input(query)
    assert [(round(p.shift, 2), p.n_h) for p in canonical.c13] == [
        (129.02, D),
        (128.0, None),
        (21.0, Q),
    ]
