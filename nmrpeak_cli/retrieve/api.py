"""One-call setup of retrieval with the shipped models, for the CLI and other modules, and
the picklable batch body the CLI runs through the shared batch runner."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from nmrpeak_cli.paths import models_dir
from nmrpeak_cli.retrieve.library import Library, open_library, read_manifest
from nmrpeak_cli.retrieve.models import Encoder
from nmrpeak_cli.retrieve.search import QueryError, SearchParams, retrieve, retrieve_groups
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

    def groups(self, spectra: Iterable[Spectrum | QueryError]) -> list[list[dict[str, Any]]]:
        """The rows of each query, one list per query in input order."""
        return list(
            retrieve_groups(spectra, self.library, encoders=self.encoders, params=self.params)
        )

    def digest(self) -> dict[str, Any]:
        """What shapes the result rows (library files, encoder versions, ``k``, candidate
        depth, fusion weights, similarity parameters), for ``--resume`` checks."""
        return {
            "library": {name: f["sha256"] for name, f in self.library.manifest["files"].items()},
            "encoders": {name: e.identity.to_dict() for name, e in self.encoders.items()},
            "k": self.params.k,
            "candidates": self.params.candidates,
            "weights": self.params.weights.to_dict(),
            "similarity": repr(self.params.similarity),
        }


def open_searcher(
    library_dir: str | Path,
    *,
    k: int = 10,
    use_encoders: bool = True,
    params: SearchParams | None = None,
    checksums: bool = True,
    models: Path | None = None,
) -> Searcher:
    """Open ``library_dir`` with the shipped encoders it was embedded with, their fusion
    weights (SSR alone when there are none, or with ``use_encoders=False``) and the
    similarity tolerance scale fitted with them. ``checksums=False`` compares file sizes
    but skips the sha256 of every library file (for processes opening a library that was
    already verified). ``models`` is the folder of the shipped models (default:
    :func:`nmrpeak_cli.paths.models_dir`).

    Raises
    ------
    LibraryError
        The library is incomplete or corrupt, or was embedded with other encoder versions
        than the shipped ones (the message names both).
    """
    from nmrpeak_cli.retrieve.encoders import (
        load_fusion_weights,
        load_shipped_encoders,
        load_similarity_params,
    )

    encoders: dict[str, Encoder] = {}
    if use_encoders:
        held = set(read_manifest(library_dir).get("encoders", {}))
        encoders = {n: e for n, e in load_shipped_encoders(models).items() if n in held}
    library = open_library(
        library_dir, encoders=[e.identity for e in encoders.values()], checksums=checksums
    )
    fitted = replace(
        params or SearchParams(),
        k=k,
        weights=load_fusion_weights(encoders, models),
        similarity=load_similarity_params(models),
    )
    return Searcher(library, encoders, fitted)


@lru_cache(maxsize=2)
def process_searcher(
    library_dir: Path,
    k: int,
    use_encoders: bool,
    params: SearchParams,
    checksums: bool = True,
    threads: int | None = None,
    models: Path | None = None,
) -> Searcher:
    """:func:`open_searcher`, once per process (worker processes and Dask tasks reuse it).

    ``threads`` limits torch and faiss CPU threads first (1 in worker processes, so they do
    not oversubscribe the cores).
    """
    searcher = open_searcher(
        library_dir,
        k=k,
        use_encoders=use_encoders,
        params=params,
        checksums=checksums,
        models=models,
    )
    if threads is not None and searcher.encoders:
        import faiss

        from nmrpeak_cli.predict.infer import set_torch_threads

        set_torch_threads(threads)
        faiss.omp_set_num_threads(threads)
    return searcher


@dataclass(frozen=True, slots=True)
class SearchBatch:
    """Picklable batch body for :func:`nmrpeak_cli.batch.run_records`: the ranked result rows
    of each query (a :class:`~nmrpeak_cli.spectra.Spectrum` or a :class:`QueryError`).

    Attributes
    ----------
    library
        Library directory (absolute, so worker processes and Dask workers find it).
    k, use_encoders, params
        See :func:`open_searcher`; the library is opened once per process.
    report
        Folder for one HTML report per query (:func:`nmrpeak_cli.report.write_query_report`,
        written by the process that searched it), or ``None``.
    report_top
        Candidates shown per report.
    checksums
        Verify every library file's sha256 when this process opens the library.
    threads
        torch/faiss CPU threads in this process (``None``: their default).
    models
        Folder of the shipped encoders and fusion card, resolved where the batch body is
        made (workers and Dask nodes may see another ``NMRPEAK_MODELS``).
    """

    library: Path
    k: int = 10
    use_encoders: bool = True
    params: SearchParams = field(default_factory=SearchParams)
    report: Path | None = None
    report_top: int = 3
    checksums: bool = True
    threads: int | None = None
    models: Path = field(default_factory=models_dir)

    def verified_searcher(self) -> Searcher:
        """The searcher with every library file's sha256 checked, in this process: the CLI
        calls it once where the batch body is made (a bad library is reported before any
        query runs), so worker processes may compare file sizes only."""
        return replace(self, checksums=True, threads=None).searcher()

    def searcher(self) -> Searcher:
        """This process's searcher (opened on first use)."""
        return process_searcher(
            self.library,
            self.k,
            self.use_encoders,
            self.params,
            self.checksums,
            self.threads,
            self.models,
        )

    def __call__(self, batch: list[Spectrum | QueryError]) -> list[list[dict[str, Any]]]:
        """Search one batch of queries; unsearchable ones give a row with ``error``."""
        searcher = self.searcher()
        groups = searcher.groups(batch)
        if self.report is not None:
            groups = self._write_reports(searcher.library, batch, groups)
        return groups

    def _write_reports(
        self,
        library: Library,
        batch: Sequence[Spectrum | QueryError],
        groups: list[list[dict[str, Any]]],
    ) -> list[list[dict[str, Any]]]:
        """One report per query (:func:`nmrpeak_cli.report.write_reports`; a query that failed
        to read gets one showing its error), its candidates drawn with the predicted spectra
        the library stores."""
        from nmrpeak_cli.report import report_candidates, write_reports

        shown = [report_candidates(rows, self.report_top) for rows in groups]
        wanted = sorted({r["library_row"] for rows in shown for r in rows})
        stored = dict(zip(wanted, library.predicted(wanted) if wanted else [], strict=True))
        return write_reports(
            [Spectrum(id=q.id) if isinstance(q, QueryError) else q for q in batch],
            groups,
            self.report,
            None,
            top=self.report_top,
            overlays=[
                _lookup({r["smiles"]: stored[r["library_row"]] for r in rows}) for rows in shown
            ],
        )


def _lookup(known: Mapping[str, Spectrum]) -> Callable[[list[str]], list[Spectrum | None]]:
    """``predict`` for a report from stored spectra by SMILES (``None`` for any other)."""
    return lambda smiles: [known.get(s) for s in smiles]
