"""The forward-model object: one Predictor for spectra, rows and identity; loaded when used."""

from __future__ import annotations

import pytest

from nmrpeak_cli.errors import NotAvailableError
from nmrpeak_cli.predict.forward import ForwardModel, Predictor, load_forward_model
from nmrpeak_cli.predict.infer import predict_records


def test_spectra_rows_and_identity_come_from_one_model(tiny_weights) -> None:
    model = ForwardModel(tiny_weights, "cpu")
    assert isinstance(model, Predictor)
    spectra = model(["CCO", "C1CC"], None)
    assert spectra[1] is None, "a molecule the model cannot handle gets None"
    expected = next(predict_records(["CCO"], model=model.model(), uncertainty=False))
    assert spectra[0] == expected.spectrum
    rows = model.predict_rows([("a", "CCO"), ("b", "C1CC")])
    assert [r["id"] for r in rows] == ["a", "b"] and rows[1]["error"]
    assert [p["shift"] for p in rows[0]["c13"]] == pytest.approx(spectra[0].c13.shifts, abs=0.01)
    assert model.identity.name == "predictor" and len(model.identity.sha256) == 64
    assert model.model() is ForwardModel(tiny_weights, "cpu").model(), "loaded once per process"


def test_missing_weights_fail_at_call_time_or_at_load(tmp_path) -> None:
    missing = ForwardModel(tmp_path / "none.safetensors")  # constructing loads nothing
    with pytest.raises(NotAvailableError):
        missing(["CCO"], None)
    with pytest.raises(NotAvailableError):
        load_forward_model(tmp_path / "none.safetensors", device="cpu")
