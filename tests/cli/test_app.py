"""The CLI skeleton: help, version, exit codes of unbuilt commands, completions."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from nmrpeak_cli import __version__
from nmrpeak_cli.cli.app import app

runner = CliRunner()


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_help_lists_design_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ["retrieve", "generate", "elucidate", "library", "train", "bench", "merge"]:
        assert command in result.output, f"{command} missing from --help"


def test_unknown_option_is_usage_error():
    result = runner.invoke(app, ["--no-such-option"])
    assert result.exit_code == 2


def test_console_script_help_is_fast():
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "nmrpeak_cli.cli.app", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    heavy = [
        line
        for line in completed.stderr.splitlines()
        if line.rstrip().endswith((" torch", " faiss"))
    ]
    assert not heavy, f"--help must not import torch/faiss: {heavy}"


def test_doctor_json_reports_versions_and_models(tmp_path, monkeypatch):
    import json

    (tmp_path / "toy.json").write_text(json.dumps({"version": "t1", "weights": "toy.safetensors"}))
    (tmp_path / "toy.safetensors").write_bytes(b"x" * 10)
    (tmp_path / "gone.json").write_text(json.dumps({"weights": "gone.safetensors"}))
    (tmp_path / "fusion.json").write_text(json.dumps({"weights": {"ssr": 1.0}}))
    (tmp_path / "broken.json").write_text("{")
    monkeypatch.setenv("NMRPEAK_MODELS", str(tmp_path))
    result = runner.invoke(app, ["doctor", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["packages"]["pyarrow"], "installed packages report a version"
    models = {m["model"]: m for m in report["models"]}
    assert models["toy"]["status"] == "ok" and models["toy"]["version"] == "t1"
    assert models["gone"]["status"] == "weights missing (gone.safetensors)"
    assert models["fusion"]["status"] == "ok (no weights)"
    assert models["broken"]["status"].startswith("unreadable card")
    assert report["default_library"]["status"].startswith("not built"), "private cache"
