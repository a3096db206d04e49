"""Global -q/-v/--seed are accepted before or after the subcommand (typer's CliRunner)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import nmrpeak_cli.cli.common as common
from nmrpeak_cli.cli.app import app, hoist_global_options

runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["predict", "x.smi", "-q"], ["-q", "predict", "x.smi"]),
        (["library", "default", "--seed", "3", "-v"], ["--seed", "3", "-v", "library", "default"]),
        (["-q", "retrieve", "--seed=2", "q.csv"], ["-q", "--seed=2", "retrieve", "q.csv"]),
        (["similarity", "--", "-q", "1.0"], ["similarity", "--", "-q", "1.0"]),
        (["predict", "--seed"], ["--seed", "predict"]),
    ],
    ids=["flag", "valued", "equals", "after-dashdash", "missing-value"],
)
def test_hoisting_moves_only_global_options(args: list[str], expected: list[str]) -> None:
    assert hoist_global_options(args) == expected


@pytest.fixture
def contexts(monkeypatch: pytest.MonkeyPatch) -> list:
    """Every run context a command asked for (through ``cli.common.run_context``)."""
    seen: list = []
    original = common.run_context

    def recording(ctx):
        context = original(ctx)
        seen.append(context)
        return context

    monkeypatch.setattr(common, "run_context", recording)
    return seen


def test_predict_accepts_global_options_after_the_subcommand(tmp_path, contexts) -> None:
    from nmrpeak_cli.predict.model import ModelConfig, ShiftModel
    from nmrpeak_cli.predict.weights import save_model

    weights = tmp_path / "predictor.safetensors"
    save_model(ShiftModel(ModelConfig(hidden=16, layers=2)), weights)
    molecules = tmp_path / "x.smi"
    molecules.write_text("CCO ethanol\n")
    out = tmp_path / "out.jsonl"
    args = ["predict", str(molecules), "--weights", str(weights), "-o", str(out)]
    result = runner.invoke(app, [*args, "--device", "cpu", "-q", "--seed", "5"])
    assert result.exit_code == 0, result.output
    assert out.read_text().count("\n") == 1, "one prediction row"
    assert contexts and contexts[-1].quiet and contexts[-1].seed == 5, contexts


class _Stop(Exception):
    pass


def test_library_default_accepts_quiet_after_the_subcommand(
    tmp_path, contexts, monkeypatch
) -> None:
    import nmrpeak_cli.predict.forward as forward

    def stop(*args, **kwargs):
        raise _Stop

    monkeypatch.setattr(forward, "load_forward_model", stop)
    args = ["library", "default", "--moses", "0", "-o", str(tmp_path / "lib"), "--device", "cpu"]
    result = runner.invoke(app, [*args, "-q", "-v"])
    assert isinstance(result.exception, _Stop), result.output
    assert contexts[-1].quiet and contexts[-1].verbose, contexts


def test_similarity_with_global_options_on_both_sides() -> None:
    result = runner.invoke(app, ["-v", "similarity", "170.1, 128.3", "170.0, 128.5", "-q"])
    assert result.exit_code == 0, result.output
    assert float(result.output.splitlines()[0]) > 0.99
    assert "13C: score" in result.output, "-v (before the command) shows the matches"


def test_data_prepare_has_no_private_quiet_or_seed() -> None:
    result = runner.invoke(app, ["data", "prepare", "--help"])
    assert result.exit_code == 0
    options = [line.split()[1] for line in result.output.splitlines() if line.startswith("│ -")]
    assert options and not {"--seed", "--quiet", "-q"} & set(options), options


def test_training_resume_has_its_own_name_and_keeps_the_old_one() -> None:
    import typer.main

    train = typer.main.get_command(app).commands["train"]
    for name in ("predictor", "generator"):
        (flags,) = [p.opts for p in train.commands[name].params if p.name == "resume"]
        assert flags == ["--resume-training", "--resume"], (name, flags)
    batch = typer.main.get_command(app).commands["predict"]
    (flags,) = [p.opts for p in batch.params if p.name == "resume"]
    assert flags == ["--resume"], "batch outputs keep --resume"
