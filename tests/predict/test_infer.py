"""Inference: rows of the prediction schema, per-record errors, the Python API."""

from __future__ import annotations

import pytest
from rdkit import Chem

from nmrpeak_cli.errors import ChemistryError
from nmrpeak_cli.predict.infer import predict_records, predict_spectra, prediction_row
from nmrpeak_cli.schema import PREDICTION_SCHEMA, rows_to_table


def test_rows_fit_the_schema_and_bad_records_do_not_stop_the_batch(tiny_weights):
    smiles = ["CCO", "C1CC", "[Fe]", "Cc1ccc(C)cc1", "C[N+](C)(C)C", "C[NH3+].[Cl-]"]
    predictions = list(predict_records(smiles, weights=tiny_weights, batch_size=2, device="cpu"))
    assert [p.id for p in predictions] == ["0", "1", "2", "3", "4", "5"], (
        "one result per input, in order"
    )
    errors = [p.error for p in predictions]
    assert [errors[i] for i in (0, 3, 4, 5)] == [None] * 4, f"good molecules failed: {errors}"
    assert "cannot be parsed" in errors[1] and "metal Fe" in errors[2]
    salt = predictions[5]
    assert salt.smiles == "C[NH3+]" and "removed [Cl-]" in salt.note
    assert salt.spectrum.formula == "CH6N+", "the ion's formula, charge included"
    table = rows_to_table([prediction_row(p) for p in predictions], PREDICTION_SCHEMA)
    assert table.num_rows == 6 and table.schema.equals(PREDICTION_SCHEMA)
    assert table.column("note").to_pylist()[5] == salt.note


def test_atoms_index_the_returned_canonical_smiles(tiny_weights):
    (prediction,) = predict_records([("x", "OCC(=O)c1ccccc1")], weights=tiny_weights, device="cpu")
    mol = Chem.MolFromSmiles(prediction.smiles)
    for peak in prediction.spectrum.c13:
        assert all(mol.GetAtomWithIdx(a).GetSymbol() == "C" for a in peak.atoms), (
            "13C atoms must be carbons"
        )
    exchangeable = [
        p for p, f in zip(prediction.spectrum.h1, prediction.h1_exchangeable, strict=True) if f
    ]
    assert [mol.GetAtomWithIdx(p.atoms[0]).GetSymbol() for p in exchangeable] == ["O"], (
        "the OH is flagged"
    )


def test_predict_spectra_api(tiny_weights):
    spectra = list(
        predict_spectra(["CCOC(C)=O"], weights=tiny_weights, solvent="CDCl3", exchangeable=False)
    )
    (spectrum,) = spectra
    assert spectrum.solvent == "CDCl3" and spectrum.formula == "C4H8O2"
    assert sum(p.integration for p in spectrum.c13) == 4, "every carbon in one 13C peak"
    assert sum(p.integration for p in spectrum.h1) == 8, "every hydrogen in one 1H peak"
    with pytest.raises(ChemistryError, match="molecule 0"):
        list(predict_spectra(["C1CC"], weights=tiny_weights))


def test_unknown_record_solvent_is_a_record_error(tiny_weights):
    (prediction,) = predict_records([("a", "CCO", "moonshine")], weights=tiny_weights, device="cpu")
    assert prediction.error is not None and "unknown solvent" in prediction.error


def test_package_exports_predict_spectra_lazily():
    import nmrpeak_cli

    assert nmrpeak_cli.predict_spectra is predict_spectra
