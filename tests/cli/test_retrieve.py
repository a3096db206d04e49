"""``nmrpeak retrieve`` and ``nmrpeak library merge`` end to end on a tiny library."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from nmrpeak_cli.batch import Shard
from nmrpeak_cli.cli import retrieve as retrieve_cli
from nmrpeak_cli.cli.groups import library_app
from nmrpeak_cli.retrieve.build import build_library
from nmrpeak_cli.schema import QUERY_SCHEMA, rows_to_table
from tests.retrieve.conftest import MOLECULES, FakePredictor, predicted_spectrum


@pytest.fixture
def app() -> typer.Typer:
    application = typer.Typer()
    retrieve_cli.register(application)
    application.add_typer(library_app)
    return application


@pytest.fixture
def library(tmp_path: Path) -> Path:
    out = tmp_path / "lib"
    build_library(MOLECULES, out, FakePredictor())
    return out


@pytest.fixture(autouse=True)
def no_shipped_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NMRPEAK_MODELS", str(tmp_path / "no_models"))


def test_inline_query_jsonl(app: typer.Typer, library: Path) -> None:
    toluene = predicted_spectrum("Cc1ccccc1")
    c13 = ", ".join(f"{s:.2f}" for s in toluene.c13.shifts)
    result = CliRunner().invoke(
        app, ["retrieve", "-l", str(library), "--c13", c13, "--formula", "C7H8", "-k", "3"]
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert len(rows) == 1, f"only one C7H8 molecule in the library: {rows}"
    assert rows[0]["smiles"] == "Cc1ccccc1" and rows[0]["formula_match"] is True, rows[0]
    assert rows[0]["query_id"] == "query" and rows[0]["rank"] == 1


def test_query_file_with_bad_rows_exits_1(app: typer.Typer, library: Path, tmp_path: Path) -> None:
    good = predicted_spectrum("CCOC(C)=O", "ethyl_acetate")
    rows = [
        {"id": "ethyl_acetate", "c13": list(good.c13.shifts)},
        {"id": "empty"},
        {"id": "absurd", "c13": [999.0]},
    ]
    queries = tmp_path / "queries.parquet"
    pq.write_table(rows_to_table(rows, QUERY_SCHEMA), queries)
    out = tmp_path / "results.parquet"
    result = CliRunner().invoke(
        app, ["retrieve", str(queries), "-l", str(library), "-k", "2", "-o", str(out)]
    )
    assert result.exit_code == 1, result.output
    table = pq.read_table(out).to_pylist()
    by_id: dict[str, list[dict]] = {}
    for row in table:
        by_id.setdefault(row["query_id"], []).append(row)
    assert by_id["ethyl_acetate"][0]["smiles"] == "CCOC(C)=O", by_id["ethyl_acetate"]
    assert len(by_id["ethyl_acetate"]) == 2
    assert by_id["empty"][0]["error"], "a query without peaks is an error row"
    assert "999" in by_id["absurd"][0]["error"], by_id["absurd"][0]
    assert pq.read_schema(out).names[:4] == ["query_id", "rank", "smiles", "inchikey"]


def test_usage_errors_exit_2(app: typer.Typer, library: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    neither = runner.invoke(app, ["retrieve", "-l", str(library)])
    assert neither.exit_code == 2, neither.output
    bad_peaks = runner.invoke(app, ["retrieve", "-l", str(library), "--c13", "abc, def"])
    assert bad_peaks.exit_code == 2, bad_peaks.output
    missing = runner.invoke(app, ["retrieve", "-l", str(tmp_path / "nope"), "--c13", "20.1"])
    assert missing.exit_code == 2, missing.output


def test_library_merge_command(app: typer.Typer, tmp_path: Path) -> None:
    shards = []
    for index in range(2):
        out = tmp_path / f"shard{index}"
        build_library(MOLECULES, out, FakePredictor(), shard=Shard(index, 2))
        shards.append(str(out))
    result = CliRunner().invoke(app, ["library", "merge", *shards, "-o", str(tmp_path / "merged")])
    assert result.exit_code == 0, result.output
    entries = pq.read_table(tmp_path / "merged" / "entries.parquet")
    assert entries.column("id").to_pylist() == [m[0] for m in MOLECULES]
    assert isinstance(entries, pa.Table)


@pytest.fixture
def fake_shipped(monkeypatch: pytest.MonkeyPatch) -> None:
    """The build commands load the shipped predictor; substitute the test stand-in."""
    from nmrpeak_cli.predict import forward

    monkeypatch.setattr(forward, "load_forward_model", lambda **_: FakePredictor())


def _smiles_file(path: Path) -> Path:
    path.write_text("".join(f"{smiles} {name}\n" for name, smiles in MOLECULES) + "C1CC broken\n")
    return path


def test_library_build_command(app: typer.Typer, tmp_path: Path, fake_shipped: None) -> None:
    source = _smiles_file(tmp_path / "molecules.smi")
    out = tmp_path / "lib"
    result = CliRunner().invoke(app, ["library", "build", str(source), "-o", str(out)])
    assert result.exit_code == 1, f"one broken SMILES → exit 1: {result.output}"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"] == {"entries": 16, "failed": 1, "input": 17}, manifest["counts"]
    again = CliRunner().invoke(app, ["library", "build", str(source), "-o", str(out), "--resume"])
    assert again.exit_code == 1, "resuming a finished build reports the same counts"
    shard = CliRunner().invoke(
        app, ["library", "build", str(source), "-o", str(tmp_path / "s1"), "--shard", "1/4"]
    )
    assert shard.exit_code == 0, shard.output  # the broken record (ordinal 16) is in shard 0
    shard_manifest = json.loads((tmp_path / "s1" / "manifest.json").read_text())
    assert shard_manifest["shard"] == {"index": 1, "count": 4}
    assert shard_manifest["counts"]["entries"] == 4, shard_manifest["counts"]


def test_library_default_command(
    app: typer.Typer, tmp_path: Path, fake_shipped: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NMRPEAK_CACHE", str(tmp_path / "cache"))
    source = _smiles_file(tmp_path / "mine.smi")
    result = CliRunner().invoke(app, ["library", "default", str(source), "--moses", "0"])
    assert result.exit_code == 1, result.output
    entries = pq.read_table(tmp_path / "cache" / "default_library" / "entries.parquet")
    assert entries.num_rows == len(MOLECULES), entries.num_rows


def test_library_default_is_kept_when_current_and_replaced_when_not(
    app: typer.Typer, tmp_path: Path, fake_shipped: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NMRPEAK_CACHE", str(tmp_path / "cache"))
    source = _smiles_file(tmp_path / "mine.smi")
    command = ["library", "default", str(source), "--moses", "0"]
    CliRunner().invoke(app, command)
    manifest = tmp_path / "cache" / "default_library" / "manifest.json"
    built = manifest.stat().st_mtime_ns
    again = CliRunner().invoke(app, command)
    assert again.exit_code == 1 and manifest.stat().st_mtime_ns == built, "current: kept as is"
    fewer = _smiles_file(tmp_path / "fewer.smi")
    fewer.write_text("\n".join(fewer.read_text().splitlines()[:3]) + "\n")
    changed = CliRunner().invoke(app, ["library", "default", str(fewer), "--moses", "0"])
    assert changed.exit_code == 0 and "rebuilding the default library" in changed.output
    entries = pq.read_table(manifest.parent / "entries.parquet")
    assert entries.num_rows == 3, "other inputs: the default library is replaced"
    elsewhere = tmp_path / "mine"
    CliRunner().invoke(app, [*command, "-o", str(elsewhere)])
    refused = CliRunner().invoke(
        app, ["library", "default", str(fewer), "--moses", "0", "-o", str(elsewhere)]
    )
    assert refused.exit_code == 2 and "cannot resume" in refused.output, (
        "an -o folder is never replaced"
    )


def test_library_build_records_the_given_predictor(
    app: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--predictor-weights reaches the forward model, whose sha256 the manifest records (what
    retrieve and elucidate compare); missing weights stop the build with exit 2."""
    from nmrpeak_cli.predict import forward

    asked: list[Path | None] = []

    def load(weights: Path | None = None, **_: object) -> FakePredictor:
        asked.append(weights)
        predictor = FakePredictor(version="random-1")
        predictor._identity = predictor._identity.__class__("predictor", "random-1", "ab" * 32)
        return predictor

    monkeypatch.setattr(forward, "load_forward_model", load)
    source = tmp_path / "molecules.smi"
    source.write_text("".join(f"{smiles} {name}\n" for name, smiles in MOLECULES))
    weights = tmp_path / "predictor_random.safetensors"
    out = tmp_path / "lib"
    result = CliRunner().invoke(
        app, ["library", "build", str(source), "-o", str(out), "--no-encoders",
              "--predictor-weights", str(weights)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert asked == [weights]
    recorded = json.loads((out / "manifest.json").read_text())["predictor"]
    assert recorded["sha256"] == "ab" * 32 and recorded["version"] == "random-1"
    monkeypatch.undo()
    missing = CliRunner().invoke(
        app, ["library", "build", str(source), "-o", str(tmp_path / "x"),
              "--predictor-weights", str(tmp_path / "none.safetensors")],
    )  # fmt: skip
    assert missing.exit_code == 2 and "none.safetensors" in missing.output
