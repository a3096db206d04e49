"""Round trips per format, writers (atomic, streaming, stdout) and the registry's dispatch."""

from __future__ import annotations

import gzip
import io
import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nmrpeak_cli.errors import InputFileError
from nmrpeak_cli.io import (
    Format,
    RecordError,
    formats,
    iter_input_files,
    open_writer,
    read_spectra,
    write_table,
)
from nmrpeak_cli.io import registry as registry_module
from nmrpeak_cli.schema import PREDICTION_SCHEMA, QUERY_SCHEMA, RESULTS_SCHEMA, spectrum_to_row
from nmrpeak_cli.spectra import Spectrum

FORMATS = [
    "x.parquet",
    "x.csv",
    "x.tsv",
    "x.jsonl",
    "x.sdf",
    "x.txt",
    "x.csv.gz",
    "x.jsonl.gz",
    "x.sdf.gz",
]


@pytest.mark.parametrize("name", FORMATS)
def test_round_trip_spectrum_file_spectrum(
    tmp_path: Path, name: str, spectra, read_all, write_spectra
) -> None:
    path = write_spectra(tmp_path / name, spectra)
    got = read_all(path)
    assert got == spectra, f"{name}: read back {got}"


@pytest.mark.parametrize("name", ["x.parquet", "x.csv", "x.jsonl", "x.sdf", "x.txt"])
def test_batches_never_exceed_batch_size(tmp_path: Path, name: str, builder, write_spectra) -> None:
    many = [builder.with_id(f"m{i}").with_c13(100.0 + i).build() for i in range(7)]
    path = write_spectra(tmp_path / name, many)
    sizes = [len(b) for b in read_spectra(path, batch_size=3)]
    assert sizes == [3, 3, 1], f"{name}: batch sizes {sizes}"


def test_text_cells_in_parquet_and_list_cells_in_jsonl(tmp_path: Path) -> None:
    table = pa.table(
        {
            "id": ["a"],
            "c13": ["13C NMR (101 MHz, CDCl3) δ 170.2, 77.0"],
            "h1": ["7.26 (d, J = 8.4 Hz, 2H)"],
            "notes": ["unknown columns are ignored"],
        }
    )
    pq.write_table(table, tmp_path / "text.parquet")
    (spectrum,) = [r for b in read_spectra(tmp_path / "text.parquet") for r in b]
    assert spectrum.c13.shifts.tolist() == [170.2, 77.0], "13C text cell parsed"
    assert spectrum.h1[0].j_hz == (8.4,), "1H text cell parsed"
    line = {
        "id": "b",
        "c13": [10.5, 20.5],
        "h1": [{"shift": 1.0, "integration": 3, "multiplicity": "s"}],
    }
    (tmp_path / "lists.jsonl").write_text(json.dumps(line) + "\n")
    (spectrum,) = [r for b in read_spectra(tmp_path / "lists.jsonl") for r in b]
    assert spectrum.c13.shifts.tolist() == [20.5, 10.5] and spectrum.h1[0].integration == 3


def test_csv_written_cells_are_journal_text_and_json(tmp_path: Path) -> None:
    rows = [
        {
            "id": "p1",
            "smiles": "CCO",
            "c13": [
                {"shift": 58.0, "n_atoms": 1, "atoms": [1]},
                {"shift": 18.0, "n_atoms": 1, "atoms": [0]},
            ],
            "h1": [
                {"shift": 1.2, "integration": 3.0, "multiplicity": "t", "j_hz": [7.0], "atoms": [0]}
            ],
        }
    ]
    write_table(rows, tmp_path / "pred.csv", PREDICTION_SCHEMA)
    text = (tmp_path / "pred.csv").read_text()
    assert '"58.0 (1C), 18.0 (1C)"' in text, f"13C rendered as journal text: {text}"
    assert "1.2 (t, J = 7 Hz, 3H)" in text, f"1H rendered as journal text: {text}"


def test_results_sdf_has_coordinates_and_properties(tmp_path: Path) -> None:
    from rdkit import Chem

    rows = [
        {
            "query_id": "q1",
            "rank": 1,
            "smiles": "c1ccccc1O",
            "score": 0.9,
            "source": "library",
            "formula_match": True,
        },
        {
            "query_id": "q1",
            "rank": 2,
            "smiles": "not a smiles",
            "score": 0.1,
            "source": "generated",
        },
    ]
    write_table(rows, tmp_path / "results.sdf", RESULTS_SCHEMA)
    mols = list(Chem.SDMolSupplier(str(tmp_path / "results.sdf")))
    assert len(mols) == 2, "one record per candidate, even when the SMILES is bad"
    assert mols[0].GetNumConformers() == 1 and not mols[0].GetConformer().Is3D(), "2D coordinates"
    assert mols[0].GetProp("_Name") == "q1" and mols[0].GetProp("rank") == "1", "title and rank"
    assert mols[0].GetProp("formula_match") == "true" and mols[0].GetProp("score") == "0.9"
    assert mols[1].GetNumAtoms() == 0 and mols[1].GetProp("smiles") == "not a smiles"


def test_streaming_writer_accepts_batches_and_rows(tmp_path: Path, spectra) -> None:
    rows = [spectrum_to_row(s) for s in spectra]
    with open_writer(tmp_path / "out.parquet", QUERY_SCHEMA) as writer:
        writer.write(rows[:1])
        writer.write(pa.RecordBatch.from_pylist(rows[1:2], schema=QUERY_SCHEMA))
        writer.write(pa.Table.from_pylist(rows[2:], schema=QUERY_SCHEMA))
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.column("id").to_pylist() == [s.id for s in spectra], "all three writes kept"
    assert table.schema.metadata[b"nmrpeak.schema"] == b"query", "schema metadata kept"


def test_write_table_consumes_a_generator_of_rows(tmp_path: Path, spectra) -> None:
    rows = (spectrum_to_row(s) for s in spectra)
    write_table(rows, tmp_path / "out.jsonl", QUERY_SCHEMA, chunk_rows=2)
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [s.id for s in spectra]


def test_writes_are_atomic(tmp_path: Path, spectra) -> None:
    target = tmp_path / "out.csv"
    target.write_text("previous content\n")
    with pytest.raises(RuntimeError), open_writer(target, QUERY_SCHEMA) as writer:
        writer.write([spectrum_to_row(spectra[0])])
        raise RuntimeError("crash while writing")
    assert target.read_text() == "previous content\n", "old file untouched after a failure"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"], "no temporary file left"
    write_table([spectrum_to_row(spectra[0])], target, QUERY_SCHEMA)
    assert target.read_text().startswith("id,c13,h1"), "replaced on success"
    assert target.stat().st_mode & 0o777 != 0o600, "usual file mode, not the temp file's"


def test_dash_writes_jsonl_to_stdout(capsysbinary, spectra) -> None:
    write_table([spectrum_to_row(s) for s in spectra], "-", QUERY_SCHEMA)
    lines = capsysbinary.readouterr().out.decode().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [s.id for s in spectra]


def test_dash_reads_stdin_even_gzipped(
    monkeypatch, spectra, read_all, tmp_path: Path, write_spectra
) -> None:
    path = write_spectra(tmp_path / "in.csv", spectra)
    for payload in (path.read_bytes(), gzip.compress(path.read_bytes())):
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(payload)))
        assert read_all("-") == spectra, "stdin sniffed as CSV"


def test_unknown_extension_is_sniffed_or_refused(
    tmp_path: Path, spectra, read_all, write_spectra
) -> None:
    path = write_spectra(tmp_path / "data.parquet", spectra)
    renamed = path.rename(tmp_path / "data.bin")
    assert read_all(renamed) == spectra, "Parquet recognised by its magic bytes"
    (tmp_path / "notes.bin").write_bytes(b"\x00\x01 nothing to see")
    with pytest.raises(InputFileError, match="unknown spectra format"):
        read_all(tmp_path / "notes.bin")
    with pytest.raises(InputFileError, match="cannot write"):
        write_table([], tmp_path / "out.xyz", QUERY_SCHEMA)


def test_folders_are_walked_and_claimed_folders_kept_whole(
    tmp_path: Path, monkeypatch, spectra, read_all, write_spectra
) -> None:
    write_spectra(tmp_path / "a" / "one.csv", spectra[:1])
    write_spectra(tmp_path / "a" / "b" / "two.jsonl.gz", spectra[1:2])
    (tmp_path / "a" / "readme.md").write_text("not data")
    write_spectra(tmp_path / "a" / ".hidden.csv", spectra[2:])
    experiment = tmp_path / "a" / "exp1"
    experiment.mkdir()
    (experiment / "fake.marker").write_text("raw parameters")
    found = [p.relative_to(tmp_path).as_posix() for p in iter_input_files(tmp_path)]
    assert found == ["a/b/two.jsonl.gz", "a/one.csv"], f"walk order and filtering: {found}"

    def read_experiment(source, batch_size):
        yield [Spectrum(source.path.name, c13=[100.0])]

    raw = Format(
        "fake-raw",
        (),
        read_spectra=read_experiment,
        claims_directory=lambda path: (path / "fake.marker").is_file(),
    )
    monkeypatch.setitem(registry_module._REGISTRY, "fake-raw", raw)
    assert "fake-raw" in formats(), "registered"
    ids = [r.id for r in read_all(tmp_path)]
    assert ids == [spectra[1].id, "exp1", spectra[0].id], f"sorted walk, exp1 read whole: {ids}"


def test_missing_source_raises(tmp_path: Path, read_all) -> None:
    with pytest.raises(InputFileError, match="no such file"):
        read_all(tmp_path / "absent.csv")


def test_record_error_to_row(tmp_path: Path, read_all) -> None:
    (tmp_path / "bad.csv").write_text("id,c13\nx,not peaks\n")
    (error,) = read_all(tmp_path / "bad.csv")
    assert isinstance(error, RecordError), "a bad cell is a record error"
    row = error.to_row()
    assert row["id"] == "x" and "not peaks" in row["error"] and row["c13"] is None
