"""Training pairs of the generator: a canonical input spectrum and its target SMILES.

Read from the experimental table or a simulated corpus (:func:`load_pairs`, RDKit
canonicalizes the SMILES), and written to / read from a packed Parquet table
(:func:`write_pairs`, :func:`read_pairs`) so that a machine without RDKit (a lent GPU) can
train on pairs prepared here. The training loop is :mod:`~nmrpeak_cli.generate.train`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from nmrpeak_cli import chem
from nmrpeak_cli.errors import InputFileError, NmrpeakError, SpectrumError
from nmrpeak_cli.generate.inputs import canonical_input
from nmrpeak_cli.spectra import Nucleus, Peak, PeakList, Spectrum

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Pair:
    """One training example: a canonical input spectrum and its canonical isomeric SMILES."""

    spectrum: Spectrum
    """What the model reads (see :func:`~nmrpeak_cli.generate.inputs.canonical_input`)."""
    smiles: str
    """Target SMILES."""


def _group_h1(shifts: Iterable[float]) -> PeakList:
    counts: dict[float, int] = {}
    for s in shifts:
        key = round(float(s), 2)
        counts[key] = counts.get(key, 0) + 1
    return PeakList(Nucleus.H1, tuple(Peak(s, integration=n) for s, n in counts.items()))


def row_to_pair(row: dict[str, Any]) -> Pair:
    """A training pair from a row of the experimental or simulated table.

    Reads the ``c13``/``h1`` peak columns (experimental-table structs, query-table lists or
    text), falling back to per-atom columns (``c13_shifts``: one shift per carbon,
    ``h1_shifts``: one per proton, grouped into integrated peaks). Raises :class:`SpectrumError` naming the field at fault.
    """
    from nmrpeak_cli.schema import cell_to_peaklist

    smiles = row.get("smiles")
    if not smiles:
        raise SpectrumError("missing SMILES", "smiles")
    mol = chem.parse_smiles(str(smiles))
    c13 = cell_to_peaklist(row.get("c13"), Nucleus.C13)
    h1 = cell_to_peaklist(row.get("h1"), Nucleus.H1)
    if c13 is None and row.get("c13_shifts") is not None:
        c13 = PeakList.from_shifts(Nucleus.C13, row["c13_shifts"])
    if h1 is None and row.get("h1_shifts") is not None:
        h1 = _group_h1(row["h1_shifts"])
    spectrum = Spectrum(
        str(row.get("id") or smiles),
        c13=c13 or None,
        h1=h1 or None,
        formula=row.get("formula") or chem.formula(mol),
    )
    return Pair(canonical_input(spectrum), chem.canonical_smiles(mol, isomeric=True))


def load_pairs(
    path: str | Path,
    *,
    split_column: str | None = None,
    splits: Sequence[str] = ("train",),
    limit: int | None = None,
    jobs: int = 1,
) -> list[Pair]:
    """Training pairs from a Parquet table (or a corpus folder), optionally only rows of ``splits``.

    Rows that cannot be used (bad SMILES, no peaks) are skipped and counted in the log.
    ``jobs`` worker processes parse the rows (worth it from tens of thousands of rows).
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    path = Path(path)
    if path.is_dir():
        from nmrpeak_cli.generate.corpus import read_corpus

        table = pa.concat_tables(pq.read_table(p) for p in read_corpus(path))
    elif path.is_file():
        table = pq.read_table(path)
    else:
        raise InputFileError(f"training table {path} not found; run `nmrpeak data prepare` first")
    if split_column is not None:
        if split_column not in table.column_names:
            raise InputFileError(
                f"{path}: no column {split_column!r}; columns are {table.column_names}"
            )
        table = table.filter(pc.is_in(table[split_column], value_set=_strings(splits)))
    if limit is not None:
        table = table.slice(0, limit)
    from nmrpeak_cli.batch import parallel_map

    pairs, skipped = [], 0
    for pair in parallel_map(_try_pair, table.to_pylist(), jobs=jobs, chunk_size=512):
        if pair is not None and pair.spectrum.nuclei:
            pairs.append(pair)
        else:
            skipped += 1
    log.info("%s: %d pairs, %d rows skipped", path, len(pairs), skipped)
    return pairs


def write_pairs(pairs: Sequence[Pair], path: str | Path) -> Path:
    """Write training pairs to a Parquet query table (atomically); :func:`read_pairs` reads it.

    Each row is the pair's canonical input spectrum with its target SMILES in ``smiles``, so
    a machine without RDKit (a lent GPU) can train on pairs prepared here.
    """
    import pyarrow.parquet as pq

    from nmrpeak_cli.paths import atomic_path
    from nmrpeak_cli.schema import QUERY_SCHEMA, rows_to_table, spectrum_to_row

    path = Path(path)
    rows = [spectrum_to_row(replace(p.spectrum, smiles=p.smiles)) for p in pairs]
    with atomic_path(path) as tmp:
        table = rows_to_table(rows, QUERY_SCHEMA)
        pq.write_table(table, tmp, compression="zstd", compression_level=19)
    return path


def read_pairs(path: str | Path) -> list[Pair]:
    """Pairs written by :func:`write_pairs`, without RDKit (the SMILES are taken as stored)."""
    import pyarrow.parquet as pq

    from nmrpeak_cli.schema import cell_to_peaklist

    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"pairs table {path} not found")
    pairs = []
    for row in pq.read_table(path).to_pylist():
        spectrum = Spectrum(
            row["id"],
            c13=cell_to_peaklist(row["c13"], Nucleus.C13),
            h1=cell_to_peaklist(row["h1"], Nucleus.H1),
            formula=row["formula"],
            solvent=row["solvent"],
        )
        pairs.append(Pair(spectrum, row["smiles"]))
    return pairs


def _try_pair(row: dict[str, Any]) -> Pair | None:
    try:
        return row_to_pair(row)
    except (NmrpeakError, ValueError):
        return None


def _strings(values: Sequence[str]):
    import pyarrow as pa

    return pa.array(list(values), type=pa.string())
