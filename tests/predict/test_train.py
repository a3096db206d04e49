"""Quick assignment-free training on a tiny table: runs, checkpoints, resumes, exports."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from nmrpeak_cli.predict.dataset import records_from_rows
from nmrpeak_cli.predict.train import TrainConfig, batch_targets, export_predictor, train_predictor
from nmrpeak_cli.predict.weights import load_model


def test_batch_targets_use_cascade_atoms_directly(tiny_rows):
    records, skipped = records_from_rows(tiny_rows[:2])
    assert not skipped
    shifts = np.zeros((sum(r.graph.n_atoms for r in records), 2))
    offsets = np.cumsum([0] + [r.graph.n_atoms for r in records])
    targets = batch_targets(records, shifts, offsets)
    assert targets["c13_atoms"][0] == 0 and targets["c13_values"][0] == pytest.approx(18.0), (
        "CASCADE atom 0"
    )
    assert len(targets["c13_atoms"]) == 1 + 3, "ethanol: 1 mapped atom; acetone: 3 matched carbons"
    assert len(targets["h1_atoms"]) == 6 + 6, "every listed proton matched"


@pytest.mark.slow
def test_quick_training_resume_and_export(tiny_table, tmp_path):
    config = TrainConfig.quick(
        data=str(tiny_table), out_dir=str(tmp_path / "run"), epochs=2, hidden=16, layers=2
    )
    lines: list[str] = []
    result = train_predictor(config, log=lines.append)
    assert result.epochs_run == 2 and result.best_weights.is_file(), lines
    assert (tmp_path / "run" / "last.safetensors").is_file()
    resumed = train_predictor(replace(config, epochs=3), resume=True, log=lines.append)
    assert resumed.epochs_run == 3, f"resume should run one more epoch: {lines}"
    assert any("resumed at epoch 2" in line for line in lines)
    card = export_predictor(
        tmp_path / "run",
        tmp_path / "predictor.safetensors",
        "nmrpeak train predictor --quick",
        log=lines.append,
    )
    meta = json.loads(card.read_text())
    assert {"valid", "test", "training_command", "data", "architecture_note"} <= set(meta), sorted(
        meta
    )
    assert load_model(tmp_path / "predictor.safetensors").config.hidden == 16
