"""The simulated corpus: resumable parts, leakage refusal, manifest, readable as training pairs."""

from __future__ import annotations

import hashlib

import pytest

from nmrpeak_cli.data.splits import molecule_keys
from nmrpeak_cli.errors import LeakageError
from nmrpeak_cli.generate.corpus import (
    read_corpus,
    read_manifest,
    simulate_corpus,
    write_manifest,
)
from nmrpeak_cli.generate.pairs import load_pairs
from nmrpeak_cli.spectra import Spectrum


def fake_predictor(calls: list[int]):
    def predict(smiles, solvent):
        calls.append(len(smiles))
        return [
            None
            if s == "CCN"
            else Spectrum(
                "p",
                c13=[30.0 + i],
                h1=[{"shift": 1.0, "integration": 3}, {"shift": 2.0, "multiplicity": "br s"}],
            )
            for i, s in enumerate(smiles)
        ]

    return predict


def test_corpus_parts_are_resumable_and_readable(tmp_path) -> None:
    calls: list[int] = []
    smiles = ["CCO", "CCC", "CCN", "CCCl", "CCO"]
    parts = simulate_corpus(smiles, tmp_path, fake_predictor(calls), part_size=2)
    assert len(parts) == 2 and calls == [2, 2], "4 unique molecules in parts of 2"
    again = simulate_corpus(smiles, tmp_path, fake_predictor(calls), part_size=2)
    assert again == parts and calls == [2, 2], "finished parts must not be predicted again"
    pairs = load_pairs(tmp_path)
    assert sorted(p.smiles for p in pairs) == ["CCC", "CCCl", "CCO"], (
        "failed predictions are left out"
    )
    for pair in pairs:
        assert pair.spectrum.formula, "simulated pairs carry the formula"
        assert [p.shift for p in pair.spectrum.h1] == [1.0], "exchangeable (br s) protons dropped"
    assert read_corpus(tmp_path) == parts


def test_corpus_refuses_held_out_molecules(tmp_path) -> None:
    with pytest.raises(LeakageError, match="held-out"):
        simulate_corpus(
            ["CCO", "OCC"], tmp_path, fake_predictor([]), held_out_keys=molecule_keys(["CCO"])
        )


def test_manifest_names_the_forward_model_and_counts_spectra(tmp_path) -> None:
    corpus = tmp_path / "corpus"
    parts = simulate_corpus(["CCO", "CCC", "CCN"], corpus, fake_predictor([]), part_size=2)
    assert read_manifest(corpus) is None, "no manifest before one is written"
    weights = tmp_path / "predictor.safetensors"
    weights.write_bytes(b"weights")
    write_manifest(
        corpus, split="random", data="data", predictor_weights=weights, parts=parts, command="x"
    )
    manifest = read_manifest(corpus)
    assert manifest["split"] == "random" and manifest["predictor"] == str(weights)
    assert manifest["command"] == "x"
    assert manifest["predictor_sha256"] == hashlib.sha256(b"weights").hexdigest()
    assert manifest["parts"] == 2 and manifest["spectra"] == 2, "CCN failed: 2 spectra written"
