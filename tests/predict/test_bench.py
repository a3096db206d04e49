"""``bench predict`` on the tiny table (no csp5: its first call loads large models)."""

from __future__ import annotations

import math

from nmrpeak_cli.predict.bench import render_markdown, run_benchmark


def test_benchmark_report_has_every_section(tiny_table, tiny_weights, monkeypatch):
    monkeypatch.setattr("nmrpeak_cli.predict.bench._csp5_shifts", lambda mols, smiles: None)
    report = run_benchmark(data=tiny_table, weights=tiny_weights, log=lambda _: None)
    assert report["records"] >= 6, "tiny table: 6 scaffold-test rows (split by solvent)"
    for method in ("model", "hose"):
        overall = report[method]["overall"]
        assert overall["c13_n"] > 0 and math.isfinite(overall["c13_mae"]), (method, overall)
        assert set(report[method]["by_heavy_atoms"]) == {"1-10", "11-20", "21-30", "31-200"}
        assert 0.0 <= report[method]["peaks"]["c13_similarity_mean"] <= 1.0
    assert report["model"]["throughput_mol_per_s"] > 0
    assert "skipped" in report["csp5"]
    text = render_markdown(report)
    assert "HOSE" in text and "nmrpeak GNN" in text and "csp5" in text, text
