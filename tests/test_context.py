"""The run context: --device and --jobs resolved once by the CLI and passed down."""

from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

from nmrpeak_cli.cli.app import app
from nmrpeak_cli.context import RunContext, resolve_device, resolve_jobs

runner = CliRunner()


def test_jobs_zero_means_every_core() -> None:
    cores = os.cpu_count() or 1
    assert resolve_jobs(0) == cores and resolve_jobs(3) == 3
    assert RunContext(jobs=0).jobs == cores, "the context resolves 0 when built"
    assert RunContext().with_options(jobs=0).jobs == cores
    assert RunContext(jobs=4).with_options().jobs == 4, "nothing given, nothing changed"


def test_device_is_resolved_once_to_a_concrete_device() -> None:
    context = RunContext(seed=7, quiet=True).with_options(device="cpu", jobs=2)
    assert (context.device, context.jobs, context.seed, context.quiet) == ("cpu", 2, 7, True)
    assert resolve_device("auto") in {"cpu", "cuda"}, "auto becomes what torch sees"
    assert RunContext().with_options(device="auto").device in {"cpu", "cuda"}
    assert RunContext().with_options(jobs=2).device == "auto", "device left alone when not given"
    with pytest.raises(ValueError, match="'auto', 'cpu' or 'cuda"):
        RunContext().with_options(device="tpu")


class _Stop(Exception):
    """Raised by the fake predictor once it has recorded what it was given."""


@pytest.fixture
def predictor_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Replace the library's predictor by one that records its arguments and stops."""
    import nmrpeak_cli.predict.forward as forward

    calls: list[dict] = []

    def fake(*args, **kwargs):
        calls.append(kwargs)
        raise _Stop

    monkeypatch.setattr(forward, "load_forward_model", fake)
    return calls


@pytest.mark.parametrize(
    ("jobs", "expected"), [("0", os.cpu_count() or 1), ("3", 3), (None, 1)], ids=["0", "3", "none"]
)
def test_library_build_passes_the_resolved_jobs(
    tmp_path, predictor_calls: list[dict], jobs: str | None, expected: int
) -> None:
    molecules = tmp_path / "m.smi"
    molecules.write_text("CCO ethanol\n")
    args = ["library", "build", str(molecules), "-o", str(tmp_path / "lib"), "--device", "cpu"]
    result = runner.invoke(app, [*args, *(["--jobs", jobs] if jobs else [])])
    assert isinstance(result.exception, _Stop), result.output
    assert predictor_calls[0]["jobs"] == expected, predictor_calls
    assert predictor_calls[0]["device"] == "cpu"


@pytest.mark.parametrize(
    ("jobs", "expected"), [("0", os.cpu_count() or 1), ("2", 2), (None, 1)], ids=["0", "2", "none"]
)
def test_library_default_uses_the_given_jobs(
    tmp_path, predictor_calls: list[dict], jobs: str | None, expected: int
) -> None:
    args = ["library", "default", "--moses", "0", "-o", str(tmp_path / "lib"), "--device", "cpu"]
    result = runner.invoke(app, [*args, *(["--jobs", jobs] if jobs else [])])
    assert isinstance(result.exception, _Stop), result.output
    assert predictor_calls[0]["jobs"] == expected, predictor_calls


def test_an_unknown_device_is_a_usage_error(tmp_path) -> None:
    result = runner.invoke(app, ["library", "default", "-o", str(tmp_path), "--device", "tpu"])
    assert result.exit_code == 2 and "device must be" in result.output, result.output
