"""Model config, tokenizer integration and save/load round trips."""

from __future__ import annotations

import json

import pytest
import torch

from nmrpeak_cli.errors import NotAvailableError
from nmrpeak_cli.generate.inputs import canonical_input
from nmrpeak_cli.generate.model import (
    GeneratorConfig,
    build_generator,
    load_generator,
    save_generator,
)
from nmrpeak_cli.tokenizer import BOS, EOS


def test_config_round_trip_and_validation() -> None:
    config = GeneratorConfig(src_vocab=50, tgt_vocab=20, d_model=32, n_heads=4)
    assert GeneratorConfig.from_dict(config.to_dict()) == config, "config must survive JSON"
    with pytest.raises(ValueError, match="multiple of n_heads"):
        GeneratorConfig(src_vocab=5, tgt_vocab=5, d_model=30, n_heads=4)
    with pytest.raises(ValueError, match="unknown generator config keys"):
        GeneratorConfig.from_dict({**config.to_dict(), "colour": "red"})


def test_tokenizer_integration(tiny_generator, tiny_pairs) -> None:
    for pair in tiny_pairs:
        ids = tiny_generator.spectrum_tokenizer.encode(pair.spectrum)
        assert ids[0] == BOS and ids[-1] == EOS, f"{pair.smiles}: spectrum ids must be framed"
        decoded = tiny_generator.spectrum_tokenizer.decode(ids)
        assert len(decoded.c13 or ()) == len(pair.spectrum.c13 or ()), "13C peaks must survive"
        bound = tiny_generator.spectrum_tokenizer.c13_bins.max_error()
        if pair.spectrum.c13:
            error = abs(decoded.c13.shifts - pair.spectrum.c13.shifts).max()
            assert error <= bound + 1e-9, f"13C quantization error {error} above bound {bound}"
        smiles_ids = tiny_generator.smiles_tokenizer.encode(pair.smiles)
        assert tiny_generator.smiles_tokenizer.decode(smiles_ids[1:]) == pair.smiles


def test_canonical_input_merges_13c_duplicates_and_drops_truth() -> None:
    from nmrpeak_cli.spectra import Spectrum

    spectrum = Spectrum("x", c13=[128.40, 128.41, 20.0], smiles="CCO")
    canonical = canonical_input(spectrum)
    assert list(canonical.c13.shifts) == [128.41, 20.0], "close 13C shifts are one signal"
    assert canonical.smiles is None, "the model must never see the truth"


def test_save_load_round_trip(tmp_path, tiny_generator, tiny_pairs) -> None:
    path = tmp_path / "generator.safetensors"
    card = save_generator(tiny_generator, path, {"note": "round trip"})
    loaded = load_generator(path)
    assert json.loads(card.read_text())["note"] == "round trip", "provenance must be in the card"
    assert (tmp_path / "generator.tokenizer.json").is_file(), "tokenizers travel with the weights"
    src = torch.tensor([tiny_generator.spectrum_tokenizer.encode(tiny_pairs[0].spectrum)])
    tgt = torch.tensor([[BOS, 5, 6]])
    with torch.inference_mode():
        before = tiny_generator.model(src, tgt)
        after = loaded.model(src, tgt)
    assert torch.allclose(before, after), "a reloaded model must give the same logits"
    assert loaded.spectrum_tokenizer.vocab == tiny_generator.spectrum_tokenizer.vocab


def test_load_refuses_corrupt_or_missing_weights(tmp_path, tiny_generator, tiny_pairs) -> None:
    path = tmp_path / "generator.safetensors"
    save_generator(tiny_generator, path)
    with open(path, "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(NotAvailableError, match="corrupt"):
        load_generator(path)
    with pytest.raises(NotAvailableError, match="train them with"):
        load_generator(tmp_path / "missing.safetensors")


def test_build_generator_is_seeded(tiny_generator, tiny_pairs) -> None:
    a = build_generator(
        tiny_generator.spectrum_tokenizer,
        tiny_generator.smiles_tokenizer,
        seed=3,
        d_model=16,
        n_heads=2,
        n_encoder_layers=1,
        n_decoder_layers=1,
        d_ff=32,
    )
    b = build_generator(
        tiny_generator.spectrum_tokenizer,
        tiny_generator.smiles_tokenizer,
        seed=3,
        d_model=16,
        n_heads=2,
        n_encoder_layers=1,
        n_decoder_layers=1,
        d_ff=32,
    )
    for (name, x), (_, y) in zip(
        a.model.state_dict().items(), b.model.state_dict().items(), strict=True
    ):
        assert torch.equal(x, y), f"{name}: same seed must give the same initialization"


def test_half_precision_weights_load_as_float32(tmp_path, tiny_generator, tiny_pairs) -> None:
    path = tmp_path / "generator.safetensors"
    save_generator(tiny_generator, path, half=True)
    loaded = load_generator(path)
    assert loaded.card["dtype"] == "float16", "the card must say how the weights are stored"
    assert next(loaded.model.parameters()).dtype == torch.float32, "the model computes in fp32"
    src = torch.tensor([tiny_generator.spectrum_tokenizer.encode(tiny_pairs[0].spectrum)])
    tgt = torch.tensor([[BOS, 5, 6]])
    with torch.inference_mode():
        difference = (tiny_generator.model(src, tgt) - loaded.model(src, tgt)).abs().max()
    assert difference < 0.05, f"float16 storage changed the logits by {difference}"


def test_incremental_decoding_matches_full_decoding(tiny_generator, tiny_pairs) -> None:
    model = tiny_generator.model
    src = torch.tensor(
        [tiny_generator.spectrum_tokenizer.encode(p.spectrum) for p in tiny_pairs[:1]] * 2
    )
    tgt = torch.tensor([[BOS, 5, 7, 6], [BOS, 6, 6, 5]])
    with torch.inference_mode():
        memory, mask = model.encode(src)
        full = model.decode(tgt, memory, mask)
        cache = model.start_decoding(memory, mask)
        for position in range(tgt.shape[1]):
            step, cache = model.decode_step(tgt[:, position], position, cache)
            assert torch.allclose(step, full[:, position], atol=1e-4), (
                f"position {position} differs"
            )
