"""The one model-artifact format: save, load, and a one-line refusal for each broken part."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from nmrpeak_cli.artifacts import (
    DictConfig,
    card_path,
    load_artifact,
    read_card,
    save_artifact,
    sidecar_path,
    write_card,
)
from nmrpeak_cli.errors import NotAvailableError


@dataclass(frozen=True, slots=True)
class TinyConfig(DictConfig):
    width: int = 3


def _build(config: TinyConfig, tensors: dict) -> torch.nn.Linear:
    layer = torch.nn.Linear(config.width, 1)
    layer.load_state_dict(tensors)
    return layer


def _save(path: Path, **kwargs) -> tuple[torch.nn.Linear, dict]:
    torch.manual_seed(0)
    layer = torch.nn.Linear(3, 1)
    card = save_artifact(path, layer.state_dict(), TinyConfig(), model="test.Linear", **kwargs)
    return layer, card


def _load(path: Path, **kwargs):
    return load_artifact(path, TinyConfig, _build, missing="no weights here", **kwargs)


def test_round_trip_with_a_sidecar_and_no_temporary_files_left(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "tiny.safetensors"
    layer, card = _save(path, card={"note": "x", "sha256": "ignored"}, sidecars={"vocab": [1, 2]})
    assert card["sha256"] != "ignored" and card["note"] == "x", "required fields win over extras"
    assert card["config"] == {"width": 3} and card["dtype"] == "float32"
    assert card["vocab"] == "tiny.vocab.json" and len(card["vocab_sha256"]) == 64
    assert read_card(path) == card and sidecar_path(path, "vocab").is_file()
    loaded = _load(path, sidecars=("vocab",))
    assert torch.equal(loaded.model.weight, layer.weight), "the same tensors come back"
    assert loaded.sidecars == {"vocab": [1, 2]} and loaded.sha256 == card["sha256"]
    assert loaded.config == TinyConfig()
    names = sorted(p.name for p in path.parent.iterdir())
    assert names == ["tiny.json", "tiny.safetensors", "tiny.vocab.json"], names


def test_digest_dependent_card_and_half_precision(tmp_path: Path) -> None:
    path = tmp_path / "tiny.safetensors"
    _, card = _save(path, card=lambda digest: {"version": digest[:6]}, half=True)
    assert card["version"] == card["sha256"][:6] and card["dtype"] == "float16"
    assert _load(path).model.weight.dtype == torch.float32, "loaded back as float32"


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: p.unlink(), "no weights here"),
        (lambda p: card_path(p).unlink(), "model card .* not found"),
        (lambda p: card_path(p).write_text("{"), "not valid JSON"),
        (lambda p: p.write_bytes(p.read_bytes() + b"\0"), "corrupt"),
        (lambda p: sidecar_path(p, "vocab").write_text("[1, 3]\n"), "corrupt"),
        (lambda p: sidecar_path(p, "vocab").unlink(), "must sit next to"),
        (lambda p: write_card(p, read_card(p) | {"config": {"depth": 1}}), "unknown config keys"),
        (lambda p: write_card(p, read_card(p) | {"config": {"width": 4}}), "cannot load"),
    ],
    ids=["weights", "card", "json", "sha", "sidecar-sha", "sidecar", "config", "shape"],
)
def test_each_broken_part_is_refused_in_one_line(tmp_path: Path, damage, message: str) -> None:
    path = tmp_path / "tiny.safetensors"
    _save(path, sidecars={"vocab": [1, 2]})
    damage(path)
    with pytest.raises(NotAvailableError, match=message) as caught:
        _load(path, sidecars=("vocab",))
    assert "\n" not in str(caught.value), str(caught.value)


def test_version_check_runs_before_the_tensors(tmp_path: Path) -> None:
    path = tmp_path / "tiny.safetensors"
    _save(path)

    def check(config: TinyConfig) -> None:
        raise NotAvailableError(f"width {config.width} is from another version")

    with pytest.raises(NotAvailableError, match="another version"):
        _load(path, check=check)


def test_config_round_trip_and_unknown_keys() -> None:
    assert TinyConfig.from_dict(TinyConfig(5).to_dict()) == TinyConfig(5)
    with pytest.raises(ValueError, match=r"unknown config keys \['x'\]"):
        TinyConfig.from_dict({"width": 1, "x": 2})
    assert json.dumps(TinyConfig().to_dict()) == '{"width": 3}'
