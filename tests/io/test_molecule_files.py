"""Molecule inputs: SMILES files, tables with a ``smiles`` column, compressed files."""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nmrpeak_cli.errors import InputFileError
from nmrpeak_cli.io import MoleculeRecord, RecordError, read_molecules


def read(source, **kwargs) -> list:
    return [r for batch in read_molecules(source, **kwargs) for r in batch]


def test_smiles_file_with_header_comments_ids_and_gaps(tmp_path: Path) -> None:
    path = tmp_path / "mols.smi"
    path.write_text("SMILES id\n# a comment\nCCO ethanol\n\nc1ccccc1\tbenzene ring\nCC(=O)O\n")
    assert read(path) == [
        MoleculeRecord("ethanol", "CCO"),
        MoleculeRecord("benzene ring", "c1ccccc1"),
        MoleculeRecord("row3", "CC(=O)O"),
    ], "ids after whitespace, generated when absent"


def test_txt_and_gz_smiles_files_and_batches(tmp_path: Path) -> None:
    lines = "".join(f"{'C' * (i + 1)} m{i}\n" for i in range(5))
    (tmp_path / "a.txt").write_text(lines)
    (tmp_path / "b.smi.gz").write_bytes(gzip.compress(lines.encode()))
    sizes = [len(b) for b in read_molecules(tmp_path, batch_size=2)]
    assert sizes == [2, 2, 1, 2, 2, 1], f"batches per file: {sizes}"


def test_tables_with_a_smiles_column(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("ID,SMILES,weight\na,CCO,46\nb,,0\n")
    got = read(tmp_path / "m.csv")
    assert got[0] == MoleculeRecord("a", "CCO"), "case-insensitive header"
    assert isinstance(got[1], RecordError) and got[1].field == "smiles" and got[1].record == "b"
    pq.write_table(pa.table({"smiles": ["C", "N"]}), tmp_path / "m.parquet")
    assert read(tmp_path / "m.parquet") == [
        MoleculeRecord("row1", "C"),
        MoleculeRecord("row2", "N"),
    ]


def test_table_without_smiles_column_is_a_bad_file(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("id,name\na,ethanol\n")
    with pytest.raises(InputFileError, match="no 'smiles' column"):
        read(tmp_path / "m.csv")


def test_non_utf8_smiles_line(tmp_path: Path) -> None:
    (tmp_path / "m.smi").write_bytes(b"CCO a\nC\xff b\nN c\n")
    got = read(tmp_path / "m.smi")
    assert [r.id if isinstance(r, MoleculeRecord) else r.record for r in got] == ["a", "row2", "c"]
    assert "UTF-8" in got[1].message
