"""Saving and loading model weights: safetensors + a JSON model card, checked by sha256.

Nothing here unpickles. The card holds the architecture config (the model is rebuilt from
it), the feature version, the sha256 of the weight file and free-form provenance (data,
split, seed, metrics, training command).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nmrpeak_cli.errors import NotAvailableError
from nmrpeak_cli.paths import file_sha256, models_dir, verify_sha256
from nmrpeak_cli.predict.featurize import ATOM_DIMS, FEATURE_VERSION
from nmrpeak_cli.predict.model import ModelConfig, ShiftEnsemble, ShiftModel

MODEL_NAME = "predictor"
"""File stem of the shipped forward model in the models folder."""


def default_weights() -> Path:
    """Path of the shipped predictor weights."""
    return models_dir() / f"{MODEL_NAME}.safetensors"


def card_path(weights: Path) -> Path:
    """The JSON card next to a ``.safetensors`` file."""
    return Path(weights).with_suffix(".json")


def save_model(
    model: ShiftModel, weights: Path, card: dict[str, Any] | None = None, *, half: bool = False
) -> Path:
    """Write ``weights`` (safetensors) and its JSON card atomically; return the card path.

    ``half`` stores the tensors as float16 (half the size, for shipped weights); loading
    casts them back to float32.
    """
    from safetensors.torch import save_file

    weights = Path(weights)
    weights.parent.mkdir(parents=True, exist_ok=True)
    tensors = {
        k: (v.half() if half and v.is_floating_point() else v).detach().contiguous().cpu()
        for k, v in model.state_dict().items()
    }
    tmp = weights.with_name(weights.name + ".tmp")
    save_file(tensors, str(tmp), metadata={"format": "pt", "model": "nmrpeak.ShiftModel"})
    full = {
        "model": "nmrpeak.ShiftModel",
        "weights": weights.name,
        "sha256": file_sha256(tmp),
        "dtype": "float16" if half else "float32",
        "config": model.config.to_dict(),
        **(card or {}),
    }
    path = card_path(weights)
    tmp_card = path.with_name(path.name + ".tmp")
    tmp_card.write_text(json.dumps(full, indent=2, sort_keys=False) + "\n")
    tmp.replace(weights)
    tmp_card.replace(path)
    return path


def read_card(weights: Path) -> dict[str, Any]:
    """The JSON card of ``weights``; raises :class:`NotAvailableError` if missing or unreadable."""
    path = card_path(weights)
    if not path.is_file():
        raise NotAvailableError(
            f"model card {path} not found (it must sit next to {Path(weights).name})"
        )
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise NotAvailableError(f"model card {path} is not valid JSON: {exc}") from None


def load_model(weights: Path | None = None, device: str = "cpu") -> ShiftModel | ShiftEnsemble:
    """Rebuild the model from its card and load ``weights`` (default: the shipped predictor).

    A card may name further ensemble members (``"ensemble"``: weight files next to it, each
    with its own card); the result is then a :class:`ShiftEnsemble`. A card's
    ``"uncertainty"`` (see :mod:`~nmrpeak_cli.predict.uncertainty`) becomes the model's
    ``uncertainty`` attribute (``None`` without one).

    Raises
    ------
    NotAvailableError
        One-line message when a file is missing, its sha256 differs from the card, the
        feature version does not match this code, or the tensors do not fit the config.
    """
    from nmrpeak_cli.predict.uncertainty import UncertaintyCalibration

    weights = Path(weights) if weights is not None else default_weights()
    model = load_member(weights)
    card = read_card(weights)
    names = card.get("ensemble") or []
    if names:
        model = ShiftEnsemble([model, *(load_member(weights.parent / n) for n in names)])
    try:
        uncertainty = (
            UncertaintyCalibration.from_dict(card["uncertainty"]) if "uncertainty" in card else None
        )
    except ValueError as exc:
        raise NotAvailableError(f"model card {card_path(weights)}: {exc}") from None
    model.uncertainty = uncertainty
    return model.to(device).eval()


def load_member(weights: Path) -> ShiftModel:
    """One :class:`ShiftModel` from its weights and card (see :func:`load_model`)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not weights.is_file():
        raise NotAvailableError(
            f"predictor weights {weights} not found; train them with `nmrpeak train predictor` "
            "or set NMRPEAK_MODELS to the folder holding predictor.safetensors"
        )
    card = read_card(weights)
    verify_sha256(weights, card.get("sha256"))
    try:
        config = ModelConfig.from_dict(card["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise NotAvailableError(
            f"model card {card_path(weights)} has no valid 'config': {exc}"
        ) from None
    if ATOM_DIMS.get(config.feature_version) != config.atom_dim:
        raise NotAvailableError(
            f"{weights} was trained with feature version {config.feature_version} "
            f"({config.atom_dim} atom features); this code featurizes with version "
            f"{FEATURE_VERSION} and serves versions {', '.join(ATOM_DIMS)}; retrain or update"
        )
    model = ShiftModel(config)
    try:
        model.load_state_dict(load_file(str(weights), device="cpu"))
    except (SafetensorError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise NotAvailableError(f"cannot load {weights}: {first}") from None
    return model
