"""``bench generate --search``: the benchmark with the structure search, API and command line."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nmrpeak_cli.cli.app import app
from nmrpeak_cli.generate.bench import benchmark, render_markdown
from nmrpeak_cli.generate.search import SearchConfig
from nmrpeak_cli.similarity import spectrum_similarity
from tests.generate.test_search import CountingPredictor


def test_benchmark_reports_search_metrics(tiny_generator, tiny_pairs) -> None:
    spectra = [replace(p.spectrum, smiles=p.smiles) for p in tiny_pairs]
    predictor = CountingPredictor()
    report = benchmark(
        tiny_generator, spectra, configurations=("C+H+formula",), beam=4, limit=4,
        predictor=predictor, similarity=spectrum_similarity,
        search=SearchConfig(budget=15, time_limit=None),
    )  # fmt: skip
    row = report["configurations"]["C+H+formula"]
    assert 0.0 <= row["search_top1_exact"] <= row["search_top10_exact"] <= 1.0, row
    assert row["search_predictions_per_query"] <= 15 + 3 * 8, "budget plus stereoisomers"
    assert row["search_cpu_seconds_per_query"] >= 0.0 and sum(row["search_stopped"].values()) == 4
    assert row["search_config"]["budget"] == 15
    assert "search top1" in render_markdown(report, "test")


@pytest.mark.integration
def test_bench_generate_search_command(tiny_models_dir, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("NMRPEAK_MODELS", str(tiny_models_dir))
    query = tmp_path / "truth.csv"
    query.write_text('id,c13,h1,formula,smiles\nacetone,"206.7, 30.8",2.17 (s 6H),C3H6O,CC(C)=O\n')
    report = tmp_path / "report.json"
    shipped = Path(__file__).parents[2] / "models" / "predictor.safetensors"
    args = ["bench", "generate", "--split", str(query), "--configs", "C+H+formula",
            "--beam", "2", "--predictor-weights", str(shipped), "-o", str(report), "--search"]  # fmt: skip
    runner = CliRunner()
    result = runner.invoke(app, [*args, "--search-budget", "20", "--search-moves", "walk"])
    assert result.exit_code == 0, result.output
    row = json.loads(report.read_text())["configurations"]["C+H+formula"]
    assert row["search_config"]["moves"] == ["walk"] and row["search_config"]["budget"] == 20
    bad = runner.invoke(app, [*args, "--search-moves", "teleport"])
    assert bad.exit_code == 2 and "unknown moves" in bad.output
    no_model = runner.invoke(app, [*args, "--no-rerank"])
    assert no_model.exit_code == 2 and "--search needs the forward model" in no_model.output


@pytest.mark.integration
def test_generate_search_command_marks_sources(tiny_models_dir, monkeypatch) -> None:
    monkeypatch.setenv("NMRPEAK_MODELS", str(tiny_models_dir))
    shipped = Path(__file__).parents[2] / "models" / "predictor.safetensors"
    args = ["generate", "--c13", "137.9, 129.1, 128.3, 125.4, 21.5",
            "--h1", "7.25 (m, 2H), 7.17 (m, 3H), 2.35 (s, 3H)", "--formula", "C7H8",
            "--predictor-weights", str(shipped), "--search", "--search-budget", "30", "-k", "5"]  # fmt: skip
    runner = CliRunner()
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert rows and all(r["source"] in {"generated", "search"} for r in rows), rows
    assert all(r["similarity_c13"] is not None and r["formula_match"] for r in rows)
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    refused = runner.invoke(app, [*args, "--no-rerank"])
    assert refused.exit_code == 2 and "--search needs the forward model" in refused.output


def test_search_rows_keep_the_beam_answer_when_the_search_finds_nothing() -> None:
    from nmrpeak_cli.generate.api import QueryResult, search_rows
    from nmrpeak_cli.generate.decode import Candidate
    from nmrpeak_cli.generate.search import SearchCandidate, SearchResult
    from nmrpeak_cli.spectra import Spectrum

    query = Spectrum("q", c13=[128.4], formula="C6H6")
    beam = Candidate("c1ccccc1", "UHOVQNZJYSORNB-UHFFFAOYSA-N", -0.1, "C6H6", True, 0.9, 0.8)
    result = QueryResult(query, (beam,))
    empty = search_rows(result, SearchResult((), 0, 0, "no readable seed structure"), k=5)
    assert [r["smiles"] for r in empty] == ["c1ccccc1"] and empty[0]["source"] == "generated"
    assert "structure search found nothing: no readable seed structure" in empty[0]["error"]
    found = SearchCandidate(
        "C1=CC2=CC=C12", "XXXXXXXXXXXXXX-UHFFFAOYSA-N", 0.7, 0.7, None, -0.5, 0.6, "search", "bond"
    )
    rows = search_rows(result, SearchResult((found,), 10, 1, "converged"), k=5)
    assert rows[0]["source"] == "search" and rows[0]["similarity_h1"] is None
    assert rows[0]["formula_match"] is True and rows[0]["error"] is None
    failed = search_rows(QueryResult(query, error="bad formula"), SearchResult((), 0, 0, "x"), 5)
    assert failed[0]["error"] == "bad formula"
