"""Model save/load through safetensors + JSON card, and load errors."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from nmrpeak_cli.errors import NotAvailableError
from nmrpeak_cli.predict.featurize import featurize, parse_molecule, solvent_index
from nmrpeak_cli.predict.model import collate
from nmrpeak_cli.predict.weights import load_model


def _batch():
    return collate(
        [featurize(parse_molecule(s), solvent_index(None)) for s in ("CCO", "Cc1ccc(C)cc1")]
    )


def test_round_trip_gives_identical_predictions(tiny_weights, tmp_path):
    from nmrpeak_cli.predict.weights import save_model

    model = load_model(tiny_weights)
    again = tmp_path / "copy.safetensors"
    save_model(model, again)
    with torch.inference_mode():
        assert torch.equal(model(_batch()), load_model(again)(_batch())), "reloaded weights differ"
    card = json.loads(again.with_suffix(".json").read_text())
    assert card["config"]["hidden"] == 16 and len(card["sha256"]) == 64


def test_symmetric_atoms_get_equal_predictions(tiny_weights):
    with torch.inference_mode():
        out = load_model(tiny_weights)(_batch())
    xylene = out[3:]  # atoms of Cc1ccc(C)cc1
    assert torch.allclose(xylene[0], xylene[5]) and torch.allclose(xylene[2], xylene[6]), (
        "methyls/CH differ"
    )


def test_missing_weights_say_so(tmp_path):
    with pytest.raises(NotAvailableError, match="not found"):
        load_model(tmp_path / "nothing.safetensors")


def test_corrupt_weights_are_detected(tiny_weights, tmp_path):
    bad = tmp_path / "predictor.safetensors"
    shutil.copy(tiny_weights, bad)
    shutil.copy(tiny_weights.with_suffix(".json"), bad.with_suffix(".json"))
    data = bytearray(bad.read_bytes())
    data[-5] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(NotAvailableError, match="corrupt"):
        load_model(bad)


def test_version_1_weights_still_load_and_read_a_prefix(tiny_weights, tmp_path):
    """Feature layouts are append-only: a version-1 model reads the first 54 columns."""
    from dataclasses import replace

    from nmrpeak_cli.predict.featurize import ATOM_DIM_V1
    from nmrpeak_cli.predict.model import ShiftModel
    from nmrpeak_cli.predict.weights import save_model

    config = replace(load_model(tiny_weights).config, atom_dim=ATOM_DIM_V1, feature_version="1")
    old = tmp_path / "v1.safetensors"
    save_model(ShiftModel(config), old)
    with torch.inference_mode():
        out = load_model(old)(_batch())
    assert out.shape == (3 + 8, 2) and torch.isfinite(out).all()


def test_feature_width_not_matching_its_version_is_refused(tiny_weights, tmp_path):
    from dataclasses import replace

    from nmrpeak_cli.predict.model import ShiftModel
    from nmrpeak_cli.predict.weights import save_model

    config = replace(load_model(tiny_weights).config, atom_dim=60, feature_version="2")
    bad = tmp_path / "bad.safetensors"
    save_model(ShiftModel(config), bad)
    with pytest.raises(NotAvailableError, match="feature version 2 \\(60 atom features\\)"):
        load_model(bad)


def test_grown_model_computes_the_same_function(tiny_weights, tmp_path):
    from dataclasses import replace

    from nmrpeak_cli.predict.featurize import ATOM_DIM, ATOM_DIM_V1
    from nmrpeak_cli.predict.model import ShiftModel, grow_model

    torch.manual_seed(1)
    config = replace(load_model(tiny_weights).config, atom_dim=ATOM_DIM_V1, feature_version="1")
    old = ShiftModel(config).eval()
    grown = grow_model(old, layers=4).eval()
    assert grown.config.layers == 4 and grown.config.atom_dim == ATOM_DIM
    with torch.inference_mode():
        assert torch.allclose(old(_batch()), grown(_batch()), atol=1e-5), "growing changed outputs"
    with pytest.raises(ValueError, match="cannot shrink"):
        grow_model(grown, layers=1)


def test_float16_export_is_half_the_size_and_predicts_the_same(tiny_weights, tmp_path):
    from nmrpeak_cli.predict.weights import save_model

    model = load_model(tiny_weights)
    full, half = tmp_path / "full.safetensors", tmp_path / "half.safetensors"
    save_model(model, full)
    card = json.loads(save_model(model, half, half=True).read_text())
    assert card["dtype"] == "float16" and half.stat().st_size < 0.6 * full.stat().st_size
    reloaded = load_model(half)
    assert next(reloaded.parameters()).dtype == torch.float32, "loaded back as float32"
    with torch.inference_mode():
        assert torch.allclose(model(_batch()), reloaded(_batch()), atol=0.05)
