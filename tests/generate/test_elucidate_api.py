"""``elucidate()`` (Python) and ``nmrpeak elucidate`` run the same batch body, with a tiny
generator and a small library."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nmrpeak_cli.cli.app import app
from nmrpeak_cli.elucidate import ElucidateBatch, elucidate, elucidate_batch, is_failure
from nmrpeak_cli.io.records import RecordError
from nmrpeak_cli.spectra import Spectrum
from tests.generate.test_elucidate_bench import models_with_predictor  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration

QUERIES = [
    Spectrum("acetone", c13=[206.7, 30.8], h1=[2.17], formula="C3H6O"),
    Spectrum("ethanol", c13=[58.3, 18.4], formula="C2H6O"),
    Spectrum("too-many-carbons", c13=[58.3, 18.4, 40.0], formula="C2H6O"),
]


@pytest.fixture(scope="module")
def library_dir(tmp_path_factory) -> Path:
    from nmrpeak_cli.retrieve.build import build_library
    from tests.retrieve.conftest import MOLECULES, FakePredictor

    out = tmp_path_factory.mktemp("lib") / "lib"
    build_library(MOLECULES, out, FakePredictor(), part_size=5)
    return out


@pytest.fixture
def models(tiny_models_dir, monkeypatch) -> Path:
    monkeypatch.setenv("NMRPEAK_MODELS", str(tiny_models_dir))
    return tiny_models_dir


def test_python_api_and_cli_give_the_same_rows(models, library_dir, tmp_path) -> None:
    rows = list(elucidate(QUERIES, k=3, library=library_dir))
    table = tmp_path / "q.jsonl"
    table.write_text(
        "\n".join(
            json.dumps(
                {
                    "id": q.id,
                    "c13": list(q.c13.shifts),
                    "h1": list(q.h1.shifts) if q.h1 else None,
                    "formula": q.formula,
                }
            )
            for q in QUERIES
        )
    )
    result = CliRunner().invoke(app, ["elucidate", str(table), "-l", str(library_dir), "-k", "3"])
    assert result.exit_code == 1, f"the inconsistent query fails its record: {result.output}"
    cli_rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert cli_rows == rows, "one batch body behind both"
    assert [r["query_id"] for r in rows if r["rank"] == 1][:2] == ["acetone", "ethanol"]
    (bad,) = [r for r in rows if r["query_id"] == "too-many-carbons"]
    assert is_failure(bad) and "3 distinct 13C signals" in bad["error"], bad


def test_the_formula_constraint_holds_for_every_source(models, library_dir) -> None:
    for row in elucidate(QUERIES[:2], k=10, library=library_dir):
        assert row["formula_match"] is True, f"reject: {row}"


def test_batch_body_pickles_and_keeps_reader_errors(models, library_dir) -> None:
    body = elucidate_batch(library=library_dir, k=2)
    assert isinstance(body, ElucidateBatch)
    body = pickle.loads(pickle.dumps(body))
    groups = body([QUERIES[0], RecordError("broken", 2, "c13", "not a number", "q.csv")])
    assert groups[0][0]["smiles"] == "CC(C)=O", groups[0]
    assert is_failure(groups[1][0]) and "not a number" in groups[1][0]["error"], groups[1]


def test_an_extra_source_is_pooled_like_the_others(models) -> None:
    from nmrpeak_cli.elucidate import SourceResult
    from tests.test_elucidate import proposal

    def search(queries):
        return [SourceResult("search", (proposal("CC(C)=O", "search"),)) for _ in queries]

    body = elucidate_batch(library=None, k=3, extra_sources=(search,))
    (rows,) = body([QUERIES[0]])
    assert "search" in rows[0]["source"], rows


def test_the_structure_search_is_a_source_by_default(request, library_dir, monkeypatch) -> None:
    """Its structures join the pool (source ``search``), keep the formula, and carry the
    generator's log-probability; ``search=False`` leaves it out."""
    folder = request.getfixturevalue("models_with_predictor")
    monkeypatch.setenv("NMRPEAK_MODELS", str(folder))
    rows = list(elucidate(QUERIES[:2], k=20, library=library_dir, search_budget=20))
    found = [r for r in rows if r["source"] and "search" in r["source"]]
    assert found, [r["error"] for r in rows]
    assert all(r["formula_match"] is True for r in rows), "reject holds for the search too"
    assert all(r["gen_logprob"] is not None for r in found), found
    plain = list(elucidate(QUERIES[:2], k=20, library=library_dir, search=False))
    assert not any("search" in (r["source"] or "") for r in plain), plain


def test_a_batch_body_with_the_search_pickles(models, library_dir) -> None:
    from nmrpeak_cli.elucidate import SearchSource, search_config

    body = elucidate_batch(library=library_dir, k=5, search=search_config(20, None))
    assert any(isinstance(s, SearchSource) for s in body.sources)
    body = pickle.loads(pickle.dumps(body))
    (rows,) = body([QUERIES[0]])
    assert rows[0]["smiles"] == "CC(C)=O", rows
