"""Spectrum → molecule retrieval: libraries of predicted spectra, SSR/SME/SSE scoring, fusion.

The parts: :mod:`~nmrpeak_cli.retrieve.build` (build, merge, embed library directories),
:mod:`~nmrpeak_cli.retrieve.library` (the layout; open and verify a library),
:mod:`~nmrpeak_cli.retrieve.search` (candidates, scores, fusion, ranking) and
:mod:`~nmrpeak_cli.retrieve.models` (the encoder interface; the forward model's is
:class:`~nmrpeak_cli.predict.forward.Predictor`),
:mod:`~nmrpeak_cli.retrieve.encoders` and :mod:`~nmrpeak_cli.retrieve.train` (SME/SSE),
:mod:`~nmrpeak_cli.retrieve.bench` (benchmark, fusion fitting) and
:func:`~nmrpeak_cli.retrieve.api.open_searcher` (a library with the shipped models).
"""

from __future__ import annotations

from nmrpeak_cli.artifacts import ModelIdentity
from nmrpeak_cli.predict.forward import Predictor
from nmrpeak_cli.retrieve.api import Searcher, open_searcher
from nmrpeak_cli.retrieve.build import build_library, merge_libraries
from nmrpeak_cli.retrieve.library import Library, LibraryError, open_library
from nmrpeak_cli.retrieve.models import Encoder
from nmrpeak_cli.retrieve.search import FusionWeights, QueryError, SearchParams, retrieve

__all__ = [
    "Encoder",
    "FusionWeights",
    "Library",
    "LibraryError",
    "ModelIdentity",
    "Predictor",
    "QueryError",
    "SearchParams",
    "Searcher",
    "build_library",
    "merge_libraries",
    "open_library",
    "open_searcher",
    "retrieve",
]
