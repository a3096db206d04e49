"""Training pairs: read from table rows, packed and read back without RDKit."""

from __future__ import annotations

import pytest

from nmrpeak_cli.errors import InputFileError
from nmrpeak_cli.generate.pairs import read_pairs, row_to_pair, write_pairs


def test_row_to_pair_reads_experimental_rows() -> None:
    row = {
        "id": "nmrshiftdb2:1",
        "smiles": "OCC",
        "formula": "C2H6O",
        "c13": [{"shift": 58.3, "n_atoms": 1, "n_h": 2}, {"shift": 18.4, "n_atoms": 1, "n_h": 3}],
        "h1": None,
        "h1_shifts": [3.69, 3.69, 1.22, 1.22, 1.22],
    }
    pair = row_to_pair(row)
    assert pair.smiles == "CCO", "targets are canonical SMILES"
    assert list(pair.spectrum.c13.shifts) == [58.3, 18.4]
    assert [p.integration for p in pair.spectrum.h1] == [2.0, 3.0], "per-H shifts are grouped"


def test_packed_pairs_round_trip_without_rdkit(tmp_path, tiny_pairs, monkeypatch) -> None:
    import sys

    path = write_pairs(tiny_pairs, tmp_path / "pairs.parquet")
    monkeypatch.setitem(sys.modules, "rdkit", None)  # the lent GPU machine has no RDKit
    assert read_pairs(path) == tiny_pairs, (
        "spectra (1H structs too) and SMILES come back as written"
    )
    with pytest.raises(InputFileError, match="not found"):
        read_pairs(tmp_path / "missing.parquet")
