"""Bad inputs: each bad record becomes an error naming record and field; the rest is read."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nmrpeak_cli.errors import InputFileError
from nmrpeak_cli.io import RecordError


def split(results: list) -> tuple[list, dict[str, RecordError]]:
    good = [r for r in results if not isinstance(r, RecordError)]
    errors = {r.record: r for r in results if isinstance(r, RecordError)}
    return good, errors


def test_bad_csv_records_each_give_a_named_error(tmp_path: Path, read_all) -> None:
    lines = [
        "id,c13,h1,formula,field_mhz,extra",
        'ok1,"170.2, 77.0",,C3H6O,400,ignored',
        "extra-field,170.2,,C3H6O,400,x,surplus",
        "empty-peaks,,,,,",
        'out-of-range,"170.2, 400.5",,,,',
        'nan-shift,,"nan (s, 1H), 7.2 (s, 1H)",,,',
        "bad-formula,170.2,,C9H10Xx2,,",
        "bad-field,170.2,,,fast,",
        ",170.2,,,,",
        'prose,"the carbonyl at 170",,,,',
        'ok2,,"7.26 (d, J = 8.4 Hz, 2H)",,,',
    ]
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n")
    good, errors = split(read_all(path))
    assert [s.id for s in good] == ["ok1", "ok2"], "good rows around the bad ones are read"
    expected_fields = {
        "extra-field": None,
        "empty-peaks": "c13",
        "out-of-range": "c13",
        "nan-shift": "h1",
        "bad-formula": "formula",
        "bad-field": "field_mhz",
        "row8": "id",
        "prose": "c13",
    }
    assert {k: e.field for k, e in errors.items()} == expected_fields, "record and field named"
    assert "7 fields but the header has 6" in errors["extra-field"].message
    assert "400.5" in errors["out-of-range"].message and "Xx2" in errors["bad-formula"].message
    assert "'the carbonyl at 170'" in errors["prose"].message, "the fragment is quoted"
    assert all(str(path) in str(e) for e in errors.values()), "messages name the file"
    assert [e.row for e in errors.values()] == [2, 3, 4, 5, 6, 7, 8, 9], "row numbers"


def test_non_utf8_bytes_spoil_only_their_record(tmp_path: Path, read_all) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(b'id,c13,solvent\na,"1.0, 2.0",CDCl3\nb,"3.0",caf\xe9\nc,"4.0",D2O\n')
    good, errors = split(read_all(path))
    assert [s.id for s in good] == ["a", "c"], "neighbours read"
    assert errors["b"].field == "solvent" and "UTF-8" in errors["b"].message


def test_a_missing_id_column_means_generated_ids(tmp_path: Path, read_all) -> None:
    path = tmp_path / "no_ids.csv"
    path.write_text('c13\n"170.2, 77.0"\n128.0\n')
    assert [s.id for s in read_all(path)] == ["row1", "row2"], "row<N> ids"


def test_parquet_nan_and_bad_lists(tmp_path: Path, read_all) -> None:
    table = pa.table(
        {
            "id": ["a", "b", "c", None],
            "c13": [[170.0, 77.0], [float("nan"), 20.0], [], [10.0]],
        }
    )
    pq.write_table(table, tmp_path / "nan.parquet")
    good, errors = split(read_all(tmp_path / "nan.parquet"))
    assert [s.id for s in good] == ["a"], "only the valid row"
    assert errors["c"].field == "c13" and "no peaks" in errors["c"].message, "empty list"
    assert errors["b"].field == "shift" and "finite" in errors["b"].message
    assert errors["row4"].field == "id", "null id"
    assert math.isnan(table.column("c13")[1].as_py()[0]), "input really had NaN"


def test_jsonl_bad_lines(tmp_path: Path, read_all) -> None:
    lines = [
        json.dumps({"id": "a", "c13": "170.2"}),
        "{not json",
        json.dumps([1, 2]),
        json.dumps({"id": "d", "formula": "C2H6"}),
        json.dumps({"c13": [1.0]}),
    ]
    (tmp_path / "bad.jsonl").write_text("\n".join(lines) + "\n\n")
    results = read_all(tmp_path / "bad.jsonl")
    assert len(results) == 5, "every line accounted for"
    assert results[0].id == "a" and results[4].id == "row5", "ids, generated when the key is absent"
    assert "not valid JSON" in results[1].message and "JSON object" in results[2].message
    assert results[3].field == "c13" and results[3].record == "d"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "empty file"),
        ("nocols.csv", b"name,value\nx,1\n", "no 'c13' or 'h1' column"),
        ("corrupt.parquet", b"PAR1 this is not parquet", "not a readable Parquet"),
        ("truncated.csv.gz", b"\x1f\x8b\x08\x00garbage", "cannot"),
    ],
)
def test_bad_files_raise_input_file_error(tmp_path: Path, name, content, message, read_all) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(InputFileError, match=message):
        read_all(tmp_path / name)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files regardless of permissions")
def test_unreadable_file(tmp_path: Path, read_all) -> None:
    path = tmp_path / "secret.csv"
    path.write_text("id,c13\na,1.0\n")
    path.chmod(0)
    with pytest.raises(InputFileError, match="cannot open"):
        read_all(path)


def test_error_column_passes_through(tmp_path: Path, read_all) -> None:
    (tmp_path / "peaks.csv").write_text('id,c13,error\na,,"FID truncated"\nb,12.0,\n')
    results = read_all(tmp_path / "peaks.csv")
    assert isinstance(results[0], RecordError) and results[0].field == "error"
    assert "FID truncated" in results[0].message and results[1].id == "b"


def test_byte_order_marks_are_ignored(tmp_path: Path, read_all) -> None:
    bom = "\ufeff".encode()
    (tmp_path / "bom.csv").write_bytes(bom + b'id,c13\na,"1.0, 2.0"\n')
    (tmp_path / "bom.jsonl").write_bytes(bom + b'{"id": "b", "c13": [3.0]}\n')
    assert [s.id for s in read_all(tmp_path)] == ["a", "b"], "BOM before the header / first object"


def test_a_folder_without_inputs_is_a_bad_input(tmp_path: Path, read_all) -> None:
    (tmp_path / "notes.md").write_text("nothing to read")
    with pytest.raises(InputFileError, match="no spectra input in this folder"):
        read_all(tmp_path)
