"""``nmrpeak predict`` end to end on a SMILES file with a tiny random-weight model."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
from typer.testing import CliRunner

from nmrpeak_cli.cli.app import app
from nmrpeak_cli.schema import PREDICTION_SCHEMA

runner = CliRunner()


def test_predict_smi_to_parquet(tiny_weights, tmp_path):
    source = tmp_path / "molecules.smi"
    source.write_text("CCO ethanol\nCc1ccc(C)cc1 p-xylene\nnot_a_smiles broken\n")
    out = tmp_path / "predicted.parquet"
    args = [
        "predict",
        str(source),
        "-o",
        str(out),
        "--weights",
        str(tiny_weights),
        "--device",
        "cpu",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, (
        f"one bad record → exit 1, got {result.exit_code}: {result.output}"
    )
    table = pq.read_table(out)
    assert table.schema.equals(PREDICTION_SCHEMA, check_metadata=False), table.schema
    rows = table.to_pylist()
    assert [r["id"] for r in rows] == ["ethanol", "p-xylene", "broken"]
    assert rows[0]["error"] is None and rows[2]["error"], rows
    assert sorted(p["n_atoms"] for p in rows[1]["c13"]) == [2, 2, 4], "p-xylene 13C classes"


def test_predict_inline_smiles_to_jsonl_on_a_pipe(tiny_weights):
    args = [
        "predict",
        "--smiles",
        "CCOC(C)=O",
        "--weights",
        str(tiny_weights),
        "--solvent",
        "CDCl3",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout.strip().splitlines()[0])
    assert sorted((p["integration"], p["multiplicity"]) for p in row["h1"]) == [
        (2.0, "q"),
        (3.0, "s"),
        (3.0, "t"),
    ], row["h1"]


def test_predict_usage_errors_exit_2(tiny_weights, tmp_path):
    assert runner.invoke(app, ["predict"]).exit_code == 2, "no input"
    bad_solvent = [
        "predict",
        "--smiles",
        "C",
        "--solvent",
        "moonshine",
        "--weights",
        str(tiny_weights),
    ]
    assert runner.invoke(app, bad_solvent).exit_code == 2, "unknown solvent"
    missing = runner.invoke(
        app, ["predict", str(tmp_path / "none.smi"), "--weights", str(tiny_weights)]
    )
    assert missing.exit_code == 2, missing.output
    no_weights = runner.invoke(
        app, ["predict", "--smiles", "C", "--weights", str(tmp_path / "x.safetensors")]
    )
    message = " ".join(no_weights.output.split())
    assert no_weights.exit_code == 2 and "not found" in message, message


def test_predict_empty_input_and_shards(tiny_weights, tmp_path):
    empty = tmp_path / "empty.smi"
    empty.write_text("")
    result = runner.invoke(app, ["predict", str(empty), "--weights", str(tiny_weights)])
    assert result.exit_code == 2 and "no molecules" in result.output, result.output
    source = tmp_path / "four.smi"
    source.write_text("C a\nCC b\nCCC c\nCCCC d\n")
    args = ["predict", str(source), "--weights", str(tiny_weights), "--shard", "1/2"]
    result = runner.invoke(app, args)
    ids = [json.loads(line)["id"] for line in result.stdout.strip().splitlines()]
    assert result.exit_code == 0 and ids == ["b", "d"], (ids, result.output)


def test_bench_coverage_counts_what_is_predicted_and_why_the_rest_is_refused(
    tiny_weights, tmp_path
):
    source = tmp_path / "molecules.smi"
    source.write_text(
        "CCO ethanol\n[Na+].CC(=O)[O-] sodium_acetate\nC[N+](C)(C)C tetramethylammonium\n"
        "C[Sn](C)(C)C tetramethyltin\nCC[Pt] platinum\n[CH2]C radical\nnot_a_smiles broken\n"
    )
    out = tmp_path / "coverage.json"
    result = runner.invoke(
        app, ["bench", "coverage", str(source), "--weights", str(tiny_weights), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert (report["molecules"], report["predicted"]) == (7, 4)
    assert report["coverage"] == 4 / 7
    assert report["predicted_with"] == {"salt or mixture": 1, "rare element": 1, "net charge": 2}
    assert report["refused"] == {
        "metal (organometallic or coordination compound)": 1,
        "radical": 1,
        "unreadable SMILES": 1,
    }
    assert report["refused_examples"]["radical"].startswith("radical [CH2]C:"), report
