"""Retriever encoders: featurization, save/load round trip, training on a tiny table."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nmrpeak_cli.artifacts import ModelIdentity
from nmrpeak_cli.errors import NotAvailableError
from nmrpeak_cli.retrieve.encoders import (
    EncoderConfig,
    TorchEncoder,
    build_modules,
    load_encoder,
    load_fusion_weights,
    load_shipped_encoders,
    peak_batch,
    save_encoder,
)
from nmrpeak_cli.retrieve.search import FusionWeights
from nmrpeak_cli.retrieve.train import TrainConfig, formula_batches, train_encoder
from tests.retrieve.conftest import MOLECULES, FakePredictor, predicted_spectrum


def _tiny(kind: str) -> EncoderConfig:
    return EncoderConfig(kind, dim=8, hidden=16, n_freq=4, fp_bits=64)


def test_peak_batch_pads_and_masks() -> None:
    spectra = [predicted_spectrum("Cc1ccccc1"), predicted_spectrum("CCO")]
    batch = peak_batch(spectra)
    expected = [len(set(np.round(s.c13.shifts, 2))) + len(s.h1) for s in spectra]
    assert batch.mask.sum(axis=1).tolist() == expected, "distinct 13C shifts + every 1H peak"
    assert batch.shift.shape == batch.mask.shape and not batch.shift[~batch.mask].any()


@pytest.mark.parametrize("kind", ["sme", "sse"])
def test_save_load_round_trip(tmp_path: Path, kind: str) -> None:
    config = _tiny(kind)
    modules = build_modules(config)
    card = save_encoder(config, modules, tmp_path / f"retriever_{kind}.safetensors", {"note": "t"})
    loaded = load_encoder(tmp_path / f"retriever_{kind}.safetensors")
    original = TorchEncoder(config, modules, ModelIdentity(kind, card["version"], card["sha256"]))
    spectra = [predicted_spectrum(s) for _, s in MOLECULES[:4]]
    smiles = [s for _, s in MOLECULES[:4]]
    for encoder in (original, loaded):
        queries = encoder.embed_queries(spectra)
        assert queries.shape == (4, 8) and np.allclose(
            np.linalg.norm(queries, axis=1), 1, atol=1e-5
        )
    assert np.allclose(
        original.embed_entries(smiles, spectra), loaded.embed_entries(smiles, spectra)
    )
    assert loaded.identity.version == card["version"] and loaded.identity.name == kind
    assert load_shipped_encoders(tmp_path).keys() == {kind}


def test_corrupt_weights_refused(tmp_path: Path) -> None:
    config = _tiny("sse")
    path = tmp_path / "retriever_sse.safetensors"
    save_encoder(config, build_modules(config), path, {})
    path.write_bytes(path.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(NotAvailableError, match="sha256"):
        load_encoder(path)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda card: "{not json", "not valid JSON"),
        (lambda card: "[1, 2]", "not a JSON object"),
        (lambda card: json.dumps({k: v for k, v in card.items() if k != "config"}), "'config'"),
        (lambda card: json.dumps(card | {"config": {"kind": "sse", "depth": 3}}), "depth"),
        (lambda card: json.dumps(card | {"config": {**card["config"], "dim": 0}}), "dim"),
        (lambda card: json.dumps(card | {"config": card["config"] | {"feature_version": "0"}}),
         "feature version 0"),
        (lambda card: json.dumps({k: v for k, v in card.items() if k != "version"}), "version"),
        (lambda card: json.dumps({k: v for k, v in card.items() if k != "sha256"}), "sha256"),
    ],
    ids=["json", "not-object", "no-config", "unknown-key", "bad-value", "features", "version",
         "no-sha"],
)  # fmt: skip
def test_corrupt_card_refused_with_one_line(tmp_path: Path, damage, message: str) -> None:
    config = _tiny("sse")
    path = tmp_path / "retriever_sse.safetensors"
    card = save_encoder(config, build_modules(config), path, {})
    path.with_suffix(".json").write_text(damage(card))
    with pytest.raises(NotAvailableError, match=message) as caught:
        load_encoder(path)
    assert "\n" not in str(caught.value), "a one-line message"


def test_missing_card_or_weights_refused(tmp_path: Path) -> None:
    config = _tiny("sme")
    path = tmp_path / "retriever_sme.safetensors"
    save_encoder(config, build_modules(config), path, {})
    path.with_suffix(".json").unlink()
    with pytest.raises(NotAvailableError, match=r"model card .* not found"):
        load_encoder(path)
    with pytest.raises(NotAvailableError, match="not found"):
        load_encoder(tmp_path / "retriever_sse.safetensors")


def test_fusion_weights_card(tmp_path: Path) -> None:
    assert load_fusion_weights({}, tmp_path) == FusionWeights(), "no encoders: SSR alone"
    card = {"weights": {"ssr": 0.5, "sme": 0.2, "sse": 0.3}}
    (tmp_path / "retriever_fusion.json").write_text(json.dumps(card))
    assert load_fusion_weights({"sse": object()}, tmp_path) == FusionWeights(0.5, 0.0, 0.3)


def test_formula_batches_group_isomers() -> None:
    from nmrpeak_cli.retrieve.train import Pair

    spectrum = predicted_spectrum("CCO")
    pairs = [Pair(spectrum, spectrum, "CCO", f) for f in ["C2H6O"] * 4 + ["C3H8O"] * 4]
    batches = formula_batches(pairs, batch_size=4, block=4, rng=np.random.default_rng(0))
    formulas = [{pairs[i].formula for i in batch} for batch in batches]
    assert formulas == [{"C2H6O"}, {"C3H8O"}] or formulas == [{"C3H8O"}, {"C2H6O"}], formulas


def _experimental_table(path: Path) -> None:
    rng = np.random.default_rng(0)
    predictor = FakePredictor()
    rows = []
    for n, (name, smiles) in enumerate(MOLECULES * 3):
        row = predictor.predict_rows([(name, smiles)])[0]
        c13 = [
            {"shift": p["shift"] + rng.normal(0, 1.0), "n_atoms": p["n_atoms"], "n_h": None}
            for p in row["c13"]
        ]
        h1 = [
            {
                "shift": p["shift"] + rng.normal(0, 0.05),
                "integration": p["integration"],
                "multiplicity": "s",
            }
            for p in row["h1"]
        ]
        rows.append(
            {
                "id": f"{name}-{n}",
                "smiles": smiles,
                "formula": "",
                "c13": c13,
                "h1": h1,
                "solvent_c13": None,
                "solvent_h1": None,
                "split_scaffold": "valid" if n % 3 == 0 else "train",
            }
        )
    pq.write_table(pa.Table.from_pylist(rows), path)


@pytest.mark.parametrize("kind", ["sme", "sse"])
def test_train_encoder_tiny(tmp_path: Path, kind: str) -> None:
    data = tmp_path / "experimental.parquet"
    _experimental_table(data)
    config = TrainConfig(
        kind=kind, data=data, out_dir=tmp_path / "run", epochs=2, batch_size=8, dim=8, hidden=16
    )
    export = tmp_path / "models" / f"retriever_{kind}.safetensors"
    summary = train_encoder(config, FakePredictor(), export=export, log=lambda _: None)
    assert summary["train_pairs"] == 32 and summary["valid_pairs"] == 16, summary
    assert 0.0 <= summary["valid_top1_in_split"] <= 1.0
    card = json.loads(export.with_suffix(".json").read_text())
    assert card["training"]["predictor"]["version"] == "fake-1", card["training"]
    assert load_encoder(export).identity.name == kind


def _corpus(folder: Path, molecules: list[tuple[str, str]]) -> None:
    from nmrpeak_cli.schema import QUERY_SCHEMA, rows_to_table, spectrum_to_row

    folder.mkdir(parents=True)
    rows = []
    for name, smiles in molecules:
        spectrum = predicted_spectrum(smiles)
        rows.append(
            spectrum_to_row(replace(spectrum, id=f"sim:{name}", formula="C1", smiles=smiles))
        )
    pq.write_table(rows_to_table(rows, QUERY_SCHEMA), folder / "part-00000.parquet")


def test_train_encoder_pretrains_on_a_simulated_corpus(tmp_path: Path) -> None:
    data = tmp_path / "experimental.parquet"
    _experimental_table(data)
    corpus = tmp_path / "corpus"
    _corpus(corpus, [(f"m{i}", s) for i, s in enumerate(["CCCC", "CCCCO", "c1ccsc1", "CC(C)C=O"])])
    config = TrainConfig(
        kind="sme", data=data, out_dir=tmp_path / "run", epochs=1, batch_size=4, dim=8,
        hidden=16, pretrain=corpus, pretrain_epochs=2,
    )  # fmt: skip
    summary = train_encoder(config, FakePredictor(), log=lambda _: None)
    history = summary["pretrain"]["history"]
    assert [h["epoch"] for h in history] == [1, 2], summary["pretrain"]
    assert all(np.isfinite(h["loss"]) and 0 <= h["valid_top1"] <= 1 for h in history)
    assert len(summary["history"]) == 1, "then the experimental epochs"


def test_pretraining_refuses_held_out_molecules(tmp_path: Path) -> None:
    from nmrpeak_cli.errors import LeakageError

    data = tmp_path / "experimental.parquet"
    _experimental_table(data)
    valid_smiles = pq.read_table(data).to_pylist()[0]["smiles"]  # row 0 is a valid row
    corpus = tmp_path / "corpus"
    _corpus(corpus, [("ok", "CCCC"), ("leak", valid_smiles)])
    config = TrainConfig(
        kind="sse", data=data, out_dir=tmp_path / "run", epochs=1, batch_size=4, dim=8,
        hidden=16, pretrain=corpus,
    )  # fmt: skip
    with pytest.raises(LeakageError, match="validation/test molecules"):
        train_encoder(config, FakePredictor(), log=lambda _: None)


def test_jitter_moves_every_shift_and_keeps_the_peaks() -> None:
    from nmrpeak_cli.retrieve.train import jitter

    spectrum = predicted_spectrum("CC(=O)Oc1ccccc1")
    noisy = jitter(spectrum, np.random.default_rng(0))
    assert len(noisy.c13) == len(spectrum.c13) and len(noisy.h1) == len(spectrum.h1)
    assert not np.allclose(sorted(noisy.c13.shifts), sorted(spectrum.c13.shifts))
    assert np.abs(np.sort(noisy.c13.shifts) - np.sort(spectrum.c13.shifts)).max() < 10
