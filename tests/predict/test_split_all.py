"""The 'all' split of the shipped model: carve-out rule, row reading, a tiny training run."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nmrpeak_cli.errors import InputFileError
from nmrpeak_cli.predict.dataset import (
    LITERATURE_TABLE,
    in_carve_out,
    read_all,
    records_from_rows,
)
from tests.predict.conftest import tiny_table_rows


def _keys(n: int) -> list[str]:
    """InChIKey-like strings: n connectivity blocks, each with two stereo variants."""
    return [f"{i:014d}-{variant}-N" for i in range(n) for variant in ("AAAAAAAAAA", "BBBBBBBBBB")]


def test_carve_out_is_deterministic_by_block_and_about_five_percent():
    keys = _keys(4000)
    chosen = [in_carve_out(k) for k in keys]
    assert chosen == [in_carve_out(k) for k in keys], "same answer on every call"
    for first, second in zip(chosen[::2], chosen[1::2], strict=True):
        assert first == second, "stereoisomers (same first block) stay together"
    share = sum(chosen) / len(chosen)
    assert 0.04 < share < 0.06, share
    assert sum(in_carve_out(k, 0.2) for k in keys) > sum(chosen), "fraction is honoured"


def _write_tables(folder: Path) -> Path:
    """experimental.parquet (the tiny rows with made-up InChIKeys, three in the default
    carve-out) and literature.parquet (six rows; the first is a stereoisomer of the first
    experimental row, so its block must land on the same side)."""
    blocks = [f"{i:014d}" for i in range(500)]
    carved = [b for b in blocks if in_carve_out(b)][:3]
    kept = [b for b in blocks if not in_carve_out(b)]
    rows = tiny_table_rows()
    for i, row in enumerate(rows):
        row["inchikey"] = f"{carved[i] if i < 3 else kept[i]}-AAAAAAAAAA-N"
    literature = []
    for i, row in enumerate(tiny_table_rows()[:6]):
        block = carved[0] if i == 0 else kept[100 + i]
        literature.append(
            row
            | {
                "id": f"lit{i}",
                "inchikey": f"{block}-BBBBBBBBBB-N",
                "split_scaffold": "literature",
                "split_random": "literature",
            }
        )
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), folder / "experimental.parquet")
    pq.write_table(pa.Table.from_pylist(literature), folder / LITERATURE_TABLE)
    return folder / "experimental.parquet"


def test_read_all_takes_every_row_once_and_is_disjoint(tmp_path):
    data = _write_tables(tmp_path / "data")
    train, valid = read_all(data)
    ids = [r["id"] for r in train] + [r["id"] for r in valid]
    assert len(ids) == len(set(ids)) == len(tiny_table_rows()) + 6, "all rows, none twice"
    assert sorted(r["id"] for r in valid) == ["lit0", "m0", "m1", "m2"], (
        "the carved blocks, the literature stereoisomer of m0 with them"
    )
    assert all(in_carve_out(r["inchikey"]) for r in valid)
    assert not any(in_carve_out(r["inchikey"]) for r in train)
    train_blocks = {r["inchikey"][:14] for r in train}
    assert train_blocks.isdisjoint(r["inchikey"][:14] for r in valid), "no block in both"
    assert read_all(data) == (train, valid), "deterministic"
    records, skipped = records_from_rows(train)
    assert len(records) >= len(train) and not skipped


def test_read_all_needs_the_literature_table(tmp_path):
    data = _write_tables(tmp_path / "data")
    (tmp_path / "data" / LITERATURE_TABLE).unlink()
    with pytest.raises(InputFileError, match=r"literature table .* not found"):
        read_all(data)


@pytest.mark.slow
def test_training_on_all_records_both_files_in_the_card(tmp_path):
    from dataclasses import replace

    from nmrpeak_cli.predict.train import TrainConfig, export_predictor, train_predictor
    from nmrpeak_cli.predict.weights import read_card

    data = _write_tables(tmp_path / "data")
    config = TrainConfig.quick(
        data=str(data),
        out_dir=str(tmp_path / "run"),
        split_column="all",
        epochs=1,
        hidden=16,
        layers=2,
    )
    lines: list[str] = []
    train_predictor(config, log=lines.append)
    card = read_card(tmp_path / "run" / "best.safetensors")
    assert card["data"]["split_column"] == "all"
    assert card["data"]["literature_sha256"] and card["data"]["sha256"]
    assert "InChIKey first block" in card["data"]["carve_out"]
    assert card["data"]["valid_records"] == 5, "m0-m2 and lit0; m1 has two solvents"
    exported = export_predictor(
        tmp_path / "run", tmp_path / "p.safetensors", "test", log=lines.append
    )
    meta = json.loads(exported.read_text())
    assert meta["test"] is None and meta["split"] == "all", "no held-out test with 'all'"
    literature = tmp_path / "data" / LITERATURE_TABLE
    pq.write_table(pq.read_table(literature).slice(1), literature)
    with pytest.raises(InputFileError, match=r"literature\.parquet changed since the checkpoint"):
        train_predictor(replace(config, epochs=2), resume=True, log=lines.append)


def test_validation_rows_of_all_are_the_carve_out(tmp_path):
    from nmrpeak_cli.predict.dataset import read_table, validation_rows

    data = _write_tables(tmp_path / "data")
    assert validation_rows(data, "all") == read_all(data)[1]
    assert validation_rows(data, "split_scaffold") == read_table(data, "split_scaffold", ["valid"])


def test_uncertainty_of_an_all_model_is_fitted_on_the_carve_out(tmp_path, tiny_weights):
    import shutil

    from nmrpeak_cli.predict.uncertainty import calibrate_predictor

    data = _write_tables(tmp_path / "data")
    weights = tmp_path / "predictor.safetensors"
    shutil.copy(tiny_weights, weights)
    shutil.copy(tiny_weights.with_suffix(".json"), weights.with_suffix(".json"))
    calibration = calibrate_predictor(weights, data=data, split_column="all")
    card = json.loads(weights.with_suffix(".json").read_text())["uncertainty"]
    assert card["split_column"] == "all"
    assert card["records"] == 5, "m0-m2 and lit0; m1 has two solvents"
    assert 0.0 < calibration.validation["c13_coverage"] <= 1.0


def test_train_uncertainty_cli_takes_split_all_and_refuses_others(tmp_path, tiny_weights):
    import shutil

    from typer.testing import CliRunner

    from nmrpeak_cli.cli.app import app

    data = _write_tables(tmp_path / "data")
    weights = tmp_path / "predictor.safetensors"
    shutil.copy(tiny_weights, weights)
    shutil.copy(tiny_weights.with_suffix(".json"), weights.with_suffix(".json"))
    args = ["train", "uncertainty", "--weights", str(weights), "--data", str(data)]
    bad = CliRunner().invoke(app, [*args, "--split", "valid"])
    assert bad.exit_code == 2 and "scaffold, random or all" in bad.output
    result = CliRunner().invoke(app, [*args, "--split", "all"])
    assert result.exit_code == 0, result.output
    assert (
        json.loads(weights.with_suffix(".json").read_text())["uncertainty"]["split_column"] == "all"
    )


def test_memory_of_an_all_model_names_both_tables_and_the_carve_out(tmp_path, tiny_weights):
    import shutil

    from nmrpeak_cli.predict.memory_build import train_memory
    from nmrpeak_cli.predict.uncertainty import calibrate_predictor

    data = _write_tables(tmp_path / "data")
    weights = tmp_path / "predictor.safetensors"
    shutil.copy(tiny_weights, weights)
    shutil.copy(tiny_weights.with_suffix(".json"), weights.with_suffix(".json"))
    card = train_memory(weights, data=data, split_column="all")
    assert card["data"]["split_column"] == "all"
    assert card["data"]["valid_records"] == 5 and card["data"]["train_records"] > 20
    assert card["data"]["literature_sha256"] and "InChIKey first block" in card["data"]["carve_out"]
    calibration = calibrate_predictor(weights, data=data, split_column="all")
    assert calibration.familiarity, "the memory's familiarity feeds the carve-out calibration"
