"""``bench predict`` on the tiny table (no csp5: its first call loads large models)."""

from __future__ import annotations

import math

from nmrpeak_cli.predict.bench import render_markdown, run_benchmark


def test_benchmark_report_has_every_section(tiny_table, tiny_weights, monkeypatch):
    monkeypatch.setattr("nmrpeak_cli.predict.bench.csp5_shifts", lambda mols, smiles: None)
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


def test_csp5_rows_are_mapped_by_smiles_when_an_embedding_fails(monkeypatch):
    """csp5's molecule_id skips molecules it could not embed; rows must map back by SMILES."""
    import sys
    import types

    from rdkit import Chem

    from nmrpeak_cli.predict.bench import csp5_shifts

    smiles = ["CCO", "C1CC1", "CC(=O)O"]  # pretend the cyclopropane fails to embed

    def predict_smiles(items, nucleus, batch_size):
        rows = []
        for mol_id, text in enumerate(s for s in items if s != "C1CC1"):
            mol = Chem.AddHs(Chem.MolFromSmiles(text))
            element = 6 if nucleus == "13C" else 1
            for atom in mol.GetAtoms():
                if atom.GetAtomicNum() == element:
                    rows.append((mol_id, text, atom.GetIdx(), 10.0 * (1 + smiles.index(text))))
        columns = ("molecule_id", "smiles", "atom_index", "shift_ppm")
        frame = {name: [row[i] for row in rows] for i, name in enumerate(columns)}
        return types.SimpleNamespace(predictions=frame)  # columns as csp5's DataFrame has them

    monkeypatch.setitem(sys.modules, "csp5", types.SimpleNamespace(predict_smiles=predict_smiles))
    results, _ = csp5_shifts([Chem.MolFromSmiles(s) for s in smiles], smiles)
    assert results[1] is None, "a molecule csp5 skipped is a failure"
    assert results[0] is not None and results[2] is not None
    assert set(results[0][[0, 1], 0]) == {10.0}, "ethanol keeps its own rows"
    assert set(results[2][[0, 1], 0]) == {30.0}, "acetic acid is not given the skipped id's rows"
