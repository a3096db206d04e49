"""``nmrpeak generate`` / ``elucidate`` through the shared batch runner: resumable file parts,
shards + ``nmrpeak merge``, ``--report DIR``, JSONL on a pipe and exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from nmrpeak_cli.cli.app import app
from nmrpeak_cli.schema import RESULTS_SCHEMA, rows_to_table

pytestmark = pytest.mark.integration

GOOD = (
    ("ethanol", "58.3, 18.4", "3.69 (q, 2H), 2.61 (s, 1H), 1.22 (t, 3H)", "C2H6O"),
    ("acetic", "177.9, 20.8", "11.42 (s, 1H), 2.10 (s, 3H)", "C2H4O2"),
    ("acetone", "206.7, 30.8", "2.17 (s, 6H)", "C3H6O"),
    ("benzene", "128.4", "7.36 (s, 6H)", "C6H6"),
)
BAD = ("impossible", "20.0", "", "C2H10")
"""An impossible formula: an error record for every command."""
EMPTY = ("nopeaks", "", "", "C2H6O")
"""Unreadable for every source (no peaks)."""


def _write_queries(path: Path, rows=GOOD) -> Path:
    lines = ["id,c13,h1,formula", *(f'{i},"{c}","{h}",{f}' for i, c, h, f in rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def _sorted(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda r: (r["query_id"], r["rank"] or 0))


@pytest.fixture
def runner(tiny_models_dir, monkeypatch, tmp_path) -> CliRunner:
    """The tiny generator alone: reranking is skipped with a warning in the rows."""
    monkeypatch.setenv("NMRPEAK_MODELS", str(tiny_models_dir))
    monkeypatch.setenv("NMRPEAK_CACHE", str(tmp_path / "cache"))
    return CliRunner()


@pytest.fixture(scope="module")
def models_with_predictor(tmp_path_factory, tiny_models_dir) -> Path:
    """The tiny generator and a random-weight forward model (for rerank and report overlays)."""
    import torch

    from nmrpeak_cli.predict.model import ModelConfig, ShiftModel
    from nmrpeak_cli.predict.weights import save_model

    folder = tmp_path_factory.mktemp("models_full")
    for path in tiny_models_dir.iterdir():
        shutil.copy(path, folder / path.name)
    torch.manual_seed(0)
    save_model(ShiftModel(ModelConfig(hidden=16, layers=2)), folder / "predictor.safetensors")
    return folder


@pytest.fixture(scope="module")
def library_dir(tmp_path_factory) -> Path:
    """A small SSR-only library built with the retrieve tests' fake predictor."""
    from nmrpeak_cli.retrieve.build import build_library
    from tests.retrieve.conftest import MOLECULES, FakePredictor

    out = tmp_path_factory.mktemp("lib") / "lib"
    build_library(MOLECULES, out, FakePredictor(), part_size=5)
    return out


def test_file_output_then_resume_skips_every_query(runner, tmp_path) -> None:
    queries = _write_queries(tmp_path / "q.csv", (*GOOD, BAD))
    out = tmp_path / "out.parquet"
    args = ["generate", str(queries), "-o", str(out), "-k", "3", "--batch-size", "2"]
    first = runner.invoke(app, args)
    assert first.exit_code == 1, f"one bad query makes a partial run: {first.output}"
    assert "4 done, 1 failed" in first.stderr, first.stderr
    rows = pq.read_table(out).to_pylist()
    assert {r["query_id"] for r in rows} == {q[0] for q in (*GOOD, BAD)}, rows
    assert not out.with_name(out.name + ".parts").exists(), "parts are assembled and removed"

    again = runner.invoke(app, [*args, "--resume"])
    assert again.exit_code == 0, f"nothing left to fail: {again.output}"
    assert "0 done, 0 failed, 5 skipped" in again.stderr, again.stderr
    assert _sorted(pq.read_table(out).to_pylist()) == _sorted(rows), "resume changes nothing"

    other = runner.invoke(app, [*args[:-2], "--batch-size", "2", "-k", "2", "--resume"])
    assert other.exit_code == 2 and "different options" in other.output, other.output


def test_resume_after_more_queries_processes_only_the_new_ones(runner, tmp_path) -> None:
    out = tmp_path / "out.parquet"
    queries = _write_queries(tmp_path / "q.csv", GOOD[:2])
    args = ["generate", str(queries), "-o", str(out), "-k", "2"]
    assert runner.invoke(app, args).exit_code == 0
    _write_queries(queries, GOOD)
    result = runner.invoke(app, [*args, "--resume"])
    assert result.exit_code == 0, result.output
    assert "2 done, 0 failed, 2 skipped" in result.stderr, result.stderr
    ids = [r["query_id"] for r in pq.read_table(out).to_pylist() if r["rank"] == 1]
    assert sorted(ids) == sorted(q[0] for q in GOOD), f"each query once: {ids}"


def test_shards_merged_equal_the_whole_run(runner, tmp_path) -> None:
    queries = _write_queries(tmp_path / "q.csv", (*GOOD, BAD))
    common = ["generate", str(queries), "-k", "2", "--formula-policy", "penalize",
              "--batch-size", "1"]  # fmt: skip
    whole = tmp_path / "whole.parquet"
    assert runner.invoke(app, [*common, "-o", str(whole)]).exit_code == 1
    shards = []
    for index in range(2):
        shard = tmp_path / f"shard{index}.parquet"
        result = runner.invoke(app, [*common, "-o", str(shard), "--shard", f"{index}/2"])
        assert result.exit_code in (0, 1), result.output
        shards.append(str(shard))
    merged = tmp_path / "merged.parquet"
    missing = runner.invoke(app, ["merge", shards[0], "-o", str(merged)])
    assert missing.exit_code == 2 and "missing 1/2" in missing.output, missing.output
    result = runner.invoke(app, ["merge", *shards, "-o", str(merged)])
    assert result.exit_code == 0, result.output
    assert _sorted(pq.read_table(merged).to_pylist()) == _sorted(pq.read_table(whole).to_pylist())


def test_report_writes_one_html_per_query(models_with_predictor, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("NMRPEAK_MODELS", str(models_with_predictor))
    queries = _write_queries(tmp_path / "q.csv", (*GOOD[:2], BAD))
    reports = tmp_path / "reports"
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(
        app, ["generate", str(queries), "-o", str(out), "-k", "2", "--report", str(reports)]
    )
    assert result.exit_code == 1, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert all(r["rerank"] is not None for r in rows if r["smiles"]), "the predictor reranks"
    written = sorted(p.name for p in reports.iterdir())
    assert written == ["acetic.html", "ethanol.html", "impossible.html"], written
    ethanol = (reports / "ethanol.html").read_text()
    assert "CCO" in ethanol and "<svg" in ethanol, "candidates are drawn with overlays"
    assert "more hydrogens" in (reports / "impossible.html").read_text(), "errors are reported"


def test_report_without_a_forward_model_still_shows_candidates(runner, tmp_path) -> None:
    reports = tmp_path / "reports"
    result = runner.invoke(
        app, ["generate", "--c13", "206.7, 30.8", "--h1", "2.17 (s, 6H)", "--formula", "C3H6O",
              "--report", str(reports)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    html = (reports / "query.html").read_text()
    assert "CC(C)=O" in html, "warned candidates are still drawn"
    assert "rerank skipped" in html, "the warning is listed"


def test_jsonl_on_a_pipe_conforms_to_the_results_schema(runner, tmp_path, library_dir) -> None:
    queries = _write_queries(tmp_path / "q.csv", (*GOOD, BAD, EMPTY))
    for command in (["generate"], ["elucidate", "-l", str(library_dir)]):
        result = runner.invoke(app, [*command, str(queries), "-k", "3"])
        assert result.exit_code == 1, result.output
        rows = _jsonl(result.stdout)
        assert all(list(r) == RESULTS_SCHEMA.names for r in rows), f"{command}: {rows[0]}"
        assert rows_to_table(rows, RESULTS_SCHEMA).num_rows == len(rows)
        ids = list(dict.fromkeys(r["query_id"] for r in rows))
        assert ids == [q[0] for q in (*GOOD, BAD, EMPTY)], f"{command}: input order, got {ids}"
        assert "no peaks" in rows[-1]["error"] and rows[-1]["smiles"] is None, rows[-1]


def test_elucidate_merges_library_and_generated_candidates(runner, tmp_path, library_dir) -> None:
    out = tmp_path / "out.parquet"
    queries = _write_queries(tmp_path / "q.csv", (*GOOD, BAD))
    reports = tmp_path / "reports"
    result = runner.invoke(
        app, ["elucidate", str(queries), "-l", str(library_dir), "-k", "5", "-o", str(out),
              "--report", str(reports)],
    )  # fmt: skip
    assert result.exit_code == 1, f"the impossible formula fails its record: {result.output}"
    assert len(list(reports.glob("*.html"))) == len(GOOD) + 1, "one report per query"
    rows = pq.read_table(out).to_pylist()
    sources = {s for r in rows if r["source"] for s in r["source"].split("+")}
    assert sources == {"library", "generated"}, rows
    for query_id in {r["query_id"] for r in rows if r["smiles"]}:
        mine = [r for r in rows if r["query_id"] == query_id]
        assert [r["rank"] for r in mine] == list(range(1, len(mine) + 1)), mine
        keys = [r["inchikey"] for r in mine]
        assert len(keys) == len(set(keys)), f"a structure appears once per query: {keys}"
    (bad,) = [r for r in rows if r["query_id"] == BAD[0]]
    assert bad["smiles"] is None and "more hydrogens" in bad["error"], "no source answers it"


@pytest.mark.parametrize(
    ("queries", "code"),
    [((*GOOD, BAD, EMPTY), 1), (GOOD, 0), ((BAD, EMPTY), 1), ((), 2)],
    ids=["mixed", "all-good", "all-bad", "no-queries"],
)
def test_exit_codes(runner, tmp_path, library_dir, queries, code) -> None:
    path = _write_queries(tmp_path / "q.csv", queries)
    for command in (["generate"], ["elucidate"], ["elucidate", "-l", str(library_dir)]):
        result = runner.invoke(app, [*command, str(path), "-k", "2"])
        assert result.exit_code == code, f"{command} {queries}: {result.output}"


def test_usage_errors_exit_2_before_any_query(runner, tmp_path, library_dir) -> None:
    queries = str(_write_queries(tmp_path / "q.csv"))
    bad_weights = tmp_path / "none.safetensors"
    cases = {
        "missing weights": ["generate", queries, "--weights", str(bad_weights)],
        "bad library": ["elucidate", queries, "-l", str(tmp_path)],
        "bad policy": ["generate", queries, "--formula-policy", "maybe"],
        "resume to a pipe": ["generate", queries, "--resume"],
        "bad shard": ["elucidate", queries, "--shard", "3/2"],
        "missing query file": ["generate", str(tmp_path / "absent.csv")],
        "query and inline": ["generate", queries, "--c13", "20.0"],
    }
    for name, args in cases.items():
        result = runner.invoke(app, args)
        assert result.exit_code == 2, f"{name}: {result.output}"


def test_worker_processes_give_the_same_rows(runner, tmp_path) -> None:
    queries = _write_queries(tmp_path / "q.csv", (*GOOD, BAD, EMPTY))
    outputs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"jobs{jobs}.parquet"
        result = runner.invoke(
            app, ["generate", str(queries), "-o", str(out), "-k", "2", "--batch-size", "2",
                  "--jobs", jobs, "--device", "cpu"],
        )  # fmt: skip
        assert result.exit_code == 1, result.output
        outputs.append(pq.read_table(out).to_pylist())
    assert outputs[0] == outputs[1], "worker processes keep rows and order"
