"""What a library is built with: the encoder interface and the predicted-row conversion.

Libraries hold spectra predicted from SMILES and embeddings made by encoders, so the code that
builds and searches them takes both as parameters (dependency injection): the shipped models
in production, tiny stand-ins in tests. The forward model's interface is
:class:`~nmrpeak_cli.predict.forward.Predictor`; a
:class:`~nmrpeak_cli.artifacts.ModelIdentity` (name, version, sha256 of the weights) of each
model is recorded in the library manifest and compared when the library is opened.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from nmrpeak_cli.artifacts import ModelIdentity
from nmrpeak_cli.spectra import Nucleus, Peak, PeakList, Spectrum


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
