"""What a library is built with: the predictor and encoder interfaces and their identities.

Libraries hold spectra predicted from SMILES and embeddings made by encoders, so the code that
builds and searches them takes both as parameters (dependency injection): the shipped models
in production, tiny stand-ins in tests. A :class:`ModelIdentity` (name, version, sha256 of the
weights) is recorded in the library manifest and compared when the library is opened.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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

    def as_dict(self) -> dict[str, str]:
        """JSON form stored in manifests."""
        return {"name": self.name, "version": self.version, "sha256": self.sha256}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelIdentity:
        """Inverse of :meth:`as_dict`."""
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
