"""Search: planted molecules are found, formula filter and fallback, error rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from nmrpeak_cli.retrieve.library import open_library
from nmrpeak_cli.retrieve.search import (
    FusionWeights,
    QueryError,
    SearchParams,
    near_formulas,
    read_queries,
    retrieve,
)
from nmrpeak_cli.schema import RESULTS_SCHEMA, rows_to_table
from nmrpeak_cli.spectra import Spectrum
from tests.retrieve.conftest import MOLECULES, FakeEncoder, predicted_spectrum


def _by_query(rows: list[dict]) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for row in rows:
        grouped.setdefault(row["query_id"], []).append(row)
    return grouped


def test_ssr_finds_every_planted_molecule(library_dir: Path) -> None:
    library = open_library(library_dir)
    queries = [predicted_spectrum(smiles, name) for name, smiles in MOLECULES]
    results = _by_query(list(retrieve(queries, library, params=SearchParams(k=3))))
    for name, _ in MOLECULES:
        rows = results[name]
        assert len(rows) == 3, f"{name}: expected 3 results, got {len(rows)}"
        assert [r["rank"] for r in rows] == [1, 2, 3], rows
        assert rows[0]["ssr"] == pytest.approx(1.0), f"{name}: top ssr {rows[0]['ssr']}"
        top_id = library.entries.column("id")[rows[0]["library_row"]].as_py()
        assert top_id == name, f"{name}: top hit is {top_id}"
        assert rows[0]["source"] == "library" and rows[0]["sme"] is None, rows[0]
        scores = [r["score"] for r in rows]
        assert scores == sorted(scores, reverse=True), f"{name}: not sorted {scores}"
    table = rows_to_table(next(iter(results.values())), RESULTS_SCHEMA)
    assert table.num_rows == 3, "rows must fit RESULTS_SCHEMA"


def test_fused_scores_with_encoders(library_dir: Path, encoders: list[FakeEncoder]) -> None:
    library = open_library(library_dir)
    params = SearchParams(k=2, weights=FusionWeights(ssr=0.6, sme=0.2, sse=0.2), candidates=5)
    queries = [predicted_spectrum("Cc1ccccc1", "no_formula")]
    queries.append(Spectrum("with_formula", queries[0].c13, queries[0].h1, formula="C7H8"))
    rows = _by_query(
        list(
            retrieve(
                queries, library, encoders={e.identity.name: e for e in encoders}, params=params
            )
        )
    )
    for query_id in ("no_formula", "with_formula"):
        top = rows[query_id][0]
        assert top["smiles"] == "Cc1ccccc1", f"{query_id}: top {top['smiles']}"
        assert top["sse"] == pytest.approx(1.0, abs=1e-3), f"identical histograms: sse {top['sse']}"
        expected = 0.6 * top["ssr"] + 0.2 * top["sme"] + 0.2 * top["sse"]
        assert top["score"] == pytest.approx(expected), "fused score is the weighted mean"
    assert rows["with_formula"][0]["formula_match"] is True
    assert rows["no_formula"][0]["formula_match"] is None


def test_formula_filter_exact_then_near_under_penalize(library_dir: Path) -> None:
    library = open_library(library_dir)
    propanol = predicted_spectrum("CCCO")
    queries = [
        Spectrum("exact", propanol.c13, formula="C3H8O"),
        Spectrum("near_heavy", propanol.c13, formula="C3H8O2"),
        Spectrum("nothing_near", propanol.c13, formula="C20H40Br2"),
    ]
    params = SearchParams(k=5, formula_policy="penalize")
    results = _by_query(list(retrieve(queries, library, params=params)))
    exact = results["exact"]
    assert {r["smiles"] for r in exact} == {"CCCO", "CC(C)O"}, "only the two C3H8O isomers"
    assert all(r["formula_match"] for r in exact), exact
    assert exact[0]["smiles"] == "CCCO", "propanol outranks isopropanol on its own spectrum"
    near_heavy = {r["smiles"] for r in results["near_heavy"]}
    expected = {"CCCO", "CC(C)O", "CC(C)=O", "CCOC(C)=O"}  # O−1 (±0–2 H), C+1
    assert near_heavy == expected, f"one heavy atom ±1: {near_heavy}"
    assert not any(r["formula_match"] for r in results["near_heavy"]), "near hits are not matches"
    assert len(results["nothing_near"]) == 5, "no near formula: whole library searched"
    assert not any(r["formula_match"] for r in results["nothing_near"])


def test_reject_policy_never_returns_another_formula(library_dir: Path) -> None:
    library = open_library(library_dir)
    propanol = predicted_spectrum("CCCO")
    queries = [
        Spectrum("exact", propanol.c13, formula="C3H8O"),
        Spectrum("absent", propanol.c13, formula="C3H8O2"),
        Spectrum("impossible", propanol.c13, formula="C3H10O"),
    ]
    results = _by_query(list(retrieve(queries, library, params=SearchParams(k=5))))
    assert {r["smiles"] for r in results["exact"]} == {"CCCO", "CC(C)O"}, results["exact"]
    (absent,) = results["absent"]
    assert absent["smiles"] is None and "no library entry has the formula C3H8O2" in absent["error"]
    assert "--formula-policy penalize" in absent["error"], "the row says how to widen the search"
    (impossible,) = results["impossible"]
    assert "more hydrogens" in impossible["error"], "a formula contradicting itself is an error"


def test_ignore_policy_searches_as_without_formula(library_dir: Path) -> None:
    library = open_library(library_dir)
    propanol = predicted_spectrum("CCCO")
    query = Spectrum("ignored", propanol.c13, formula="C3H8O2")
    rows = list(retrieve([query], library, params=SearchParams(k=3, formula_policy="ignore")))
    assert rows[0]["smiles"] == "CCCO", "the spectrum decides, not the formula"
    assert rows[0]["formula_match"] is False, "the mismatch is still reported"


def test_near_formulas_tiers() -> None:
    tier1, tier2 = near_formulas("C3H8O")
    assert tier1 == ["C3H7O", "C3H9O", "C3H6O", "C3H10O"], tier1
    assert "C3H8O2" in tier2 and "C2H8O" in tier2 and "C3H8O" not in tier2, tier2


def test_bad_queries_give_error_rows(library_dir: Path) -> None:
    library = open_library(library_dir)
    rows = [
        {"id": "empty", "c13": None, "h1": None},
        {"id": "absurd", "c13": [500.0, 20.0]},
        {"id": "bad_formula", "c13": "30.1, 20.5", "formula": "C3H8Xx"},
        {"id": "unreadable", "error": "line 3: cannot parse"},
        {"id": "good", "c13": [64.2, 25.9, 10.1]},
    ]
    results = _by_query(list(retrieve(read_queries(rows), library, params=SearchParams(k=2))))
    for query_id, expected in [
        ("empty", "no 13C or 1H peaks"),
        ("absurd", "outside the plausible"),
        ("bad_formula", "formula"),
        ("unreadable", "cannot parse"),
    ]:
        (row,) = results[query_id]
        assert row["error"] and expected in row["error"], f"{query_id}: {row['error']!r}"
        assert row["rank"] is None and row["smiles"] is None, row
    assert len(results["good"]) == 2 and results["good"][0]["error"] is None


def test_query_errors_pass_through_in_order(library_dir: Path) -> None:
    library = open_library(library_dir)
    items = [QueryError("a", "bad"), predicted_spectrum("CCO", "b"), QueryError("c", "worse")]
    ids = [r["query_id"] for r in retrieve(items, library, params=SearchParams(k=1, batch_size=2))]
    assert ids == ["a", "b", "c"], f"output order must follow input order: {ids}"


def test_unknown_encoder_refused(library_dir: Path) -> None:
    from nmrpeak_cli.retrieve.library import LibraryError

    library = open_library(library_dir)
    with pytest.raises(LibraryError, match=r"enc-1.*enc-2"):
        list(retrieve([], library, encoders={"sse": FakeEncoder("sse", version="enc-2")}))
