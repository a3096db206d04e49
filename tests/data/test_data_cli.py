"""``nmrpeak data prepare`` through the CLI (synthetic source, fake wheel, offline)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from nmrpeak_cli.cli.app import app

runner = CliRunner()


def test_prepare_command_writes_everything(synthetic_source, fake_wheel, tmp_path, monkeypatch):
    monkeypatch.setenv("NMRPEAK_CACHE", str(tmp_path / "cache"))
    out, report = tmp_path / "data", tmp_path / "DATA.md"
    args = [
        "--seed",
        "4",
        "data",
        "prepare",
        "--source",
        str(synthetic_source.root),
        "-o",
        str(out),
    ]
    args += ["--moses-wheel", str(fake_wheel), "--report", str(report)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "records written" in result.output
    for name in (
        "experimental.parquet",
        "simulated_molecules.parquet",
        "queries/random_test.parquet",
    ):
        assert (out / name).is_file(), f"{name} not written"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seeds"]["split_scaffold"] == 4, "global --seed is the default split seed"
    assert report.read_text().startswith("# Prepared experimental data")


def test_prepare_command_source_from_environment_and_no_moses(
    synthetic_source, tmp_path, monkeypatch
):
    monkeypatch.setenv("NMRPEAK_SOURCE", str(synthetic_source.root))
    out = tmp_path / "data"
    args = ["data", "prepare", "-o", str(out), "--no-moses", "--seed", "9", "--quiet"]
    result = runner.invoke(app, [*args, "--report", str(tmp_path / "r.md")])
    assert result.exit_code == 0, result.output
    assert result.output == "", "--quiet prints nothing"
    assert not (out / "simulated_molecules.parquet").exists()
    assert json.loads((out / "manifest.json").read_text())["seeds"]["split_random"] == 10


def test_prepare_command_missing_source_exits_2(tmp_path):
    args = ["data", "prepare", "--source", str(tmp_path / "none"), "-o", str(tmp_path / "o")]
    result = runner.invoke(app, [*args, "--no-moses"])
    assert result.exit_code == 2, result.output
