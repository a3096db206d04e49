"""``train elucidate`` / ``bench elucidate``: fitting and evaluation on candidate pools, and a
whole (tiny) benchmark run that must return no candidate of another formula."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nmrpeak_cli.cli.app import app
from nmrpeak_cli.elucidate import SourceResult
from nmrpeak_cli.elucidate_bench import QueryPool, evaluate, fit_model, markdown
from nmrpeak_cli.similarity import DEFAULT_PARAMS
from tests.test_elucidate import QUERY, RIGHT, WRONG, proposal

TRUTH = proposal("CCOC(C)=O", "library").inchikey


def _pools(n: int = 40) -> list[QueryPool]:
    """Half the queries have the answer in the library; the generator finds it in a third."""
    pools = []
    for i in range(n):
        in_library = i % 2 == 0
        library = [proposal("CCC(=O)OC", "library", WRONG, sse=0.9)]
        if in_library:
            library.insert(0, proposal("CCOC(C)=O", "library", RIGHT, sse=0.8))
        generated = [proposal("C=C(O)OCC", "generated", WRONG, gen_logprob=-0.4)]
        if i % 3 == 0:
            generated.insert(0, proposal("CCOC(C)=O", "generated", RIGHT, gen_logprob=-0.2))
        groups = (
            SourceResult("library", tuple(library)),
            SourceResult("generated", tuple(generated)),
        )
        retrieve_top = library[0].inchikey
        generate_top = generated[0].inchikey
        query = replace(QUERY, id=f"q{i // 2}")  # both library cases of one query
        pools.append(QueryPool(query, TRUTH, "C+H+formula", in_library, groups, retrieve_top,
                               generate_top))  # fmt: skip
    return pools


def test_fit_and_evaluate_on_pools() -> None:
    pools = _pools()
    model = fit_model(pools, DEFAULT_PARAMS, {"split": "synthetic"}, folds=5)
    assert model.fusion.weights["similarity"] > 0, model.fusion
    report = evaluate(pools, model)
    inside = report["sets"]["C+H+formula, in library"]
    outside = report["sets"]["C+H+formula, not in library"]
    assert inside["elucidate_top1"] == 1.0 and inside["retrieve_top1"] == 1.0, inside
    assert outside["elucidate_top1"] >= outside["generate_top1"], outside
    assert inside["other_formula"] == outside["other_formula"] == 0
    assert 0.0 <= report["calibration"]["ece"] <= 1.0
    assert "| C+H+formula, in library | 20 |" in markdown(report)
    assert model.to_dict()["split"] == "synthetic", "the card travels with the weights"
    fit = model.card["calibration_fit"]
    assert fit["folds"] == 5 and fit["out_of_fold_answers"] == len(pools), fit
    knots = model.calibration.isotonic
    assert knots is not None and list(knots[1]) == sorted(knots[1]), "monotone recalibration"
    assert all(0.0 < y < 1.0 for y in knots[1]), "never certain"
    plain = fit_model(pools, DEFAULT_PARAMS, {}, isotonic=False)
    assert plain.calibration.isotonic is None


@pytest.fixture(scope="module")
def models_with_predictor(tmp_path_factory, tiny_models_dir) -> Path:
    import torch

    from nmrpeak_cli.predict.model import ModelConfig, ShiftModel
    from nmrpeak_cli.predict.weights import save_model

    folder = tmp_path_factory.mktemp("models_full")
    for path in tiny_models_dir.iterdir():
        shutil.copy(path, folder / path.name)
    torch.manual_seed(0)
    save_model(ShiftModel(ModelConfig(hidden=16, layers=2)), folder / "predictor.safetensors")
    return folder


@pytest.mark.integration
def test_a_whole_benchmark_run_returns_no_other_formula(
    models_with_predictor, monkeypatch, tmp_path
) -> None:
    monkeypatch.setenv("NMRPEAK_MODELS", str(models_with_predictor))
    table = tmp_path / "truth.csv"
    table.write_text(
        "id,c13,h1,formula,smiles\n"
        'ethanol,"58.3, 18.4","3.69 (q, 2H), 1.22 (t, 3H)",C2H6O,CCO\n'
        'acetic,"177.9, 20.8","2.10 (s, 3H)",C2H4O2,CC(=O)O\n'
        'acetone,"206.7, 30.8","2.17 (s, 6H)",C3H6O,CC(C)=O\n'
        'benzene,"128.4","7.36 (s, 6H)",C6H6,c1ccccc1\n'
    )
    out = tmp_path / "report.json"
    result = CliRunner().invoke(
        app, ["bench", "elucidate", "--split", str(table), "--data", str(tmp_path), "--size", "4",
              "--ssr-only", "--work-dir", str(tmp_path / "work"), "-o", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    with_formula = {k: v for k, v in report["sets"].items() if "formula" in k}
    assert with_formula and all(s["queries"] == 4 for s in with_formula.values()), report["sets"]
    assert all(s["other_formula"] == 0 for s in with_formula.values()), with_formula
    assert out.with_suffix(".md").is_file()
    assert report["generator_weights"] == "generator.safetensors", "what a fitted card pins"
    assert set(report["search_weights"]) == {"w_similarity", "w_logprob", "bias"}


@pytest.mark.integration
def test_a_library_predicted_by_another_model_is_a_usage_error(
    models_with_predictor, monkeypatch, tmp_path
) -> None:
    from nmrpeak_cli.retrieve.build import build_library
    from tests.retrieve.conftest import MOLECULES, FakePredictor

    monkeypatch.setenv("NMRPEAK_MODELS", str(models_with_predictor))
    build_library(MOLECULES, tmp_path / "lib", FakePredictor(), part_size=5)
    result = CliRunner().invoke(
        app, ["elucidate", "-l", str(tmp_path / "lib"), "--c13", "206.7, 30.8"]
    )
    assert result.exit_code == 2, result.output
    assert "was predicted by predictor" in result.output and "rebuild" in result.output
