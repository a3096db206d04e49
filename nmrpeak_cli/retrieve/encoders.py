"""Learned retrieval encoders: SME (spectrum ↔ molecule) and SSE (experimental ↔ predicted spectrum).

Spectrum encoder
    A set encoder over peaks (order-free, any number of peaks). Each peak becomes a feature
    vector: nucleus, Fourier features of the shift (fixed log-spaced frequencies on the
    nucleus range), 1H multiplicity class and log-integration (13C peaks carry no count:
    experimental lists print each signal once, predictions carry ``n_atoms``, so counts would
    only teach the domain gap). A per-peak MLP, masked mean + max pooling and an output MLP
    give an L2-normalized embedding.
Molecule encoder
    Count Morgan fingerprint (radius 2, folded, ``log1p``) → MLP → L2-normalized embedding.

SME pairs the experimental spectrum encoder with the molecule encoder; SSE is one spectrum
encoder shared by both sides with a domain flag (experimental or predicted), so an
experimental spectrum lands next to the *predicted* spectrum of its molecule. Both are
trained with InfoNCE (:mod:`nmrpeak_cli.retrieve.train`).

Weights ship as ``models/retriever_<name>.safetensors`` with a JSON card
(``retriever_<name>.json``: config, version, sha256, training provenance); the card
``models/retriever_fusion.json`` holds the fusion weights fitted on the validation split.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from nmrpeak_cli.artifacts import DictConfig, ModelIdentity, card_path, load_artifact, save_artifact
from nmrpeak_cli.errors import NotAvailableError
from nmrpeak_cli.retrieve.search import FusionWeights
from nmrpeak_cli.similarity import DEFAULT_PARAMS, SimilarityParams, similarity_from_dict
from nmrpeak_cli.spectra import Nucleus, Spectrum

if TYPE_CHECKING:
    import torch

ENCODER_NAMES: tuple[str, ...] = ("sme", "sse")
"""Encoders of the retriever; each name is also its score column."""

FEATURE_VERSION = "1"
"""Version of the peak and fingerprint featurization; stored in configs and checked on load."""

MULTIPLICITY_CLASSES: tuple[str, ...] = ("none", "s", "d", "t", "q", "m", "dd", "other", "br")
"""1H multiplicity classes of the peak features (``br`` for any broad signal)."""

_SHIFT_SCALE = {Nucleus.C13: 240.0, Nucleus.H1: 14.0}
MAX_PEAKS = 96
"""Peaks kept per spectrum (highest-shift first within each nucleus)."""


@dataclass(frozen=True, slots=True)
class EncoderConfig(DictConfig):
    """Architecture of one retriever encoder (travels with the weights in the card).

    Attributes
    ----------
    kind
        ``sme`` (spectrum ↔ molecule) or ``sse`` (experimental ↔ predicted spectrum).
    dim
        Embedding width.
    hidden
        Width of the hidden layers.
    n_freq
        Fourier frequencies per shift.
    fp_bits
        Folded Morgan fingerprint length (SME molecule side).
    fp_radius
        Morgan radius.
    feature_version
        :data:`FEATURE_VERSION` the weights were trained with.
    """

    kind: str
    dim: int = 128
    hidden: int = 256
    n_freq: int = 16
    fp_bits: int = 2048
    fp_radius: int = 2
    feature_version: str = FEATURE_VERSION

    config_name: ClassVar[str] = "encoder config"

    def __post_init__(self) -> None:
        if self.kind not in ENCODER_NAMES:
            raise ValueError(f"encoder kind must be one of {ENCODER_NAMES}, got {self.kind!r}")
        for name in ("dim", "hidden", "n_freq", "fp_bits", "fp_radius"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")


# --------------------------------------------------------------------------------------------
# Featurization (numpy)
# --------------------------------------------------------------------------------------------


def _multiplicity_class(code: str | None) -> int:
    if code is None:
        return 0
    if code.startswith("br"):
        return MULTIPLICITY_CLASSES.index("br")
    return MULTIPLICITY_CLASSES.index(code) if code in MULTIPLICITY_CLASSES else 7


@dataclass(frozen=True, slots=True)
class PeakBatch:
    """Padded peak features of a batch of spectra.

    Attributes
    ----------
    shift
        ``(B, P)`` shift divided by the nucleus scale (13C 240 ppm, 1H 14 ppm).
    nucleus
        ``(B, P)`` 0 = 13C, 1 = 1H.
    multiplicity
        ``(B, P)`` index into :data:`MULTIPLICITY_CLASSES`.
    integration
        ``(B, P)`` ``log1p`` of the 1H integration (0 for 13C).
    mask
        ``(B, P)`` True for real peaks.
    """

    shift: np.ndarray
    nucleus: np.ndarray
    multiplicity: np.ndarray
    integration: np.ndarray
    mask: np.ndarray


def peak_batch(spectra: Sequence[Spectrum]) -> PeakBatch:
    """Featurize spectra into a padded :class:`PeakBatch` (13C peaks deduplicated to 0.01 ppm)."""
    rows = []
    for spectrum in spectra:
        peaks: list[tuple[float, int, int, float]] = []
        if spectrum.c13 is not None:
            distinct = sorted({round(p.shift, 2) for p in spectrum.c13}, reverse=True)
            peaks += [(s / _SHIFT_SCALE[Nucleus.C13], 0, 0, 0.0) for s in distinct]
        if spectrum.h1 is not None:
            peaks += [
                (
                    p.shift / _SHIFT_SCALE[Nucleus.H1],
                    1,
                    _multiplicity_class(p.multiplicity),
                    math.log1p(p.count),
                )
                for p in spectrum.h1
            ]
        rows.append(peaks[:MAX_PEAKS])
    width = max(1, max((len(r) for r in rows), default=1))
    shape = (len(rows), width)
    batch = PeakBatch(
        shift=np.zeros(shape, np.float32),
        nucleus=np.zeros(shape, np.int64),
        multiplicity=np.zeros(shape, np.int64),
        integration=np.zeros(shape, np.float32),
        mask=np.zeros(shape, bool),
    )
    for i, peaks in enumerate(rows):
        if peaks:
            values = np.array(peaks, dtype=np.float64)
            n = len(peaks)
            batch.shift[i, :n] = values[:, 0]
            batch.nucleus[i, :n] = values[:, 1]
            batch.multiplicity[i, :n] = values[:, 2]
            batch.integration[i, :n] = values[:, 3]
            batch.mask[i, :n] = True
    return batch


def morgan_counts(smiles: Sequence[str], bits: int, radius: int) -> np.ndarray:
    """``(n, bits)`` float32 ``log1p`` folded Morgan count fingerprints (zeros if unparseable)."""
    from rdkit import Chem, rdBase
    from rdkit.Chem import rdFingerprintGenerator

    generator = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=bits)
    out = np.zeros((len(smiles), bits), np.float32)
    with rdBase.BlockLogs():
        for i, text in enumerate(smiles):
            mol = Chem.MolFromSmiles(text)
            if mol is not None:
                out[i] = generator.GetCountFingerprintAsNumPy(mol)
    return np.log1p(out)


# --------------------------------------------------------------------------------------------
# Torch modules
# --------------------------------------------------------------------------------------------


def build_modules(config: EncoderConfig):
    """The torch modules of ``config``: ``{"query": ..., "entry": ...}`` (shared for SSE)."""
    import torch
    from torch import nn

    class PeakSetEncoder(nn.Module):
        """Set encoder over peaks with an optional domain flag (SSE)."""

        def __init__(self) -> None:
            super().__init__()
            frequencies = torch.logspace(0, math.log10(200.0), config.n_freq) * math.pi
            self.register_buffer("frequencies", frequencies, persistent=False)
            width = 4 * config.n_freq + 2 + len(MULTIPLICITY_CLASSES) + 1
            self.domain = nn.Embedding(2, config.hidden)
            self.peak = nn.Sequential(
                nn.Linear(width, config.hidden),
                nn.GELU(),
                nn.Linear(config.hidden, config.hidden),
                nn.GELU(),
            )
            self.out = nn.Sequential(
                nn.Linear(2 * config.hidden, config.hidden),
                nn.GELU(),
                nn.Linear(config.hidden, config.dim),
            )

        def forward(self, batch: Mapping[str, torch.Tensor], domain: int = 0) -> torch.Tensor:
            shift, nucleus = batch["shift"], batch["nucleus"]
            angles = shift[..., None] * self.frequencies
            fourier = torch.cat([angles.sin(), angles.cos()], dim=-1)
            is_h = (nucleus == 1).float()[..., None]
            # Separate Fourier channels per nucleus so 13C and 1H shifts never alias.
            features = torch.cat(
                [
                    fourier * (1 - is_h),
                    fourier * is_h,
                    nn.functional.one_hot(nucleus, 2).float(),
                    nn.functional.one_hot(batch["multiplicity"], len(MULTIPLICITY_CLASSES)).float(),
                    batch["integration"][..., None],
                ],
                dim=-1,
            )
            hidden = self.peak(features) + self.domain.weight[domain]
            mask = batch["mask"][..., None].float()
            count = mask.sum(dim=1).clamp(min=1.0)
            mean = (hidden * mask).sum(dim=1) / count
            largest = hidden.masked_fill(mask == 0, -1e4).amax(dim=1)
            largest = torch.where(count > 0, largest, torch.zeros_like(largest))
            return nn.functional.normalize(self.out(torch.cat([mean, largest], dim=-1)), dim=-1)

    class MoleculeEncoder(nn.Module):
        """Count Morgan fingerprint → MLP."""

        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(
                nn.Linear(config.fp_bits, config.hidden),
                nn.GELU(),
                nn.Dropout(0.1),
                nn.Linear(config.hidden, config.hidden),
                nn.GELU(),
                nn.Linear(config.hidden, config.dim),
            )

        def forward(self, fingerprints: torch.Tensor) -> torch.Tensor:
            return nn.functional.normalize(self.net(fingerprints), dim=-1)

    query = PeakSetEncoder()
    modules = {"query": query, "entry": MoleculeEncoder() if config.kind == "sme" else query}
    modules["logit_scale"] = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
    return modules


def to_tensors(batch: PeakBatch, device: str = "cpu") -> dict[str, torch.Tensor]:
    """A :class:`PeakBatch` as torch tensors on ``device``."""
    import torch

    return {
        "shift": torch.from_numpy(batch.shift).to(device),
        "nucleus": torch.from_numpy(batch.nucleus).to(device),
        "multiplicity": torch.from_numpy(batch.multiplicity).to(device),
        "integration": torch.from_numpy(batch.integration).to(device),
        "mask": torch.from_numpy(batch.mask).to(device),
    }


def state_dict(config: EncoderConfig, modules: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Flat tensor dict of the modules (``query.*``, ``entry.*`` for SME, ``logit_scale``)."""
    tensors = {f"query.{k}": v for k, v in modules["query"].state_dict().items()}
    if config.kind == "sme":
        tensors |= {f"entry.{k}": v for k, v in modules["entry"].state_dict().items()}
    tensors["logit_scale"] = modules["logit_scale"].detach().reshape(1)
    return {k: v.detach().contiguous().cpu() for k, v in tensors.items()}


def load_state(
    config: EncoderConfig, modules: Mapping[str, Any], tensors: Mapping[str, Any]
) -> None:
    """Inverse of :func:`state_dict` (strict: missing or extra tensors are an error)."""
    import torch

    modules["query"].load_state_dict(
        {k.removeprefix("query."): v for k, v in tensors.items() if k.startswith("query.")}
    )
    if config.kind == "sme":
        modules["entry"].load_state_dict(
            {k.removeprefix("entry."): v for k, v in tensors.items() if k.startswith("entry.")}
        )
    with torch.no_grad():
        modules["logit_scale"].copy_(tensors["logit_scale"].reshape(()))


# --------------------------------------------------------------------------------------------
# The Encoder implementation
# --------------------------------------------------------------------------------------------


class TorchEncoder:
    """A trained SME or SSE encoder behind the :class:`~nmrpeak_cli.retrieve.models.Encoder`
    interface (CPU inference in batches of ``batch_size``)."""

    def __init__(
        self,
        config: EncoderConfig,
        modules: Mapping[str, Any],
        identity: ModelIdentity,
        batch_size: int = 512,
    ) -> None:
        self.config = config
        self.modules = modules
        self._identity = identity
        self._batch_size = batch_size
        for module in {id(m): m for k, m in modules.items() if k != "logit_scale"}.values():
            module.eval()

    @property
    def identity(self) -> ModelIdentity:
        """Name (``sme``/``sse``), version and sha256 of the weights."""
        return self._identity

    @property
    def dim(self) -> int:
        """Embedding width."""
        return self.config.dim

    def _spectra(self, spectra: Sequence[Spectrum], domain: int) -> np.ndarray:
        import torch

        out = []
        with torch.inference_mode():
            for start in range(0, len(spectra), self._batch_size):
                batch = to_tensors(peak_batch(spectra[start : start + self._batch_size]))
                out.append(self.modules["query"](batch, domain).numpy())
        return np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)

    def embed_queries(self, spectra: Sequence[Spectrum]) -> np.ndarray:
        """Embeddings of experimental spectra."""
        return self._spectra(spectra, domain=0)

    def embed_entries(self, smiles: Sequence[str], predicted: Sequence[Spectrum]) -> np.ndarray:
        """SME: embeddings of the molecules; SSE: of their predicted spectra."""
        if self.config.kind == "sse":
            return self._spectra(predicted, domain=1)
        import torch

        out = []
        with torch.inference_mode():
            for start in range(0, len(smiles), self._batch_size):
                fp = morgan_counts(
                    smiles[start : start + self._batch_size],
                    self.config.fp_bits,
                    self.config.fp_radius,
                )
                out.append(self.modules["entry"](torch.from_numpy(fp)).numpy())
        return np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)


def save_encoder(
    config: EncoderConfig, modules: Mapping[str, Any], weights: Path, card: Mapping[str, Any]
) -> dict[str, Any]:
    """Write ``weights`` (safetensors) and its JSON card (config, version, sha256 + ``card``)."""
    return save_artifact(
        weights,
        state_dict(config, modules),
        config,
        lambda digest: {"name": config.kind, "version": f"{config.kind}-{digest[:12]}", **card},
        model=f"nmrpeak.retriever.{config.kind}",
    )


def load_encoder(weights: Path, batch_size: int = 512) -> TorchEncoder:
    """Rebuild an encoder from its card and load its weights (sha256 checked).

    Raises
    ------
    NotAvailableError
        Weights or card missing or unreadable, sha256 mismatch, another feature version.
    """
    weights = Path(weights)

    def check(config: EncoderConfig) -> None:
        if config.feature_version != FEATURE_VERSION:
            raise NotAvailableError(
                f"{weights} uses feature version {config.feature_version}, "
                f"this code {FEATURE_VERSION}"
            )

    def build(config: EncoderConfig, tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
        modules = build_modules(config)
        load_state(config, modules, tensors)
        return modules

    artifact = load_artifact(
        weights,
        EncoderConfig,
        build,
        missing=f"retriever encoder {weights} not found",
        check=check,
    )
    if artifact.card.get("version") is None:
        raise NotAvailableError(f"model card {card_path(weights)} has no 'version'")
    identity = ModelIdentity(artifact.config.kind, str(artifact.card["version"]), artifact.sha256)
    return TorchEncoder(artifact.config, artifact.model, identity, batch_size=batch_size)


def shipped_encoder_path(name: str, models: Path | None = None) -> Path:
    """``models/retriever_<name>.safetensors``."""
    from nmrpeak_cli.paths import models_dir

    return (models or models_dir()) / f"retriever_{name}.safetensors"


def load_shipped_encoders(models: Path | None = None) -> dict[str, TorchEncoder]:
    """The shipped encoders that exist (none when the retriever was not trained)."""
    return {
        name: load_encoder(shipped_encoder_path(name, models))
        for name in ENCODER_NAMES
        if shipped_encoder_path(name, models).is_file()
    }


def fusion_card_path(models: Path | None = None) -> Path:
    """``models/retriever_fusion.json``: fusion weights fitted on the validation split."""
    from nmrpeak_cli.paths import models_dir

    return (models or models_dir()) / "retriever_fusion.json"


def read_fusion_card(models: Path | None = None, key: str = "weights") -> dict[str, Any] | None:
    """The fusion card of ``models`` (default: shipped), ``None`` when there is none; a card
    that is not a JSON object holding ``key`` raises :class:`NotAvailableError`."""
    path = fusion_card_path(models)
    if not path.is_file():
        return None
    try:
        card = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotAvailableError(f"fusion card {path} is not valid JSON: {exc}") from None
    if not isinstance(card, dict) or not isinstance(card.get(key), dict):
        raise NotAvailableError(f"fusion card {path} has no '{key}' parameters; refit it")
    return card


def load_fusion_weights(encoders: Mapping[str, Any], models: Path | None = None) -> FusionWeights:
    """Fusion weights for the encoders in use: SSR alone without encoders, else the fitted
    weights of the card (restricted to the encoders present)."""
    card = read_fusion_card(models) if encoders else None
    if card is None:
        return FusionWeights()
    weights = card["weights"]
    present = {name: float(weights.get(name, 0.0)) for name in ("sme", "sse") if name in encoders}
    if weights.get("ssr", 0.0) <= 0 and not any(present.values()):
        return FusionWeights()
    return FusionWeights(ssr=float(weights.get("ssr", 0.0)), **present)


def load_similarity_params(models: Path | None = None) -> SimilarityParams:
    """Similarity parameters fitted on the validation split with the fusion weights (the
    library defaults when no fusion card exists)."""
    card = read_fusion_card(models, "similarity")
    return DEFAULT_PARAMS if card is None else similarity_from_dict(card["similarity"])
