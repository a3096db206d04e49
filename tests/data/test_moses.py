"""MOSES loader: reading the wheel as a zip, caching, and the leakage filter (offline)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from nmrpeak_cli import chem
from nmrpeak_cli.data import moses
from nmrpeak_cli.errors import InputFileError
from tests.data.data_builders import GOOD_SMILES, build_wheel


def test_reads_every_dataset_csv_with_its_split(fake_wheel):
    items = list(moses.iter_moses_smiles(fake_wheel))
    half = len(GOOD_SMILES) // 2
    assert [s for split, s in items if split == "train"] == [*GOOD_SMILES[:half], "CCCCCCCC"]
    assert {split for split, _ in items} == {"train", "test"}
    assert len(items) == len(GOOD_SMILES) + 3


def test_split_column_wins_over_the_file_name(tmp_path):
    wheel = build_wheel(
        tmp_path / "w.whl",
        {"moses/dataset/data/dataset_v1.csv": ["CCO,train", "CCN,test"]},
        header="SMILES,SPLIT",
    )
    assert list(moses.iter_moses_smiles(wheel)) == [("train", "CCO"), ("test", "CCN")]


def test_wheel_without_dataset_or_smiles_column_is_an_input_error(tmp_path):
    empty = build_wheel(tmp_path / "empty.whl", {})
    with pytest.raises(InputFileError, match="no dataset CSV"):
        list(moses.iter_moses_smiles(empty))
    wrong = build_wheel(tmp_path / "wrong.whl", {"moses/dataset/data/train.csv.gz": ["x"]}, "S")
    with pytest.raises(InputFileError, match="SMILES column"):
        list(moses.iter_moses_smiles(wrong))
    (tmp_path / "broken.whl").write_bytes(b"not a zip")
    with pytest.raises(InputFileError, match="zip"):
        list(moses.iter_moses_smiles(tmp_path / "broken.whl"))


def test_table_is_canonical_deduplicated_and_cached(fake_wheel, tmp_path):
    cache = tmp_path / "cache"
    table = moses.moses_table(fake_wheel, cache)
    assert table.num_rows == len(GOOD_SMILES) + 2, "the unparseable SMILES is left out"
    assert table.column("id").to_pylist()[0] == "moses:test:0"
    cached = list(cache.glob("moses-*.parquet"))
    assert len(cached) == 1, "one cache file per wheel"
    assert pq.read_table(cached[0]).equals(table)
    again = moses.moses_table(fake_wheel, cache, jobs=2)
    assert again.equals(table)


def test_leakage_filter_uses_the_first_inchikey_block(fake_wheel, tmp_path):
    # the enantiomer of a MOSES molecule must exclude it: only the first block is compared
    alanine = chem.inchikey(chem.parse_smiles("C[C@H](N)C(=O)O"))
    other = chem.inchikey(chem.parse_smiles("C[C@@H](N)C(=O)O"))
    assert alanine != other
    xylene = chem.inchikey(chem.parse_smiles("Cc1ccc(C)cc1"))
    kept = list(moses.load_moses_smiles([other, xylene[:14]], wheel=fake_wheel, cache=tmp_path))
    assert "C[C@H](N)C(=O)O" not in kept and "C[C@@H](N)C(=O)O" not in kept
    assert "Cc1ccc(C)cc1" not in kept
    assert "CCCCCCCC" in kept and "c1ccc2[nH]ccc2c1" in kept
    assert len(kept) == len(GOOD_SMILES) + 2 - 3


def test_without_exclusions_smiles_stream_from_the_wheel(fake_wheel, tmp_path):
    cache = tmp_path / "cache"
    streamed = list(moses.load_moses_smiles(wheel=fake_wheel, cache=cache))
    assert streamed == [s for _, s in moses.iter_moses_smiles(fake_wheel)], "file order"
    assert not list(cache.glob("moses-*.parquet")), "no InChIKey table is built"


def test_cached_wheel_is_reused_without_pip(tmp_path, monkeypatch):
    wheel = build_wheel(tmp_path / "molsets-0.3.1-py3-none-any.whl", {})

    def no_pip(*args, **kwargs):
        raise AssertionError("pip must not run when the wheel is cached")

    monkeypatch.setattr(moses.subprocess, "run", no_pip)
    assert moses.moses_wheel(tmp_path) == wheel


def test_failed_download_says_what_to_do(tmp_path, monkeypatch):
    class Result:
        returncode = 1
        stderr = "ERROR: No matching distribution found for molsets==0.3.1"

    monkeypatch.setattr(moses.subprocess, "run", lambda *a, **k: Result())
    with pytest.raises(InputFileError, match="--no-moses"):
        moses.moses_wheel(Path(tmp_path) / "cache")
