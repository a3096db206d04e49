"""Model artifacts: safetensors weights + a JSON model card (+ JSON sidecars), checked by sha256.

Every shipped or trained model (the forward predictor, the generator, the retriever encoders)
is stored the same way, and this module is the one place that writes and reads it:

- ``<name>.safetensors``: the tensors (nothing is unpickled);
- ``<name>.json``: the card: ``model`` (kind), ``weights`` (file name), ``sha256``, ``dtype``,
  ``config`` (the architecture; the model is rebuilt from it) and free-form provenance;
- ``<name>.<sidecar>.json`` (optional): further JSON the model needs (the generator's
  tokenizers), named in the card under ``<sidecar>`` with its digest in ``<sidecar>_sha256``.

:func:`save_artifact` writes all files atomically; :func:`load_artifact` checks them in order
(file → card → sha256 → config → version → tensors) and turns each failure into a one-line
:class:`~nmrpeak_cli.errors.NotAvailableError`. torch and safetensors are imported lazily.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from nmrpeak_cli.errors import NotAvailableError
from nmrpeak_cli.paths import atomic_path, file_sha256, verify_sha256, write_json_atomic

if TYPE_CHECKING:
    import torch

M = TypeVar("M")
C = TypeVar("C", bound="DictConfig")


class DictConfig:
    """Mixin of the architecture configs stored in model cards: one ``to_dict``/``from_dict``.

    Subclasses are (frozen, slotted) dataclasses; ``config_name`` names them in errors.
    """

    __slots__ = ()
    config_name: ClassVar[str] = "config"

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[C], data: Mapping[str, Any]) -> C:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        unknown = set(data) - set(cls.__dataclass_fields__)  # type: ignore[attr-defined]
        if unknown:
            raise ValueError(f"unknown {cls.config_name} keys {sorted(unknown)}")
        return cls(**data)


@dataclass(frozen=True, slots=True)
class ModelIdentity:
    """Name, version and weight checksum of a model (recorded in library manifests and
    encoder cards, and compared when they are opened).

    Attributes
    ----------
    name
        Model name (``predictor``, ``sme``, ``sse``...).
    version
        Model version string from its card.
    sha256
        Hex sha256 of the weight file; empty for models without weights (test stand-ins).
    """

    name: str
    version: str
    sha256: str = ""

    def describe(self) -> str:
        """Human-readable ``name version (sha256 abcdef123456)``."""
        digest = f" (sha256 {self.sha256[:12]})" if self.sha256 else ""
        return f"{self.name} {self.version}{digest}"

    def to_dict(self) -> dict[str, str]:
        """JSON form stored in manifests."""
        return {"name": self.name, "version": self.version, "sha256": self.sha256}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelIdentity:
        """Inverse of :meth:`to_dict`."""
        return cls(str(data["name"]), str(data["version"]), str(data.get("sha256", "")))


@dataclass(frozen=True)
class Artifact(Generic[M]):
    """A loaded model with what it was loaded from.

    Attributes
    ----------
    model
        What ``build`` returned (on the CPU).
    config
        The architecture config of the card.
    card
        The full card.
    sha256
        Digest of the weight file (checked against the card).
    sidecars
        Parsed JSON of each sidecar, by name.
    """

    model: M
    config: Any
    card: dict[str, Any]
    sha256: str
    sidecars: dict[str, Any] = field(default_factory=dict)


def card_path(weights: str | Path) -> Path:
    """The JSON card next to a ``.safetensors`` file."""
    return Path(weights).with_suffix(".json")


def sidecar_path(weights: str | Path, name: str) -> Path:
    """``<stem>.<name>.json`` next to ``weights``."""
    weights = Path(weights)
    return weights.with_name(f"{weights.stem}.{name}.json")


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotAvailableError(f"{what} {path} is not valid JSON: {exc}") from None


def read_card(weights: str | Path) -> dict[str, Any]:
    """The JSON card of ``weights``; raises :class:`NotAvailableError` if missing or unreadable."""
    path = card_path(weights)
    if not path.is_file():
        raise NotAvailableError(
            f"model card {path} not found (it must sit next to {Path(weights).name})"
        )
    card = _read_json(path, "model card")
    if not isinstance(card, dict):
        raise NotAvailableError(f"model card {path} is not a JSON object")
    return card


def write_card(weights: str | Path, card: Mapping[str, Any]) -> Path:
    """Replace the card of ``weights`` atomically (e.g. to add a calibration); return its path."""
    return write_json_atomic(card_path(weights), dict(card))


def save_artifact(
    weights: str | Path,
    tensors: Mapping[str, torch.Tensor],
    config: DictConfig,
    card: Mapping[str, Any] | Callable[[str], Mapping[str, Any]] | None = None,
    *,
    model: str,
    half: bool = False,
    sidecars: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``tensors``, the sidecars and the card atomically; return the card.

    Parameters
    ----------
    weights
        Path of the ``.safetensors`` file (its folder is created).
    tensors
        The state dict (moved to the CPU and made contiguous here).
    config
        The architecture config (stored under ``config``).
    card
        Provenance added after the required fields (which win on a clash), or a function of
        the weights' sha256 giving it (for versions named after the digest).
    model
        The model kind, stored under ``model`` and in the safetensors metadata.
    half
        Store floating-point tensors as float16 (half the size, for shipped weights; loading
        casts them back to the model's float32).
    sidecars
        JSON-serializable objects written to :func:`sidecar_path` files.
    """
    from safetensors.torch import save_file

    weights = Path(weights)
    sidecars = dict(sidecars or {})
    stored = {}
    for name, value in tensors.items():
        value = value.detach().cpu()
        if half and value.is_floating_point():
            value = value.half()
        stored[name] = value.contiguous()
    with ExitStack() as stack:
        temporary = stack.enter_context(atomic_path(weights))
        save_file(stored, str(temporary), metadata={"format": "pt", "model": model})
        digest = file_sha256(temporary)
        full: dict[str, Any] = {"model": model, "weights": weights.name, "sha256": digest}
        for name, value in sidecars.items():
            path = sidecar_path(weights, name)
            part = stack.enter_context(atomic_path(path))
            part.write_text(json.dumps(value) + "\n")
            full |= {name: path.name, f"{name}_sha256": file_sha256(part)}
        full |= {"dtype": "float16" if half else "float32", "config": config.to_dict()}
        extra = card(digest) if callable(card) else (card or {})
        full |= {k: v for k, v in extra.items() if k not in full}
        card_temporary = stack.enter_context(atomic_path(card_path(weights)))
        card_temporary.write_text(json.dumps(full, indent=2) + "\n")
    return full


def load_artifact(
    weights: str | Path,
    config_type: type[C],
    build: Callable[[C, dict[str, torch.Tensor]], M],
    *,
    missing: str,
    check: Callable[[C], None] | None = None,
    sidecars: tuple[str, ...] = (),
) -> Artifact[M]:
    """Load a model written by :func:`save_artifact`, checking each step.

    Parameters
    ----------
    weights
        The ``.safetensors`` file.
    config_type
        The :class:`DictConfig` class of the card's ``config``.
    build
        ``build(config, tensors)`` returns the model with the tensors loaded; a
        ``RuntimeError``/``KeyError`` (tensors that do not fit the config) becomes a
        :class:`NotAvailableError`.
    missing
        The message when the weight file is not there (say how to get it).
    check
        Called with the config before the tensors are read; raises
        :class:`NotAvailableError` (e.g. another feature version).
    sidecars
        Names of the sidecar JSON files to check (sha256) and parse.

    Raises
    ------
    NotAvailableError
        One-line message: a file missing, a card or sidecar unreadable, a sha256 that differs
        from the card, an invalid config, another version, tensors that do not fit.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights = Path(weights)
    if not weights.is_file():
        raise NotAvailableError(missing)
    card = read_card(weights)
    for name in sidecars:
        path = sidecar_path(weights, name)
        if not path.is_file():
            raise NotAvailableError(f"{path} not found (it must sit next to {weights.name})")
    digest = verify_sha256(weights, card.get("sha256"))
    parsed = {}
    for name in sidecars:
        path = sidecar_path(weights, name)
        verify_sha256(path, card.get(f"{name}_sha256"))
        parsed[name] = _read_json(path, name)
    try:
        config = config_type.from_dict(card["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise NotAvailableError(
            f"model card {card_path(weights)} has no valid 'config': {exc}"
        ) from None
    if check is not None:
        check(config)
    try:
        model = build(config, load_file(str(weights), device="cpu"))
    except (SafetensorError, RuntimeError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise NotAvailableError(f"cannot load {weights}: {first}") from None
    return Artifact(model, config, card, digest, parsed)
