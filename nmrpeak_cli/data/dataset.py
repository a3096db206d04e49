"""The prepared experimental dataset: its Arrow schema (``dataset``) and row conversions.

``DATADIR/experimental.parquet`` has one row per molecule (columns of :data:`DATASET_SCHEMA`);
``DATADIR/queries/<scheme>_<split>.parquet`` are query tables (DESIGN.md §4) made from it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from nmrpeak_cli.data.nmrshiftdb import ExperimentalRecord
from nmrpeak_cli.errors import InputFileError
from nmrpeak_cli.schema import register_schema, spectrum_to_row
from nmrpeak_cli.spectra import Nucleus, Peak, PeakList, Spectrum

C13_PEAK_TYPE = pa.struct(
    [
        pa.field("shift", pa.float64()),
        pa.field("n_atoms", pa.int32()),
        pa.field("n_h", pa.int8()),
    ]
)
"""One experimental 13C peak: shift (ppm), number of carbons, attached H (0–3 or null)."""

H1_PEAK_TYPE = pa.struct(
    [
        pa.field("shift", pa.float64()),
        pa.field("integration", pa.float64()),
        pa.field("multiplicity", pa.string()),
    ]
)
"""One experimental 1H peak: shift (ppm), number of protons, multiplicity code or null."""

SPLIT_SCHEMES: tuple[str, ...] = ("scaffold", "random")

DATASET_FIELDS: tuple[pa.Field, ...] = (
    pa.field("id", pa.string(), nullable=False),
    pa.field("smiles", pa.string(), nullable=False),
    pa.field("inchikey", pa.string(), nullable=False),
    pa.field("formula", pa.string()),
    pa.field("n_heavy", pa.int32()),
    pa.field("scaffold", pa.string()),
    pa.field("solvent_c13", pa.string()),
    pa.field("solvent_h1", pa.string()),
    pa.field("c13_shifts", pa.list_(pa.float64())),
    pa.field("c13_n_h", pa.list_(pa.int8())),
    pa.field("c13_complete", pa.bool_()),
    pa.field("h1_shifts", pa.list_(pa.float64())),
    pa.field("h1_complete", pa.bool_()),
    pa.field("c13", pa.list_(C13_PEAK_TYPE)),
    pa.field("h1", pa.list_(H1_PEAK_TYPE)),
    pa.field("cascade_atoms", pa.list_(pa.int32())),
    pa.field("cascade_shifts", pa.list_(pa.float64())),
    pa.field("split_scaffold", pa.string()),
    pa.field("split_random", pa.string()),
)

DATASET_SCHEMA = register_schema("dataset", DATASET_FIELDS)
"""``experimental.parquet``: one row per molecule.

``c13_shifts``/``c13_n_h``: one entry per listed carbon (highest shift first);
``h1_shifts``: one entry per proton; ``*_complete``: every C/H of the molecule is listed;
``c13``/``h1``: experimental-style peaks (one per distinct shift, with counts);
``cascade_atoms``/``cascade_shifts``: atom-mapped 13C on the atom order of
``Chem.MolFromSmiles(smiles)``, null when the molecule is not in CASCADE;
``split_scaffold``/``split_random``: ``train``, ``valid`` or ``test``.
"""


def record_to_row(
    record: ExperimentalRecord,
    cascade: tuple[Sequence[int], Sequence[float]] | None,
    split_scaffold: str,
    split_random: str,
) -> dict[str, Any]:
    """One :data:`DATASET_SCHEMA` row for a record, its CASCADE mapping and its splits."""
    c13, h1 = record.c13, record.h1
    return {
        "id": record.id,
        "smiles": record.smiles,
        "inchikey": record.inchikey,
        "formula": record.formula,
        "n_heavy": record.n_heavy,
        "scaffold": record.scaffold,
        "solvent_c13": None if c13 is None else c13.solvent,
        "solvent_h1": None if h1 is None else h1.solvent,
        "c13_shifts": None if c13 is None else list(c13.shifts),
        "c13_n_h": None if c13 is None else list(c13.n_h),
        "c13_complete": None if c13 is None else c13.complete,
        "h1_shifts": None if h1 is None else list(h1.shifts),
        "h1_complete": None if h1 is None else h1.complete,
        "c13": None if c13 is None else c13.peaks(),
        "h1": None if h1 is None else h1.peaks(),
        "cascade_atoms": None if cascade is None else list(cascade[0]),
        "cascade_shifts": None if cascade is None else list(cascade[1]),
        "split_scaffold": split_scaffold,
        "split_random": split_random,
    }


def row_to_query_spectrum(row: Mapping[str, Any], field_mhz: float | None = None) -> Spectrum:
    """The query :class:`Spectrum` of a dataset row: one 13C shift per distinct peak, 1H peaks
    with integration and multiplicity, formula, solvent (13C's, else 1H's) and the true SMILES."""
    c13 = None
    if row.get("c13") is not None:
        shifts = sorted({peak["shift"] for peak in row["c13"]}, reverse=True)
        c13 = PeakList(Nucleus.C13, tuple(Peak(s) for s in shifts))
    h1 = None
    if row.get("h1") is not None:
        h1 = PeakList(
            Nucleus.H1,
            tuple(
                Peak(p["shift"], integration=p["integration"], multiplicity=p["multiplicity"])
                for p in row["h1"]
            ),
        )
    return Spectrum(
        id=row["id"],
        c13=c13,
        h1=h1,
        formula=row.get("formula"),
        solvent=row.get("solvent_c13") or row.get("solvent_h1"),
        field_mhz=field_mhz,
        smiles=row.get("smiles"),
    )


def query_rows(
    rows: Sequence[Mapping[str, Any]], field_mhz: Mapping[str, float | None] | None = None
) -> list[dict[str, Any]]:
    """Query-table rows (``QUERY_SCHEMA``) for dataset rows; ``field_mhz`` by row id."""
    fields = field_mhz or {}
    return [spectrum_to_row(row_to_query_spectrum(row, fields.get(row["id"]))) for row in rows]


def read_dataset(
    path: Path, split: tuple[str, str] | None = None, columns: Sequence[str] | None = None
) -> pa.Table:
    """Read ``experimental.parquet`` (or a folder holding it), optionally one split.

    Parameters
    ----------
    path
        The Parquet file or the ``DATADIR`` folder.
    split
        ``(scheme, split)``, e.g. ``("scaffold", "train")``, to keep only those rows.
    columns
        Columns to read (default: all).

    Raises
    ------
    InputFileError
        The file is missing or lacks columns of :data:`DATASET_SCHEMA`.
    ValueError
        Unknown scheme or split name.
    """
    path = Path(path)
    file = path / "experimental.parquet" if path.is_dir() else path
    if not file.is_file():
        raise InputFileError(f"{file} not found; run 'nmrpeak data prepare' first")
    wanted = list(columns) if columns is not None else list(DATASET_SCHEMA.names)
    if split is not None:
        scheme, name = split
        if scheme not in SPLIT_SCHEMES or name not in {"train", "valid", "test"}:
            raise ValueError(
                f"split must be (scheme, split) with scheme in {SPLIT_SCHEMES} and split in "
                f"('train', 'valid', 'test'), got {split!r}"
            )
    missing = sorted(set(wanted) - set(pq.read_schema(file).names))
    if missing:
        raise InputFileError(
            f"{file} lacks dataset columns {missing}; re-run 'nmrpeak data prepare'"
        )
    if split is None:
        return pq.read_table(file, columns=wanted)
    column = f"split_{split[0]}"
    table = pq.read_table(file, columns=wanted if column in wanted else [*wanted, column])
    table = table.filter(pc.equal(table.column(column), split[1]))
    return table if column in wanted else table.drop_columns([column])
