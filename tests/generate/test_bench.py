"""The generation benchmark on memorized queries, with a fake forward model."""

from __future__ import annotations

from dataclasses import replace

from nmrpeak_cli.generate.bench import benchmark, render_markdown
from nmrpeak_cli.spectra import Spectrum


def test_benchmark_scores_memorized_queries(tiny_generator, tiny_pairs) -> None:
    spectra = [replace(p.spectrum, smiles=p.smiles) for p in tiny_pairs]
    spectra.append(Spectrum("no-truth", c13=[20.0]))

    def predictor(smiles, solvent):
        return [Spectrum("p", c13=[100.0]) for _ in smiles]

    report = benchmark(
        tiny_generator, spectra, configurations=("C+H+formula", "H"), beam=4, limit=5,
        predictor=predictor, similarity=lambda query, candidate: 0.5,
    )  # fmt: skip
    full = report["configurations"]["C+H+formula"]
    assert full["n"] == 5, f"limit caps each configuration: {full}"
    assert full["beam_top1_exact"] == 1.0 and full["beam_top1_block1"] == 1.0, full
    assert full["rerank_top10_exact"] == 1.0, "rerank keeps the right answer in the list"
    assert 0.0 <= full["validity"] <= 1.0 and full["formula_match_top1"] == 1.0
    assert full["cpu_seconds_per_spectrum"] >= 0.0
    assert "| C+H+formula | 5 | 100.0% |" in render_markdown(report, "test"), "markdown table row"
