"""Training settings, batches, leakage refusal, resumable training and the model card."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nmrpeak_cli.errors import LeakageError
from nmrpeak_cli.generate.batches import length_batches
from nmrpeak_cli.generate.model import load_generator
from nmrpeak_cli.generate.train import (
    TrainConfig,
    train_generator,
    train_phase,
)


def test_config_updates_are_typed_and_checked() -> None:
    config = TrainConfig().updated({"lr": 1, "max_minutes": 5, "augmentation": {"drop_peak": 0.1}})
    assert (config.lr, config.max_minutes, config.augmentation.drop_peak) == (1.0, 5, 0.1)
    assert isinstance(config.lr, float) and config.d_model == TrainConfig().d_model
    for bad, message in [
        ({"layers": 3}, "unknown settings"),
        ({"d_ff": 1.5}, "whole number"),
        ({"lr": "fast"}, "expected float"),
        ({"augmentation": {"jitter": 1}}, "augmentation"),
        ([1], "JSON object"),
    ]:
        with pytest.raises(ValueError, match=message):
            TrainConfig().updated(bad)


def test_length_batches_cover_an_epoch_with_little_padding() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 120, 5000)
    batches = length_batches(lengths, 64, rng)
    assert sorted(np.concatenate(batches).tolist()) == list(range(5000)), "each example once"
    padded = np.mean([lengths[b].max() for b in batches])
    random_padded = np.mean([lengths[rng.choice(5000, 64)].max() for _ in range(100)])
    assert padded < 0.7 * random_padded, (padded, random_padded)
    other = length_batches(lengths, 64, np.random.default_rng(1))
    assert any((a != b).any() for a, b in zip(batches, other, strict=False)), "order is random"


def test_batches_are_the_same_with_and_without_workers(tiny_generator, tiny_pairs) -> None:
    from dataclasses import replace

    from nmrpeak_cli.generate.batches import batch_stream

    config = replace(TrainConfig.quick(), batch_size=2)
    for first_step in (0, 7):
        here = batch_stream(tiny_generator, tiny_pairs, config, first_step, workers=0)
        forked = batch_stream(tiny_generator, tiny_pairs, config, first_step, workers=2)
        for _ in range(5):  # crosses an epoch boundary (3 batches per epoch)
            (src_a, tgt_a), (src_b, tgt_b) = next(here), next(forked)
            assert np.array_equal(src_a, src_b) and np.array_equal(tgt_a, tgt_b)
        forked.close()
    later = next(batch_stream(tiny_generator, tiny_pairs, config, 1, workers=0))
    first = next(batch_stream(tiny_generator, tiny_pairs, config, 0, workers=0))
    assert not np.array_equal(later[0], first[0]), "a resumed run draws new batches"


def test_train_generator_refuses_leaks(tmp_path, tiny_pairs) -> None:
    with pytest.raises(LeakageError):
        train_generator(
            tiny_pairs,
            tiny_pairs,
            ["CCO"],
            TrainConfig.quick(),
            tmp_path,
            tmp_path / "g.safetensors",
        )


def test_resume_continues_from_the_checkpoint(tmp_path, tiny_pairs) -> None:
    from dataclasses import replace

    config = replace(TrainConfig.quick(), max_steps=10, eval_every=5)
    first = train_phase(tiny_pairs, tiny_pairs, config, tmp_path)
    assert first.steps == 10
    resumed = train_phase(
        tiny_pairs, tiny_pairs, replace(config, max_steps=20), tmp_path, resume=True
    )
    assert resumed.steps == 20, "resume must continue at step 10, not restart"
    assert [h["step"] for h in resumed.history] == [5, 10, 15, 20], "history must carry over"


def test_curriculum_writes_weights_and_card(tmp_path, tiny_pairs) -> None:
    from dataclasses import replace

    config = replace(TrainConfig.quick(), max_steps=6, eval_every=3)
    out = tmp_path / "generator.safetensors"
    train_generator(
        tiny_pairs[:4], tiny_pairs[4:], [p.smiles for p in tiny_pairs[4:]], config, tmp_path / "run",
        out, pretrain_pairs=tiny_pairs[:3], card={"data": "test"},
    )  # fmt: skip
    card = json.loads(out.with_suffix(".json").read_text())
    assert set(card["phases"]) == {"pretrain", "finetune"}, "both phases must be recorded"
    assert card["data"] == "test" and card["sha256"], card
    assert "13C" in card["tokenizer_report_valid"], "the quantization report travels in the card"
    load_generator(out)

    # a later fine-tune-only call (another job) still records what the pretraining did
    train_generator(
        tiny_pairs[:4], tiny_pairs[4:], [p.smiles for p in tiny_pairs[4:]], config, tmp_path / "run",
        out, stages=("finetune",), card={"pretrain": None},
    )  # fmt: skip
    pretrain = json.loads(out.with_suffix(".json").read_text())["phases"]["pretrain"]
    assert pretrain["steps"] == card["phases"]["pretrain"]["steps"] == 6, pretrain
    assert pretrain["weights"].endswith("best.safetensors") and pretrain["pairs"] == 3
