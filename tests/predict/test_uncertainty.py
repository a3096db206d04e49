"""Per-peak uncertainty: calibration fits, ensembles, and sds in predictions."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from nmrpeak_cli.predict.uncertainty import (
    FACTOR_FAMILIES,
    NOVELTY_BINS,
    MoleculeContext,
    NucleusCalibration,
    NucleusResiduals,
    UncertaintyCalibration,
    Z,
    calibrate_predictor,
    coverage,
    cross_validated_coverage,
    fit_nucleus,
    fit_residuals,
)


def test_floors_give_90_percent_coverage_per_environment():
    rng = np.random.default_rng(0)
    labels = ["aromatic"] * 4000 + ["C=O"] * 4000 + ["rare"] * 10
    residuals = np.concatenate([rng.normal(0, 1.0, 4000), rng.normal(0, 3.0, 4000), [9.0] * 10])
    fitted = fit_nucleus(residuals, np.zeros(residuals.size), labels)
    assert fitted.spread_weight == 0.0 and "rare" not in fitted.floors, "too few atoms: pooled"
    assert fitted.floors["aromatic"] == pytest.approx(1.0, rel=0.05)
    assert fitted.floors["C=O"] == pytest.approx(3.0, rel=0.05)
    for label, scale in (("aromatic", 1.0), ("C=O", 3.0)):
        test = rng.normal(0, scale, 20000)
        assert coverage(test, fitted.sd(np.zeros(test.size), [label] * test.size)) == (
            pytest.approx(0.90, abs=0.01)
        )


def test_an_informative_spread_gets_weight_and_narrower_intervals():
    rng = np.random.default_rng(1)
    spread = rng.uniform(0.2, 3.0, 20000)
    residuals = spread * rng.normal(0, 1, spread.size)
    labels = ["sp3 alkyl"] * spread.size
    fitted = fit_nucleus(residuals, spread, labels)
    floor_only = fit_nucleus(residuals, np.zeros(spread.size), labels)
    assert fitted.spread_weight > 0
    assert np.mean(fitted.sd(spread, labels)) < np.mean(floor_only.sd(spread, labels))
    assert coverage(residuals, fitted.sd(spread, labels)) >= 0.90


def test_calibration_round_trips_and_names_what_is_missing():
    calibration = UncertaintyCalibration(
        NucleusCalibration(1.0, 2.0, {"C=O": 3.0}), NucleusCalibration(0.0, 0.2), members=3
    )
    assert UncertaintyCalibration.from_dict(calibration.to_dict()) == calibration
    with pytest.raises(ValueError, match="h1"):
        UncertaintyCalibration.from_dict({"c13": calibration.c13.to_dict()})


def _novelty_table(seed: int, n_molecules: int = 3000) -> NucleusResiduals:
    """10 atoms per molecule, error scale growing with the molecule's novelty; size carries
    no information."""
    rng = np.random.default_rng(seed)
    novelty = np.repeat(rng.uniform(0, 1, n_molecules), 10)
    heavy = np.repeat(rng.integers(5, 40, n_molecules), 10).astype(float)
    residuals = rng.normal(0, 1, novelty.size) * (0.5 + 1.5 * novelty)
    labels = ["aromatic|new"] * novelty.size
    molecule = np.repeat(np.arange(n_molecules), 10)
    context = MoleculeContext(novelty, heavy)
    return NucleusResiduals(residuals, np.zeros(novelty.size), labels, context, molecule)


def test_molecule_factors_restore_coverage_on_new_molecules():
    fitted = fit_residuals(_novelty_table(2))
    novelty, size = (fitted.factors[f] for f in FACTOR_FAMILIES)
    assert list(novelty) == sorted(novelty), "newer, wider"
    assert size == pytest.approx((1.0,) * 4, abs=0.08), "size is not informative"
    test = _novelty_table(3)
    newest = test.context.novelty > NOVELTY_BINS[-1]
    floors_only = test.sd(fitted.without_factors())
    assert coverage(test.residuals[newest], floors_only[newest]) < 0.85
    for chosen in (newest, ~newest, test.context.heavy_atoms > 30):
        assert coverage(test.residuals[chosen], test.sd(fitted)[chosen]) == pytest.approx(
            0.90, abs=0.02
        )
    assert coverage(test.residuals, test.sd(fitted)) == pytest.approx(0.90, abs=0.01)
    pooled, low, high = cross_validated_coverage(test, test.molecule % 5)
    assert low <= pooled <= high and pooled == pytest.approx(0.90, abs=0.01)


def test_molecule_factors_round_trip_and_old_cards_read_as_one():
    factors = {"novelty": (0.8, 0.9, 1.0, 1.2), "heavy_atoms": (0.9,) * 4}
    calibration = NucleusCalibration(0.0, 2.0, {"C=O": 3.0}, factors)
    data = calibration.to_dict()
    assert NucleusCalibration.from_dict(json.loads(json.dumps(data))) == calibration
    context = MoleculeContext(novelty=0.7, heavy_atoms=12)
    assert calibration.sd(np.zeros(2), ["C=O", "x"], context) == pytest.approx([3.24, 2.16])
    assert calibration.sd(np.zeros(1), ["C=O"]) == pytest.approx([3.0]), "no molecule: factor 1"
    old = {k: v for k, v in data.items() if not k.startswith("factor")}
    assert NucleusCalibration.from_dict(old) == calibration.without_factors()
    with pytest.raises(ValueError, match="novelty factor bins"):
        NucleusCalibration.from_dict(data | {"factor_bins": {"novelty": [0.2, 0.5, 0.8]}})
    with pytest.raises(ValueError, match="family 'solvent'"):
        NucleusCalibration.from_dict(data | {"factors": {"solvent": [1.0] * 8}})


@pytest.fixture
def ensemble_dir(tiny_weights, tmp_path):
    from nmrpeak_cli.predict.model import ShiftModel
    from nmrpeak_cli.predict.weights import load_model, save_model

    shutil.copy(tiny_weights, tmp_path / "predictor.safetensors")
    shutil.copy(tiny_weights.with_suffix(".json"), tmp_path / "predictor.json")
    torch.manual_seed(5)
    save_model(ShiftModel(load_model(tiny_weights).config), tmp_path / "member2.safetensors")
    return tmp_path


def test_ensemble_calibrated_on_validation_gives_peak_sds(ensemble_dir, tiny_table):
    from nmrpeak_cli.predict.infer import predict_records, prediction_row
    from nmrpeak_cli.predict.model import ShiftEnsemble
    from nmrpeak_cli.predict.weights import load_model

    weights = ensemble_dir / "predictor.safetensors"
    calibration = calibrate_predictor(
        weights,
        data=tiny_table,
        split_column="split_random",  # its validation rows carry both nuclei
        members=[ensemble_dir / "member2.safetensors"],
    )
    card = json.loads(weights.with_suffix(".json").read_text())
    assert card["ensemble"] == ["member2.safetensors"] and card["uncertainty"]["members"] == 2
    assert calibration.validation["c13_coverage"] >= 0.9
    model = load_model(weights)
    assert isinstance(model, ShiftEnsemble) and len(model.members) == 2
    assert model.uncertainty == calibration
    (prediction,) = predict_records([("x", "CC(=O)OCC")], model=model, device="cpu")
    c13_sd, h1_sd = prediction.shift_sd
    assert len(c13_sd) == len(prediction.spectrum.c13) and min(c13_sd) > 0
    assert len(h1_sd) == len(prediction.spectrum.h1) and min(h1_sd) > 0
    row = prediction_row(prediction)
    assert row["c13"][0]["shift_sd"] == pytest.approx(round(c13_sd[0], 2))
    assert Z * min(c13_sd) < 1000, "finite intervals"


def test_without_calibration_sds_are_null(tiny_weights):
    from nmrpeak_cli.predict.infer import predict_records, prediction_row

    (prediction,) = predict_records([("x", "CCO")], weights=tiny_weights, device="cpu")
    assert prediction.shift_sd == ((), ())
    assert all(p["shift_sd"] is None for p in prediction_row(prediction)["c13"])


def test_members_must_sit_next_to_the_primary(ensemble_dir, tiny_table, tmp_path_factory):
    from nmrpeak_cli.errors import InputFileError

    elsewhere = tmp_path_factory.mktemp("other") / "m.safetensors"
    shutil.copy(ensemble_dir / "member2.safetensors", elsewhere)
    with pytest.raises(InputFileError, match="must sit next to"):
        calibrate_predictor(
            ensemble_dir / "predictor.safetensors",
            data=tiny_table,
            split_column="split_scaffold",
            members=[elsewhere],
        )


def test_uncertainty_can_be_skipped_for_scoring_only_callers(ensemble_dir, tiny_table):
    from nmrpeak_cli.predict.infer import predict_records
    from nmrpeak_cli.predict.weights import load_model

    weights = ensemble_dir / "predictor.safetensors"
    calibrate_predictor(weights, data=tiny_table, split_column="split_random")
    model = load_model(weights)
    (with_sd,) = predict_records([("x", "CCO")], model=model, device="cpu")
    (without,) = predict_records([("x", "CCO")], model=model, device="cpu", uncertainty=False)
    assert min(with_sd.shift_sd[0]) > 0 and without.shift_sd == ((), ())
    assert without.spectrum == with_sd.spectrum, "the same spectrum either way"
