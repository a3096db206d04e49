"""One-call setup of retrieval with the shipped models, for the CLI and other modules."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from nmrpeak_cli.retrieve.library import Library, open_library, read_manifest
from nmrpeak_cli.retrieve.models import Encoder
from nmrpeak_cli.retrieve.search import QueryError, SearchParams, retrieve
from nmrpeak_cli.spectra import Spectrum


@dataclass(frozen=True)
class Searcher:
    """An opened library with the encoders and parameters to search it.

    Attributes
    ----------
    library
        The opened, verified library.
    encoders
        Query-side encoders in use (the shipped ones the library was embedded with).
    params
        Search parameters, fusion weights included.
    """

    library: Library
    encoders: dict[str, Encoder]
    params: SearchParams

    def __call__(self, spectra: Iterable[Spectrum | QueryError]) -> Iterator[dict[str, Any]]:
        """Ranked RESULTS_SCHEMA rows for ``spectra`` (see :func:`~nmrpeak_cli.retrieve.search.retrieve`)."""
        return retrieve(spectra, self.library, encoders=self.encoders, params=self.params)


def open_searcher(
    library_dir: str | Path,
    *,
    k: int = 10,
    use_encoders: bool = True,
    params: SearchParams | None = None,
) -> Searcher:
    """Open ``library_dir`` with the shipped encoders it was embedded with, their fusion
    weights (SSR alone when there are none, or with ``use_encoders=False``) and the
    similarity tolerance scale fitted with them.

    Raises
    ------
    LibraryError
        The library is incomplete or corrupt, or was embedded with other encoder versions
        than the shipped ones (the message names both).
    """
    from nmrpeak_cli.retrieve.encoders import (
        load_fusion_weights,
        load_shipped_encoders,
    )

    encoders: dict[str, Encoder] = {}
    if use_encoders:
        held = set(read_manifest(library_dir).get("encoders", {}))
        encoders = {n: e for n, e in load_shipped_encoders().items() if n in held}
    library = open_library(library_dir, encoders=[e.identity for e in encoders.values()])
    base = params or SearchParams()
    return Searcher(library, encoders, replace(base, k=k, weights=load_fusion_weights(encoders)))
