"""``nmrpeak retrieve`` through the shared batch runner: --resume, --shard + merge, --jobs,
--report, and the library checks that fail once, up front."""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from nmrpeak_cli.cli import merge as merge_cli
from nmrpeak_cli.cli import retrieve as retrieve_cli
from nmrpeak_cli.retrieve.api import SearchBatch, process_searcher
from nmrpeak_cli.retrieve.build import build_library
from nmrpeak_cli.retrieve.search import QueryError, SearchParams
from nmrpeak_cli.schema import QUERY_SCHEMA, rows_to_table
from tests.retrieve.conftest import MOLECULES, FakeEncoder, FakePredictor, predicted_spectrum

QUERY_IDS = ("q_toluene", "q_ethyl_acetate", "q_phenol", "q_pyridine", "q_butanone")
"""Good queries (the fake predictor's spectra of these library molecules), then one without peaks."""


@pytest.fixture
def app() -> typer.Typer:
    application = typer.Typer()
    retrieve_cli.register(application)
    merge_cli.register(application)
    return application


@pytest.fixture(autouse=True)
def fresh_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No shipped models, and no library left open by an earlier test."""
    monkeypatch.setenv("NMRPEAK_MODELS", str(tmp_path / "no_models"))
    process_searcher.cache_clear()
    yield
    process_searcher.cache_clear()


@pytest.fixture
def library(tmp_path: Path) -> Path:
    out = tmp_path / "lib"
    build_library(MOLECULES, out, FakePredictor(), [FakeEncoder("sme", seed=1)])
    return out


@pytest.fixture
def queries(tmp_path: Path) -> Path:
    names = dict((f"q_{name}", smiles) for name, smiles in MOLECULES)
    rows = [
        {"id": q, "c13": list(predicted_spectrum(names[q], q).c13.shifts), "solvent": "CDCl3"}
        for q in QUERY_IDS
    ]
    rows.append({"id": "q_empty"})
    path = tmp_path / "queries.parquet"
    pq.write_table(rows_to_table(rows, QUERY_SCHEMA), path)
    return path


def _retrieve(app: typer.Typer, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["retrieve", *args, "-k", "3"])
    return result.exit_code, result.output


def _rows(path: Path) -> list[dict]:
    return sorted(pq.read_table(path).to_pylist(), key=lambda r: (r["query_id"], r["rank"] or 0))


def test_file_output_then_resume_skips_every_query(
    app: typer.Typer, library: Path, queries: Path, tmp_path: Path
) -> None:
    out = tmp_path / "results.parquet"
    code, output = _retrieve(app, str(queries), "-l", str(library), "-o", str(out))
    assert code == 1, f"the query without peaks fails, the others succeed: {output}"
    first = _rows(out)
    top = {r["query_id"]: r["smiles"] for r in first if r["rank"] == 1}
    assert top["q_toluene"] == "Cc1ccccc1" and top["q_pyridine"] == "c1ccncc1", top
    assert [r["error"] is not None for r in first if r["query_id"] == "q_empty"] == [True]
    assert len(first) == 3 * len(QUERY_IDS) + 1, len(first)

    code, output = _retrieve(app, str(queries), "-l", str(library), "-o", str(out), "--resume")
    assert code == 0, output
    assert "0 done, 0 failed, 6 skipped" in output, output
    assert _rows(out) == first, "a resume with nothing to do leaves the output as it was"

    code, output = _retrieve(
        app, str(queries), "-l", str(library), "-o", str(out), "--resume", "--ssr-only"
    )
    assert code == 0, f"--ssr-only shapes no rows here (no shipped encoders): {output}"
    other_k = CliRunner().invoke(
        app, ["retrieve", str(queries), "-l", str(library), "-o", str(out), "--resume", "-k", "2"]
    )
    assert other_k.exit_code == 2 and "different options" in other_k.output, other_k.output


def test_shards_merged_equal_the_whole(
    app: typer.Typer, library: Path, queries: Path, tmp_path: Path
) -> None:
    whole = tmp_path / "whole.parquet"
    assert _retrieve(app, str(queries), "-l", str(library), "-o", str(whole))[0] == 1
    pieces = []
    for index in range(2):
        piece = tmp_path / f"piece{index}.parquet"
        code, output = _retrieve(
            app, str(queries), "-l", str(library), "-o", str(piece), "--shard", f"{index}/2"
        )
        assert code in (0, 1), output
        pieces.append(str(piece))
    incomplete = CliRunner().invoke(app, ["merge", pieces[0], "-o", str(tmp_path / "m.parquet")])
    assert incomplete.exit_code == 2 and "missing 1/2" in incomplete.output, incomplete.output
    merged = tmp_path / "merged.parquet"
    result = CliRunner().invoke(app, ["merge", *pieces, "-o", str(merged)])
    assert result.exit_code == 0, result.output
    assert _rows(merged) == _rows(whole)


def test_two_jobs_give_the_rows_of_one(
    app: typer.Typer, library: Path, queries: Path, tmp_path: Path
) -> None:
    outputs = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"jobs{jobs}.jsonl"
        code, output = _retrieve(
            app, str(queries), "-l", str(library), "-o", str(out), "-j", jobs, "--batch-size", "2"
        )
        assert code == 1, output
        outputs[jobs] = [json.loads(line) for line in out.read_text().splitlines()]
    assert outputs["2"] == outputs["1"], "worker processes keep rows and their order"


def test_report_writes_one_html_per_query(
    app: typer.Typer, library: Path, queries: Path, tmp_path: Path
) -> None:
    reports = tmp_path / "reports"
    out = tmp_path / "results.parquet"
    code, output = _retrieve(
        app, str(queries), "-l", str(library), "-o", str(out), "--report", str(reports)
    )
    assert code == 1, f"only the query without peaks fails: {output}"
    written = sorted(p.name for p in reports.iterdir())
    assert written == sorted(f"{q}.html" for q in (*QUERY_IDS, "q_empty")), written
    toluene = (reports / "q_toluene.html").read_text()
    assert "Cc1ccccc1" in toluene and "<svg" in toluene, "candidates drawn with overlays"
    assert "prediction failed" not in toluene, "stored library spectra, no predictor needed"
    rows = pq.read_table(out).to_pylist()
    assert not any("report not written" in (r["error"] or "") for r in rows), rows


def test_inline_query_with_report(app: typer.Typer, library: Path, tmp_path: Path) -> None:
    c13 = ", ".join(f"{s:.2f}" for s in predicted_spectrum("Cc1ccccc1").c13.shifts)
    reports = tmp_path / "reports"
    code, output = _retrieve(
        app, "-l", str(library), "--c13", c13, "--id", "unknown 1", "--report", str(reports)
    )
    assert code == 0, output
    assert [json.loads(line)["query_id"] for line in output.splitlines() if line.startswith("{")]
    assert len(list(reports.glob("unknown_1-*.html"))) == 1, list(reports.iterdir())


def test_truncated_library_fails_once_up_front(
    app: typer.Typer, library: Path, queries: Path, tmp_path: Path
) -> None:
    shifts = library / "c13.shifts.npy"
    shifts.write_bytes(shifts.read_bytes()[:-8])
    out = tmp_path / "results.parquet"
    for jobs in ("1", "2"):
        code, output = _retrieve(app, str(queries), "-l", str(library), "-o", str(out), "-j", jobs)
        assert code == 2, output
        assert output.count("error:") == 1 and "the file is truncated" in output, output
    assert not out.exists() and not out.with_name(out.name + ".parts").exists()


def test_encoder_version_mismatch_exit_2(
    app: typer.Typer, library: Path, queries: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nmrpeak_cli.retrieve import encoders

    newer = {"sme": FakeEncoder("sme", version="enc-2", seed=1)}
    monkeypatch.setattr(encoders, "load_shipped_encoders", lambda models=None: newer)
    code, output = _retrieve(app, str(queries), "-l", str(library))
    assert code == 2, output
    assert "enc-1" in output and "enc-2" in output, f"the message names both: {output}"
    code, output = _retrieve(app, str(queries), "-l", str(library), "--ssr-only")
    assert code == 1, f"--ssr-only does not need the encoders: {output}"


def test_search_batch_pickles_and_keeps_one_row_list_per_query(library: Path) -> None:
    body = SearchBatch(library, k=2, params=SearchParams(batch_size=2))
    clone = pickle.loads(pickle.dumps(body))
    batch = [
        predicted_spectrum("CCO", "a"),
        QueryError("b", "unreadable row"),
        predicted_spectrum("c1ccncc1", "c"),
    ]
    results = clone(batch)
    assert [[r["query_id"] for r in rows] for rows in results] == [["a", "a"], ["b"], ["c", "c"]]
    assert results[1][0]["error"] == "unreadable row"
    assert results[0][0]["smiles"] == "CCO" and results[2][0]["smiles"] == "c1ccncc1"
    assert clone.searcher() is body.searcher(), "the library is opened once per process"


def test_a_report_that_cannot_be_written_marks_rows_as_report_does(
    library: Path, tmp_path: Path
) -> None:
    blocked = tmp_path / "reports"
    blocked.write_text("a file where the report folder should be")
    body = SearchBatch(library, k=2, params=SearchParams(batch_size=2), report=blocked)
    results = body([predicted_spectrum("CCO", "a"), QueryError("b", "unreadable row")])

    assert [r["smiles"] for r in results[0]] == ["CCO", results[0][1]["smiles"]]
    assert all(r["error"].startswith("report not written:") for r in results[0]), results[0]
    (failed,) = results[1]
    assert failed["error"].startswith("report not written:"), failed
    assert failed["error"].endswith("; unreadable row"), "the reader's error is kept"
