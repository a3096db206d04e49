"""Saving and loading the forward model: thin wrappers over :mod:`nmrpeak_cli.artifacts`.

Nothing here unpickles. The card holds the architecture config (the model is rebuilt from
it), the feature version, the sha256 of the weight file and free-form provenance (data,
split, seed, metrics, training command).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nmrpeak_cli.artifacts import Artifact, card_path, load_artifact, read_card, save_artifact
from nmrpeak_cli.errors import NotAvailableError
from nmrpeak_cli.paths import models_dir
from nmrpeak_cli.predict.featurize import ATOM_DIMS, FEATURE_VERSION
from nmrpeak_cli.predict.model import ModelConfig, ShiftEnsemble, ShiftModel

MODEL_NAME = "predictor"
"""File stem of the shipped forward model in the models folder."""
MODEL_KIND = "nmrpeak.ShiftModel"

__all__ = [
    "MODEL_NAME",
    "card_path",
    "default_weights",
    "load_member",
    "load_model",
    "read_card",
    "save_model",
]


def default_weights() -> Path:
    """Path of the shipped predictor weights."""
    return models_dir() / f"{MODEL_NAME}.safetensors"


def save_model(
    model: ShiftModel, weights: Path, card: dict[str, Any] | None = None, *, half: bool = False
) -> Path:
    """Write ``weights`` (safetensors) and its JSON card atomically; return the card path.

    ``half`` stores the tensors as float16 (half the size, for shipped weights); loading
    casts them back to float32.
    """
    save_artifact(weights, model.state_dict(), model.config, card, model=MODEL_KIND, half=half)
    return card_path(weights)


def load_model(
    weights: Path | None = None, device: str = "cpu", *, memory: bool = True
) -> ShiftModel | ShiftEnsemble:
    """Rebuild the model from its card and load ``weights`` (default: the shipped predictor).

    A card may name further ensemble members (``"ensemble"``: weight files next to it, each
    with its own card); the result is then a :class:`ShiftEnsemble`. A card's
    ``"uncertainty"`` (see :mod:`~nmrpeak_cli.predict.uncertainty`) becomes the model's
    ``uncertainty`` attribute (``None`` without one). A card's ``"memory"`` (an environment
    memory file next to it, see :mod:`~nmrpeak_cli.predict.memory`) becomes its ``memory``
    attribute unless ``memory`` is false (``None`` without one); it must have been built
    with exactly these weights and members.

    Raises
    ------
    NotAvailableError
        One-line message when a file is missing, its sha256 differs from the card, the
        feature version does not match this code, the tensors do not fit the config, or the
        memory was built with another predictor.
    """
    from nmrpeak_cli.predict.uncertainty import UncertaintyCalibration

    weights = Path(weights) if weights is not None else default_weights()
    artifact = _load_artifact(weights)
    model, card = artifact.model, artifact.card
    names = card.get("ensemble") or []
    digests = [artifact.sha256]
    if names:
        members = [_load_artifact(weights.parent / n) for n in names]
        digests += [m.sha256 for m in members]
        model = ShiftEnsemble([model, *(m.model for m in members)])
    try:
        uncertainty = (
            UncertaintyCalibration.from_dict(card["uncertainty"]) if "uncertainty" in card else None
        )
    except ValueError as exc:
        raise NotAvailableError(f"model card {card_path(weights)}: {exc}") from None
    model.uncertainty = uncertainty
    model.memory = None
    if memory and card.get("memory"):
        from nmrpeak_cli.predict.memory import load_memory

        model.memory = load_memory(weights.parent / str(card["memory"]), digests)
    return model.to(device).eval()


def load_member(weights: Path) -> ShiftModel:
    """One :class:`ShiftModel` from its weights and card (see :func:`load_model`)."""
    return _load_artifact(Path(weights)).model


def _load_artifact(weights: Path) -> Artifact[ShiftModel]:
    def check(config: ModelConfig) -> None:
        if ATOM_DIMS.get(config.feature_version) != config.atom_dim:
            raise NotAvailableError(
                f"{weights} was trained with feature version {config.feature_version} "
                f"({config.atom_dim} atom features); this code featurizes with version "
                f"{FEATURE_VERSION} and serves versions {', '.join(ATOM_DIMS)}; retrain or update"
            )

    def build(config: ModelConfig, tensors: dict) -> ShiftModel:
        model = ShiftModel(config)
        model.load_state_dict(tensors)
        return model

    missing = (
        f"predictor weights {weights} not found; train them with `nmrpeak train predictor` "
        "or set NMRPEAK_MODELS to the folder holding predictor.safetensors"
    )
    return load_artifact(weights, ModelConfig, build, missing=missing, check=check)
