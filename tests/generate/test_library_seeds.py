"""Library neighbours as structure-search seeds (``generate --search -l``, ``bench generate
--library``): retrieved ignoring the formula, added as ``library`` seeds after the beam's."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nmrpeak_cli.cli.app import app
from nmrpeak_cli.errors import NmrpeakError
from nmrpeak_cli.generate.api import QueryResult, search_batch, search_rows
from nmrpeak_cli.generate.bench import benchmark, render_markdown
from nmrpeak_cli.generate.decode import Candidate
from nmrpeak_cli.generate.library_seeds import LibrarySeeds
from nmrpeak_cli.generate.search import SearchConfig
from nmrpeak_cli.similarity import spectrum_similarity
from tests.generate.test_search import TRUTH, CountingPredictor, key, query
from tests.retrieve.conftest import MOLECULES, FakePredictor, predicted_spectrum


@pytest.fixture(scope="module")
def library_dir(tmp_path_factory) -> Path:
    """A small SSR-only library built with the retrieve tests' fake predictor."""
    from nmrpeak_cli.retrieve.build import build_library

    out = tmp_path_factory.mktemp("seedlib") / "lib"
    build_library(MOLECULES, out, FakePredictor(), part_size=5)
    return out


class StubLibrary:
    """Returns fixed neighbours for every query."""

    k = 2

    def __init__(self, smiles: list[str]) -> None:
        self.given = smiles
        self.asked = 0

    def smiles(self, queries) -> list[list[str]]:
        self.asked += len(queries)
        return [list(self.given) for _ in queries]


def test_library_neighbours_ignore_the_formula(library_dir: Path) -> None:
    seeds = LibrarySeeds(library_dir, k=3)
    toluene = replace(predicted_spectrum("Cc1ccccc1"), formula="C20H20")  # no entry has it
    rows = seeds.neighbours([toluene])[0]
    assert len(rows) == 3 and rows[0]["smiles"] == "Cc1ccccc1", rows
    assert all(r["inchikey"] for r in rows)
    assert seeds.smiles([toluene, predicted_spectrum("CCO")])[1][0] == "CCO"
    assert seeds.digest()["k"] == 3
    with pytest.raises(NmrpeakError, match="none"):
        LibrarySeeds(library_dir.parent / "none").neighbours([toluene])


def test_a_library_seed_reaches_the_answer_with_its_source() -> None:
    """The beam holds an isomer; the library holds the truth: with moves off, only the
    library seed can be the answer, and its row says ``library``."""
    beam = Candidate("CCCc1cccnc1", key("CCCc1cccnc1"), -0.5, "C8H11N", True, 0.5, 0.5)
    result = QueryResult(query(), (beam,))
    config = SearchConfig(budget=20, time_limit=None, moves=(), recombine=False, repair=False)
    without, _ = search_batch([result], None, CountingPredictor(), config)
    assert without[0].candidates[0].inchikey != key(TRUTH)
    library = StubLibrary([TRUTH, "CCO"])
    found, note = search_batch([result], None, CountingPredictor(), config, library)
    assert note is None and library.asked == 1
    best = found[0].candidates[0]
    assert best.inchikey == key(TRUTH) and best.source == "library"
    assert all(c.smiles != "CCO" for c in found[0].candidates), "another formula never answers"
    rows = search_rows(result, found[0], k=5)
    assert rows[0]["source"] == "library" and rows[0]["formula_match"] is True


def test_errors_skip_retrieval_and_keep_their_row() -> None:
    library = StubLibrary([TRUTH])
    failed = QueryResult(query(), error="bad formula")
    found, _ = search_batch([failed], None, CountingPredictor(), SearchConfig(), library)
    assert found == [None] and library.asked == 0


def test_benchmark_with_library_seeds_and_its_peer(tiny_generator, tiny_pairs, library_dir):
    spectra = [replace(p.spectrum, smiles=p.smiles) for p in tiny_pairs]
    report = benchmark(
        tiny_generator, spectra, configurations=("C+H+formula",), beam=4, limit=4,
        predictor=CountingPredictor(), similarity=spectrum_similarity,
        search=SearchConfig(budget=15, time_limit=None), library=LibrarySeeds(library_dir, k=2),
    )  # fmt: skip
    row = report["configurations"]["C+H+formula"]
    assert row["library_k"] == 2 and row["library_seeds_per_query"] == 2.0
    truths = {key(p.smiles)[:14] for p in tiny_pairs[:4]}
    held = {key(s)[:14] for _, s in MOLECULES}
    assert row["library_seeds_truth_queries"] <= len(truths & held)
    assert 0 <= row["library_seeds_formula_queries"] <= 4
    assert "nolib_search_top1_exact" in row and "nolib_search_config" not in row
    assert row["search_cpu_seconds_per_query"] >= 0.0
    markdown = render_markdown(report, "test")
    assert "no-library search top1" in markdown and "truth among library seeds" in markdown


@pytest.mark.integration
def test_generate_search_with_a_library(tiny_models_dir, monkeypatch, library_dir) -> None:
    monkeypatch.setenv("NMRPEAK_MODELS", str(tiny_models_dir))
    shipped = Path(__file__).parents[2] / "models" / "predictor.safetensors"
    args = ["generate", "--c13", "137.9, 129.1, 128.3, 125.4, 21.5",
            "--h1", "7.25 (m, 2H), 7.17 (m, 3H), 2.35 (s, 3H)", "--formula", "C7H8",
            "--predictor-weights", str(shipped), "--search-budget", "30", "-k", "5"]  # fmt: skip
    runner = CliRunner()
    result = runner.invoke(app, [*args, "--search", "-l", str(library_dir), "--library-k", "3"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert rows and all(r["source"] in {"generated", "search", "library"} for r in rows), rows
    assert any(r["smiles"] == "Cc1ccccc1" for r in rows), "toluene, a library seed, is found"
    no_search = runner.invoke(app, [*args, "-l", str(library_dir)])
    assert no_search.exit_code == 2 and "add --search" in no_search.output
    missing = runner.invoke(app, [*args, "--search", "-l", str(library_dir.parent / "none")])
    assert missing.exit_code == 2 and "none" in missing.output
