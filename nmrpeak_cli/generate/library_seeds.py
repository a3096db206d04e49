"""Library neighbours as structure-search seeds (``generate --search -l LIB``; issue 16).

Each query's ``k`` nearest library entries, retrieved **ignoring the formula**
(:mod:`nmrpeak_cli.retrieve`, ``formula_policy="ignore"``), join its seeds as
``Seed(smiles, "library")`` after the beam's: their frameworks and fragments feed the moves
and the recombination even when their formula differs from the query's. Retrieval costs one
library search per query (the library's spectra are already predicted).

Build a seed library from training molecules only (``nmrpeak data library-input``, then
``nmrpeak library build --predictor-weights``): a library that holds a benchmark's test
molecules makes its numbers meaningless.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nmrpeak_cli.spectra import Spectrum

if TYPE_CHECKING:
    from nmrpeak_cli.retrieve.api import Searcher


@lru_cache(maxsize=2)
def process_searcher(directory: Path, k: int, encoders: bool, checksums: bool) -> Searcher:
    """The formula-ignoring searcher of the library at ``directory``, opened once per process.

    Raises :class:`~nmrpeak_cli.retrieve.library.LibraryError` (an incomplete, corrupt or
    foreign-model library) or :class:`~nmrpeak_cli.errors.InputFileError` (no such folder).
    """
    from nmrpeak_cli.retrieve.api import open_searcher
    from nmrpeak_cli.retrieve.search import SearchParams

    return open_searcher(
        directory,
        k=k,
        use_encoders=encoders,
        params=SearchParams(formula_policy="ignore"),
        checksums=checksums,
    )


@dataclass(frozen=True, slots=True)
class LibrarySeeds:
    """Picklable settings of the library seeds: the library folder, neighbours per query and
    whether the shipped encoders it was embedded with are used (``False``: SSR alone, for
    benchmarks on a split the encoders were not trained on)."""

    directory: Path
    k: int = 10
    encoders: bool = True
    checksums: bool = False
    """Verify every file's sha256 when this process opens the library (the command verifies
    once up front; workers compare sizes only)."""

    def searcher(self) -> Searcher:
        """This process's searcher (opened on first use)."""
        return process_searcher(self.directory, self.k, self.encoders, self.checksums)

    def neighbours(self, queries: Sequence[Spectrum]) -> list[list[dict[str, Any]]]:
        """The retrieval rows (``smiles``, ``inchikey``, ``score``, ...) of the ``k`` nearest
        entries of each query, best first; an empty list where a query has none."""
        if not queries:
            return []
        groups = self.searcher().groups(list(queries))
        return [[r for r in rows if r.get("smiles") and not r.get("error")] for rows in groups]

    def smiles(self, queries: Sequence[Spectrum]) -> list[list[str]]:
        """SMILES of :meth:`neighbours`."""
        return [[r["smiles"] for r in rows] for rows in self.neighbours(queries)]

    def digest(self) -> dict[str, Any]:
        """What shapes the seeds (library files, encoders, ``k``), for ``--resume`` checks."""
        return {"library": self.searcher().digest(), "k": self.k, "encoders": self.encoders}


__all__ = ["LibrarySeeds", "process_searcher"]
