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


@pytest.mark.slow
def test_a_run_killed_inside_an_epoch_resumes_at_its_step(tiny_table, tmp_path, monkeypatch):
    """checkpoint_min=0 saves before every step; a crash mid-epoch resumes at that step."""
    import nmrpeak_cli.predict.train as train

    config = TrainConfig.quick(
        data=str(tiny_table),
        out_dir=str(tmp_path / "run"),
        epochs=1,
        hidden=16,
        layers=2,
        batch_size=2,
        checkpoint_min=0.0,
    )
    real_loss, calls = train._loss, []

    def dying_loss(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt("killed")
        return real_loss(*args, **kwargs)

    monkeypatch.setattr(train, "_loss", dying_loss)
    with pytest.raises(KeyboardInterrupt):
        train_predictor(config, log=lambda _: None)
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert (state["epoch"], state["step"]) == (0, 2), "checkpoint before the third step"
    monkeypatch.setattr(train, "_loss", real_loss)
    lines: list[str] = []
    result = train_predictor(config, resume=True, log=lines.append)
    assert result.epochs_run == 1 and "resumed at epoch 0, step 2" in lines[1], lines


@pytest.mark.slow
def test_resume_refuses_another_configuration_and_code(tiny_table, tmp_path):
    from nmrpeak_cli.errors import InputFileError
    from nmrpeak_cli.predict.train import stored_config

    config = TrainConfig.quick(
        data=str(tiny_table), out_dir=str(tmp_path / "run"), epochs=1, hidden=16, layers=2
    )
    train_predictor(config, log=lambda _: None)
    assert stored_config(tmp_path / "run") == config
    with pytest.raises(InputFileError, match="hidden: checkpoint 16, given 32"):
        train_predictor(replace(config, hidden=32, epochs=2), resume=True, log=lambda _: None)
    state_path = tmp_path / "run" / "state.json"
    state = json.loads(state_path.read_text())
    state["code"]["feature_version"] = "0"
    state_path.write_text(json.dumps(state))
    with pytest.raises(InputFileError, match="feature_version': '0'"):
        stored_config(tmp_path / "run")
    with pytest.raises(InputFileError, match="no checkpoint"):
        stored_config(tmp_path / "elsewhere")
