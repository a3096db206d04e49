"""Molecule sets for libraries: the default library's MOSES slice, experimental molecules,
and the user's own files."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

import pyarrow.parquet as pq


def experimental_molecules(path: Path) -> Iterator[tuple[str, str]]:
    """``(id, smiles)`` of a prepared experimental table (``data/experimental.parquet``)."""
    table = pq.read_table(path, columns=["id", "smiles"])
    yield from zip(table.column("id").to_pylist(), table.column("smiles").to_pylist(), strict=True)


def default_molecules(
    moses: int,
    experimental: Path | None = None,
    extra: Iterable[tuple[str, str | None, str | None]] = (),
) -> Iterator[tuple[str, str | None, str | None]]:
    """Molecules of the default library: ``extra`` (the user's), the prepared experimental
    molecules when given, then the first ``moses`` MOSES molecules (from the registry wheel).

    Yields ``(id, smiles, reader error)``; MOSES ids are ``moses:<n>``.
    """
    yield from extra
    if experimental is not None:
        for mol_id, smiles in experimental_molecules(experimental):
            yield f"exp:{mol_id}", smiles, None
    if moses > 0:
        from nmrpeak_cli.data.moses import load_moses_smiles

        for n, smiles in enumerate(islice(load_moses_smiles(), moses)):
            yield f"moses:{n}", smiles, None
