"""Benchmark machinery: configurations, true ranks, fusion fitting, a tiny end-to-end run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from nmrpeak_cli.retrieve.bench import (
    BenchOptions,
    Truth,
    configure,
    fit_fusion,
    markdown_report,
    run_benchmark,
    true_rank,
)
from nmrpeak_cli.retrieve.search import FusionWeights, Scored, SearchParams
from nmrpeak_cli.schema import QUERY_SCHEMA, rows_to_table, spectrum_to_row
from nmrpeak_cli.similarity import DEFAULT_PARAMS
from nmrpeak_cli.spectra import Spectrum
from tests.retrieve.conftest import MOLECULES, FakeEncoder, FakePredictor, predicted_spectrum


def test_configure_drops_nuclei_and_formula() -> None:
    spectrum = Spectrum("q", predicted_spectrum("CCO").c13, predicted_spectrum("CCO").h1, "C2H6O")
    only_c = configure(spectrum, "C", formula=False)
    assert only_c.h1 is None and only_c.formula is None and only_c.c13 is not None
    assert configure(Spectrum("q", c13=spectrum.c13), "C+H", formula=True) is None


def test_true_rank_counts_ties_against_the_query() -> None:
    scored = Scored(rows=np.array([10, 11, 12, 13]), scores={}, exact_formula=None)
    fused = np.array([0.9, 0.5, 0.9, 0.1])
    assert true_rank(scored, fused, np.array([12])) == 2, "tie with a wrong entry ranks second"
    assert true_rank(scored, fused, np.array([13])) == 4
    assert true_rank(scored, fused, np.array([99])) is None


def test_fit_fusion_prefers_the_informative_component() -> None:
    rows = np.arange(3)
    scored = [
        Scored(rows, {"ssr": np.array([0.5, 0.6, 0.4]), "sse": np.array([0.9, 0.1, 0.2])}, None)
        for _ in range(5)
    ]
    true = [Truth(np.array([0]), np.array([0]))] * 5
    weights, top1 = fit_fusion([(scored, true)], ["sse"])
    assert top1 == 1.0 and weights.sse > 0, (weights, top1)


def test_run_benchmark_tiny(tmp_path: Path) -> None:
    queries = []
    for name, smiles in MOLECULES[:6]:
        spectrum = predicted_spectrum(smiles, name)
        queries.append(spectrum_to_row(Spectrum(name, spectrum.c13, spectrum.h1, smiles=smiles)))
    table = tmp_path / "queries.parquet"
    pq.write_table(rows_to_table(queries, QUERY_SCHEMA), table)
    encoders = {e.identity.name: e for e in (FakeEncoder("sse", seed=2),)}
    options = BenchOptions(
        queries=table,
        data_dir=tmp_path / "no_data",
        sizes=(4, 6),
        max_queries=6,
        latency_queries=2,
        work_dir=tmp_path / "bench",
        moses=False,
    )
    report = run_benchmark(
        options,
        FakePredictor(),
        encoders,
        SearchParams(weights=FusionWeights(0.8, 0, 0.2)),
        log=lambda _: None,
    )
    assert report["library_entries"] == {4: 4, 6: 6}, report["library_entries"]
    result = report["sizes"][6]["C+H"]
    assert result["queries"] == 6 and result["in_library"] == 1.0, result
    assert result["settings"]["ssr"]["top1"] == 1.0, result["settings"]["ssr"]
    assert set(result["settings"]) == {"ssr", "sse", "ssr+sse"}, set(result["settings"])
    assert report["sizes"][4]["C"]["in_library"] < 1.0, "size 4 holds only 4 of 6 molecules"
    assert report["latency"][6]["C+H"]["p50_ms"] > 0
    assert "| C+H | 6 | ssr | 1.000" in markdown_report(report)


def test_fit_fusion_on_split_writes_card(tmp_path: Path) -> None:
    import json

    from nmrpeak_cli.retrieve.bench import fit_fusion_on_split, scaled_similarity
    from nmrpeak_cli.retrieve.encoders import load_fusion_weights, load_similarity_params

    rows = []
    for name, smiles in MOLECULES:
        spectrum = predicted_spectrum(smiles, name)
        rows.append(spectrum_to_row(Spectrum(name, spectrum.c13, spectrum.h1, smiles=smiles)))
    table = tmp_path / "valid.parquet"
    pq.write_table(rows_to_table(rows, QUERY_SCHEMA), table)
    options = BenchOptions(
        queries=table, data_dir=tmp_path, sizes=(16,), work_dir=tmp_path / "w", moses=False
    )
    encoders = {"sse": FakeEncoder("sse", seed=2)}
    models = tmp_path / "models"
    models.mkdir()
    card = fit_fusion_on_split(
        options, FakePredictor(), encoders, models / "retriever_fusion.json", log=lambda _: None
    )
    assert card["similarity_tolerance_scale"] == 1.0, "exact predictions: no widening needed"
    assert card["valid_mean_top1"] >= 0.9, card  # a few fake 1H lists coincide
    assert json.loads((models / "retriever_fusion.json").read_text())["weights"] == card["weights"]
    assert load_fusion_weights(encoders, models).ssr == card["weights"]["ssr"]
    assert load_similarity_params(models) == scaled_similarity(1.0)
    wide = scaled_similarity(2.0)
    assert wide.c13.tolerance_ppm == 2 * DEFAULT_PARAMS.c13.tolerance_ppm, wide
    assert wide.h1.wide_tolerance_ppm == 2 * DEFAULT_PARAMS.h1.wide_tolerance_ppm, wide
