"""What a library is built with: the predictor and encoder interfaces and their identities.

Libraries hold spectra predicted from SMILES and embeddings made by encoders, so the code that
builds and searches them takes both as parameters (dependency injection): the shipped models
in production, tiny stand-ins in tests. A :class:`ModelIdentity` (name, version, sha256 of the
weights) is recorded in the library manifest and compared when the library is opened.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from nmrpeak_cli.spectra import Nucleus, Peak, PeakList, Spectrum


@dataclass(frozen=True, slots=True)
class ModelIdentity:
    """Name, version and weight checksum of a model a library depends on.

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


@runtime_checkable
class Predictor(Protocol):
    """A forward model: SMILES → predicted 13C/1H peak lists.

    ``predict_rows`` receives ``(id, smiles)`` pairs and returns one PREDICTION_SCHEMA row
    (``id``, ``smiles``, ``c13``, ``h1``, ``error``) per pair, in order; a molecule the model
    cannot handle gets a row with ``error`` set instead of raising.
    """

    @property
    def identity(self) -> ModelIdentity:
        """Name, version and sha256 of the model."""
        ...

    def predict_rows(self, records: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
        """Predicted peak lists for ``(id, smiles)`` pairs, one row per pair."""
        ...


@runtime_checkable
class Encoder(Protocol):
    """An embedding model of the retriever (``sme`` or ``sse``).

    The library side embeds each entry (SME: from its SMILES; SSE: from its predicted
    spectrum); the query side embeds experimental spectra. Both return L2-normalized float32
    ``(n, dim)`` arrays so the inner product is the cosine similarity.
    """

    @property
    def identity(self) -> ModelIdentity:
        """Name (the score column: ``sme``/``sse``), version and sha256."""
        ...

    @property
    def dim(self) -> int:
        """Embedding width."""
        ...

    def embed_entries(self, smiles: Sequence[str], predicted: Sequence[Spectrum]) -> np.ndarray:
        """Library-side embeddings of molecules and their predicted spectra."""
        ...

    def embed_queries(self, spectra: Sequence[Spectrum]) -> np.ndarray:
        """Query-side embeddings of (experimental) spectra."""
        ...


def prediction_to_spectrum(row: Mapping[str, Any]) -> Spectrum:
    """A PREDICTION_SCHEMA row as a :class:`Spectrum` (13C integration = ``n_atoms``)."""
    c13 = row.get("c13")
    h1 = row.get("h1")
    c13_list = None
    if c13 is not None:
        c13_list = PeakList(
            Nucleus.C13,
            tuple(
                Peak(
                    p["shift"],
                    integration=p.get("n_atoms"),
                    atoms=tuple(p.get("atoms") or ()),
                )
                for p in c13
            ),
        )
    h1_list = None
    if h1 is not None:
        h1_list = PeakList(
            Nucleus.H1,
            tuple(
                Peak(
                    p["shift"],
                    integration=p.get("integration"),
                    multiplicity=p.get("multiplicity"),
                    j_hz=tuple(p.get("j_hz") or ()),
                    atoms=tuple(p.get("atoms") or ()),
                )
                for p in h1
            ),
        )
    return Spectrum(id=str(row["id"]), c13=c13_list, h1=h1_list, smiles=row.get("smiles"))


class ShippedPredictor:
    """The forward model of :mod:`nmrpeak_cli.predict` behind the :class:`Predictor` interface.

    Parameters
    ----------
    weights
        ``.safetensors`` file with its JSON card (default: the shipped ``models/predictor``).
    device
        ``auto``, ``cpu`` or ``cuda``.
    batch_size
        Molecules predicted together.
    jobs
        CPU worker processes (each loads the weights and predicts whole batches).

    Raises
    ------
    NotAvailableError
        The weights or their card are missing or do not match.
    """

    def __init__(
        self,
        weights: Path | None = None,
        device: str = "auto",
        batch_size: int = 256,
        jobs: int = 1,
    ) -> None:
        from nmrpeak_cli.context import resolve_device
        from nmrpeak_cli.predict.infer import process_model
        from nmrpeak_cli.predict.weights import default_weights, read_card

        path = Path(weights) if weights is not None else default_weights()
        self._weights = path
        self._jobs = jobs
        # jobs > 1: each worker process loads the weights itself.
        self._model = process_model(path, resolve_device(device)) if jobs <= 1 else None
        card = read_card(path)
        self._identity = ModelIdentity(
            "predictor", str(card.get("version") or card["sha256"][:12]), str(card["sha256"])
        )
        self._batch_size = batch_size

    @property
    def identity(self) -> ModelIdentity:
        """Name, version and sha256 from the model card."""
        return self._identity

    def predict_rows(self, records: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
        """PREDICTION_SCHEMA rows for ``(id, smiles)`` pairs (solvent unspecified)."""
        from nmrpeak_cli.io.records import MoleculeRecord
        from nmrpeak_cli.predict.infer import predict_records, prediction_row

        inputs = [MoleculeRecord(str(i), s) for i, s in records]
        rows = []
        predictions = predict_records(
            inputs,
            model=self._model,
            weights=None if self._model is not None else self._weights,
            batch_size=self._batch_size,
            jobs=self._jobs,
        )
        for prediction in predictions:
            row = prediction_row(prediction)
            if row.get("h1") is not None:
                row["h1"] = [{k: v for k, v in p.items() if k != "exchangeable"} for p in row["h1"]]
            rows.append(row)
        return rows


def shipped_predictor_identity(weights: Path | None = None) -> ModelIdentity | None:
    """Identity of the shipped predictor from its card alone, ``None`` when there is none."""
    from nmrpeak_cli.paths import models_dir

    card_file = Path(weights).with_suffix(".json") if weights else models_dir() / "predictor.json"
    if not card_file.is_file():
        return None
    card = json.loads(card_file.read_text())
    return ModelIdentity(
        "predictor", str(card.get("version") or card["sha256"][:12]), str(card["sha256"])
    )
