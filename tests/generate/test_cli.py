"""``nmrpeak generate`` / ``elucidate`` / ``bench generate`` with a tiny model (NMRPEAK_MODELS)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nmrpeak_cli.cli.app import app

pytestmark = pytest.mark.integration


@pytest.fixture
def runner(tiny_models_dir, monkeypatch, tmp_path) -> CliRunner:
    monkeypatch.setenv("NMRPEAK_MODELS", str(tiny_models_dir))
    monkeypatch.setenv("NMRPEAK_CACHE", str(tmp_path / "cache"))
    return CliRunner()


def _jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_generate_inline_query(runner) -> None:
    result = runner.invoke(
        app, ["generate", "--c13", "58.3, 18.4", "--h1", "3.69 (q, 2H), 2.61 (s, 1H), 1.22 (t, 3H)",
              "--formula", "C2H6O", "-k", "3", "--no-rerank"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = _jsonl(result.stdout)
    assert rows and rows[0]["smiles"] == "CCO", f"memorized ethanol expected: {rows}"
    assert rows[0]["source"] == "generated"


def test_generate_without_predictor_warns_and_succeeds(runner) -> None:
    result = runner.invoke(app, ["generate", "--c13", "128.4", "--h1", "7.36 (s, 6H)"])
    assert result.exit_code == 0, result.output
    rows = _jsonl(result.stdout)
    assert "rerank skipped" in (rows[0]["error"] or ""), "missing predictor must be reported"


def test_generate_file_with_bad_record_exits_1(runner, tmp_path) -> None:
    query = tmp_path / "queries.csv"
    query.write_text('id,c13,formula\ngood,"177.9, 20.8",C2H4O2\nbad,"20.0",C2H10\n')
    out = tmp_path / "out.parquet"
    result = runner.invoke(app, ["generate", str(query), "-o", str(out), "--no-rerank"])
    assert result.exit_code == 1, result.output
    import pyarrow.parquet as pq

    rows = pq.read_table(out).to_pylist()
    assert {r["query_id"] for r in rows} == {"good", "bad"}
    bad = [r for r in rows if r["query_id"] == "bad"]
    assert bad[0]["smiles"] is None and "hydrogens" in bad[0]["error"]


def test_generate_usage_errors_exit_2(runner) -> None:
    assert runner.invoke(app, ["generate"]).exit_code == 2, "no query at all"
    assert runner.invoke(app, ["generate", "--formula", "C2H?"]).exit_code == 2, "bad formula text"


def test_elucidate_without_library_uses_generation(runner) -> None:
    result = runner.invoke(
        app, ["elucidate", "--c13", "206.7, 30.8", "--h1", "2.17 (s, 6H)", "--no-rerank"]
    )
    assert result.exit_code == 0, result.output
    rows = _jsonl(result.stdout)
    assert rows[0]["smiles"] == "CC(C)=O" and rows[0]["source"] == "generated", rows


def test_bench_generate_on_a_query_table(runner, tmp_path) -> None:
    query = tmp_path / "truth.csv"
    query.write_text('id,c13,h1,formula,smiles\nacetone,"206.7, 30.8",2.17 (s 6H),C3H6O,CC(C)=O\n')
    report = tmp_path / "report.json"
    result = runner.invoke(
        app, ["bench", "generate", "--split", str(query), "--configs", "C+formula,C", "--no-rerank",
              "-o", str(report), "--beam", "4"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    assert data["configurations"]["C+formula"]["beam_top1_exact"] == 1.0, data


def test_bench_generate_on_simulated_queries(runner, tmp_path) -> None:
    query = tmp_path / "truth.csv"
    query.write_text(
        "id,c13,formula,smiles\nacetone,206.7,C3H6O,CC(C)=O\nbenzene,128.4,C6H6,c1ccccc1\n"
    )
    report = tmp_path / "report.json"
    args = ["bench", "generate", "--split", str(query), "--configs", "C+H+formula", "--no-rerank",
            "--simulated", "-o", str(report), "--beam", "2"]  # fmt: skip
    missing = runner.invoke(app, args)
    assert missing.exit_code == 2, missing.output
    assert "predictor weights" in missing.output and "--no-rerank" not in missing.output

    shipped = Path(__file__).parents[2] / "models" / "predictor.safetensors"
    result = runner.invoke(app, [*args, "--predictor-weights", str(shipped)])
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    assert data["queries"].endswith("(simulated by the forward model)"), data
    # the experimental table has no 1H; the predicted spectra have both nuclei
    assert data["configurations"]["C+H+formula"]["n"] == 2, data


def test_train_generator_quick_writes_a_loadable_model(runner, tmp_path, monkeypatch) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from nmrpeak_cli.generate.model import load_generator

    rows = [
        ("a", "CCO", [58.3, 18.4], "train"), ("b", "CC(=O)O", [177.9, 20.8], "train"),
        ("c", "CC(C)=O", [206.7, 30.8], "train"), ("d", "c1ccccc1", [128.4], "valid"),
        ("e", "Cc1ccccc1", [137.9, 129.1, 21.5], "test"),
    ]  # fmt: skip
    table = pa.table(
        {
            "id": [r[0] for r in rows],
            "smiles": [r[1] for r in rows],
            "c13": [[{"shift": s, "n_atoms": 1, "n_h": None} for s in r[2]] for r in rows],
            "split_scaffold": [r[3] for r in rows],
        }
    )
    (tmp_path / "data").mkdir()
    pq.write_table(table, tmp_path / "data" / "experimental.parquet")
    out = tmp_path / "gen.safetensors"
    args = ["train", "generator", "--data", str(tmp_path / "data"), "--quick", "--max-steps", "4",
            "--run-dir", str(tmp_path / "run"), "-o", str(out), "--device", "cpu"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert load_generator(out).card["split"] == "scaffold", "the card must record the split"
    failed = runner.invoke(app, [*args, "--stage", "pretrain"])
    assert failed.exit_code == 2 and "simulated pairs" in failed.output, failed.output

    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"d_ff": 96, "lr": 0.003, "augmentation": {"drop_peak": 0.2}}))
    result = runner.invoke(app, [*args, "--config", str(settings)])
    assert result.exit_code == 0, result.output
    card = load_generator(out).card["phases"]["finetune"]["config"]
    assert (card["d_ff"], card["lr"], card["augmentation"]["drop_peak"]) == (96, 0.003, 0.2)
    assert card["d_model"] == 64, "fields the file leaves out keep the --quick values"
    settings.write_text(json.dumps({"d_fff": 96}))
    failed = runner.invoke(app, [*args, "--config", str(settings)])
    assert failed.exit_code == 2 and "unknown settings ['d_fff']" in failed.output, failed.output

    from nmrpeak_cli.generate import train

    seen = {}

    def record(*args, **kwargs):
        seen.update(kwargs)
        raise ValueError("stopped")

    monkeypatch.setattr(train, "train_generator", record)
    failed = runner.invoke(app, [*args, "--workers", "3", "--jobs", "2"])
    assert "stopped" in failed.output, failed.output
    assert (seen["workers"], seen["jobs"]) == (3, 2), "--workers encodes batches, --jobs parses"
    failed = runner.invoke(app, [*args, "--workers", "-1"])
    assert failed.exit_code == 2 and "--workers" in failed.output, failed.output


def test_inline_elucidate_on_a_terminal_loads_the_generator_once(runner, monkeypatch) -> None:
    from nmrpeak_cli.cli.runner import BatchOptions
    from nmrpeak_cli.generate import model
    from nmrpeak_cli.generate.api import process_generator

    loads = []
    original = model.load_generator
    monkeypatch.setattr(
        model, "load_generator", lambda *a, **kw: loads.append(a) or original(*a, **kw)
    )
    monkeypatch.setattr(BatchOptions, "terminal", property(lambda self: True))
    process_generator.cache_clear()
    result = runner.invoke(
        app, ["elucidate", "--c13", "206.7, 30.8", "--h1", "2.17 (s, 6H)", "--formula", "C3H6O",
              "--no-rerank"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "CC(C)=O" in result.stdout and "generated" in result.stdout, "a rich table"
    assert not _jsonl(result.stdout), "no JSONL on a terminal"
    assert len(loads) == 1, f"the generator must be loaded once, got {len(loads)}"


def test_inline_query_without_peaks_is_a_usage_error(runner) -> None:
    for command in ("generate", "elucidate"):
        result = runner.invoke(app, [command, "--c13", "  ", "--h1", "", "--formula", "C2H6O"])
        assert result.exit_code == 2 and "no peaks" in result.output, f"{command}: {result.output}"
