"""The Python API: generate rows, query checks and bad input (elucidate: tests/test_elucidate.py)."""

from __future__ import annotations

from nmrpeak_cli.generate.api import (
    WARNING_PREFIX,
    check_query,
    formula_problem,
    generate,
    is_failure,
)
from nmrpeak_cli.io.records import RecordError
from nmrpeak_cli.schema import RESULTS_SCHEMA, rows_to_table
from nmrpeak_cli.spectra import Spectrum


def test_generate_rows_follow_the_results_schema(tiny_generator, tiny_pairs) -> None:
    spectra = [p.spectrum for p in tiny_pairs]
    rows = list(generate(spectra, k=3, beam=6, generator=tiny_generator, rerank=False))
    table = rows_to_table(rows, RESULTS_SCHEMA)
    assert table.num_rows == len(rows), "rows must convert to RESULTS_SCHEMA"
    top = {r["query_id"]: r for r in rows if r["rank"] == 1}
    for pair in tiny_pairs:
        row = top[pair.spectrum.id]
        assert row["smiles"] == pair.smiles, (
            f"{pair.spectrum.id}: expected {pair.smiles}, got {row}"
        )
        assert row["source"] == "generated" and row["formula_match"] is True
        assert 0.0 <= row["score"] <= 1.0, "score must lie in [0, 1]"
    for query_id in top:
        ranks = [r["rank"] for r in rows if r["query_id"] == query_id]
        assert ranks == list(range(1, len(ranks) + 1)) and len(ranks) <= 3, f"ranks {ranks}"


def test_rerank_with_fake_predictor_fills_the_rerank_column(tiny_generator, tiny_pairs) -> None:
    def predictor(smiles, solvent):
        return [Spectrum("p", c13=[100.0]) for _ in smiles]

    rows = list(
        generate(
            [tiny_pairs[0].spectrum], k=2, generator=tiny_generator, predictor=predictor,
            similarity=lambda query, candidate: 0.5,
        )
    )  # fmt: skip
    assert rows, "the memorized query gives candidates"
    assert all(r["rerank"] == 0.5 for r in rows), f"similarity must be reported: {rows}"


def test_unavailable_predictor_keeps_beam_order_with_a_warning(tiny_generator, tiny_pairs) -> None:
    from nmrpeak_cli.errors import NotAvailableError

    def broken(smiles, solvent):
        raise NotAvailableError("predictor weights missing")

    rows = list(generate([tiny_pairs[0].spectrum], k=2, generator=tiny_generator, predictor=broken))
    assert rows[0]["smiles"] == tiny_pairs[0].smiles, "beam order is kept"
    assert rows[0]["error"].startswith(WARNING_PREFIX) and "rerank skipped" in rows[0]["error"]
    assert not is_failure(rows[0]), "a warning does not fail the record"


def test_bad_inputs_give_error_rows_not_crashes(tiny_generator) -> None:
    spectra = [
        Spectrum("empty"),
        Spectrum("impossible", c13=[20.0], formula="C2H10"),
        Spectrum("radical", c13=[20.0], formula="CH3"),
        Spectrum("too_many_signals", c13=[170.0, 60.0, 14.0], formula="CH4O"),
        RecordError("broken", 5, "c13", "not a number", "q.csv"),
        Spectrum("only_h", h1=[1.2]),
    ]
    rows = list(generate(spectra, k=2, generator=tiny_generator, rerank=False))
    by_id = {}
    for row in rows:
        by_id.setdefault(row["query_id"], []).append(row)
    assert "no 13C or 1H peaks" in by_id["empty"][0]["error"]
    assert "more hydrogens" in by_id["impossible"][0]["error"]
    assert "odd electron count" in by_id["radical"][0]["error"]
    assert "3 distinct 13C signals" in by_id["too_many_signals"][0]["error"]
    assert "not a number" in by_id["broken"][0]["error"], "reader errors pass through"
    for row in rows:
        assert row["smiles"] is None or is_failure(row) is False, f"candidate with failure: {row}"
    assert [r["smiles"] for r in by_id["empty"]] == [None], "one error row, no candidates"


def test_out_of_distribution_shifts_give_a_warning(tiny_generator) -> None:
    check = check_query(Spectrum("far", c13=[300.0, 20.0]), tiny_generator)
    assert not check.errors and any("outside the training range" in w for w in check.warnings)
    assert formula_problem("C9H10O2") is None, "a real formula has no problem"


def _batch_body(tiny_models_dir, tmp_path, **changes):
    from dataclasses import replace

    from nmrpeak_cli.generate.api import GenerateBatch
    from nmrpeak_cli.generate.model import weights_path

    body = GenerateBatch(
        weights_path(tiny_models_dir), tmp_path / "no_predictor.safetensors", k=2, beam=4
    )
    return replace(body, **changes)


def test_batch_body_pickles_and_gives_rows_per_query(tiny_models_dir, tiny_pairs, tmp_path) -> None:
    import pickle

    from nmrpeak_cli.generate.api import process_generator

    body = pickle.loads(pickle.dumps(_batch_body(tiny_models_dir, tmp_path, rerank=False)))
    batch = [tiny_pairs[0].spectrum, RecordError("broken", 2, "c13", "not a number", "q.csv"),
             tiny_pairs[5].spectrum]  # fmt: skip
    groups = body(batch)
    assert [g[0]["query_id"] for g in groups] == ["ethanol", "broken", "acetone"], groups
    assert groups[0][0]["smiles"] == "CCO" and len(groups[0]) <= 2, groups[0]
    assert is_failure(groups[1][0]) and "not a number" in groups[1][0]["error"]
    generator = body.generator()
    assert generator is process_generator(body.weights, body.device, None), "loaded once"
    expected = list(generate(batch, k=2, beam=4, generator=generator, rerank=False))
    assert [r for g in groups for r in g] == expected, "the body answers as generate() does"


def test_missing_forward_model_skips_rerank_with_a_warning(tiny_models_dir, tmp_path) -> None:
    body = _batch_body(tiny_models_dir, tmp_path)
    rows = body([Spectrum("acetone", c13=[206.7, 30.8], h1=[2.17], formula="C3H6O")])[0]
    assert rows[0]["smiles"] == "CC(C)=O", rows
    assert "rerank skipped" in rows[0]["error"] and not is_failure(rows[0])


def test_a_report_that_cannot_be_written_marks_the_query(tiny_models_dir, tiny_pairs, tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    body = _batch_body(tiny_models_dir, tmp_path, rerank=False, report=blocked)
    rows = body([tiny_pairs[0].spectrum])[0]
    assert rows, "the query keeps its rows"
    assert all(is_failure(r) and "report not written" in r["error"] for r in rows), rows
