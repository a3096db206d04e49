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
