"""Training/evaluation records from the prepared experimental table.

The table is the output of ``nmrpeak data prepare`` (``data/experimental.parquet``): one row
per molecule with per-atom 13C and per-H 1H shift lists, attached-H counts for 13C, optional
atom-mapped CASCADE 13C shifts and split labels. A row whose 13C and 1H spectra were measured
in different solvents becomes two records, one per nucleus, so each is conditioned on its own
solvent.

``split_column = "all"`` (:data:`ALL_SPLIT`, the shipped model) takes every row of the table
plus ``literature.parquet`` next to it, minus a deterministic validation carve-out
(:func:`in_carve_out`, by InChIKey first block so stereoisomers stay together).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nmrpeak_cli.errors import InputFileError
from nmrpeak_cli.predict.featurize import MolGraph, featurize, parse_molecule, solvent_index

REQUIRED_COLUMNS: tuple[str, ...] = (
    "id",
    "smiles",
    "n_heavy",
    "solvent_c13",
    "solvent_h1",
    "c13_shifts",
    "c13_n_h",
    "h1_shifts",
    "cascade_atoms",
    "cascade_shifts",
)
"""Columns of the experimental table this module reads (plus the split column)."""

ALL_SPLIT = "all"
"""``split_column`` value meaning: every row of the experimental and literature tables."""
LITERATURE_TABLE = "literature.parquet"
"""Literature table of ``nmrpeak data prepare``, next to ``experimental.parquet``."""
CARVE_OUT_FRACTION = 0.05
"""Share of molecules (by connectivity block) held out for early stopping with ``all``."""
CARVE_OUT_RULE = (
    "valid = InChIKey first block whose sha256, read as a 64-bit fraction, is below 0.05 "
    "(stereoisomers share the block, so they stay together); train = every other row of "
    "experimental.parquet (train+valid+test of both splits) and literature.parquet"
)
"""The carve-out, in words, for model cards."""


@dataclass(frozen=True, slots=True)
class ShiftRecord:
    """One molecule with its observed shifts, ready for the model.

    Attributes
    ----------
    id
        Record id from the table.
    smiles
        The molecule.
    graph
        Its featurized graph (solvent of the spectra this record carries).
    c13
        Observed per-carbon 13C shifts, ppm, or ``None``.
    c13_n_h
        Attached-H count per 13C entry, ``-1`` where unknown, or ``None``.
    h1
        Observed per-H 1H shifts, ppm, or ``None``.
    cascade_atoms
        Atom indices with a true (atom-mapped) 13C shift, or ``None``.
    cascade_shifts
        The true 13C shifts of ``cascade_atoms``, ppm, or ``None``.
    """

    id: str
    smiles: str
    graph: MolGraph
    c13: np.ndarray | None = None
    c13_n_h: np.ndarray | None = None
    h1: np.ndarray | None = None
    cascade_atoms: np.ndarray | None = None
    cascade_shifts: np.ndarray | None = None


def read_table(path: Path, split_column: str, splits: Sequence[str]) -> list[dict]:
    """Rows of the experimental table whose ``split_column`` is in ``splits``.

    Raises
    ------
    InputFileError
        When the file is missing or lacks a required column.
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise InputFileError(
            f"experimental table {path} not found; run `nmrpeak data prepare` first or pass --data"
        )
    schema = pq.read_schema(path)
    missing = [c for c in (*REQUIRED_COLUMNS, split_column) if c not in schema.names]
    if missing:
        raise InputFileError(
            f"{path}: missing columns {missing}; expected the `data prepare` table"
        )
    table = pq.read_table(path, columns=[*REQUIRED_COLUMNS, split_column])
    table = table.filter(pc.is_in(table[split_column], value_set=_string_array(splits)))
    return table.to_pylist()


def literature_path(data: Path) -> Path:
    """``literature.parquet`` next to the experimental table ``data``."""
    return Path(data).parent / LITERATURE_TABLE


def in_carve_out(inchikey: str, fraction: float = CARVE_OUT_FRACTION) -> bool:
    """Whether a molecule falls in the validation carve-out of the ``all`` split.

    Decided by the InChIKey first block alone (sha256 as a fraction in [0, 1)), so the
    choice is the same on every machine and run, and stereoisomers are never split.
    """
    block = str(inchikey)[:14].encode()
    return int.from_bytes(hashlib.sha256(block).digest()[:8], "big") / 2**64 < fraction


def _read_all_rows(path: Path, what: str) -> list[dict]:
    import pyarrow.parquet as pq

    if not path.is_file():
        raise InputFileError(
            f"{what} {path} not found; `--split all` needs experimental.parquet and "
            f"{LITERATURE_TABLE} from `nmrpeak data prepare` in one folder"
        )
    columns = [*REQUIRED_COLUMNS, "inchikey"]
    missing = [c for c in columns if c not in pq.read_schema(path).names]
    if missing:
        raise InputFileError(
            f"{path}: missing columns {missing}; expected the `data prepare` table"
        )
    return pq.read_table(path, columns=columns).to_pylist()


def read_all(path: Path, fraction: float = CARVE_OUT_FRACTION) -> tuple[list[dict], list[dict]]:
    """``(train, valid)`` rows of the ``all`` split: the experimental table at ``path`` and
    :func:`literature_path` together, the validation part chosen by :func:`in_carve_out`.

    Raises
    ------
    InputFileError
        When either table is missing or lacks a required column (or ``inchikey``).
    """
    rows = _read_all_rows(Path(path), "experimental table")
    rows += _read_all_rows(literature_path(path), "literature table")
    train, valid = [], []
    for row in rows:
        (valid if in_carve_out(row["inchikey"], fraction) else train).append(row)
    return train, valid


def validation_rows(path: Path, split_column: str) -> list[dict]:
    """Validation rows of ``split_column``: its ``valid`` rows, or the carve-out of
    :func:`read_all` for ``all`` (what early stopping, the memory's shrinkage and the
    uncertainty calibration of an ``all`` model are fitted on)."""
    if split_column == ALL_SPLIT:
        return read_all(Path(path))[1]
    return read_table(path, split_column, ["valid"])


def _string_array(values: Sequence[str]):
    import pyarrow as pa

    return pa.array(list(values), type=pa.string())


def records_from_rows(rows: Sequence[dict]) -> tuple[list[ShiftRecord], list[tuple[str, str]]]:
    """Build records; returns them and ``(id, reason)`` for rows that were skipped."""
    records: list[ShiftRecord] = []
    skipped: list[tuple[str, str]] = []
    for row in rows:
        try:
            records.extend(_records_from_row(row))
        except (ValueError, TypeError) as exc:
            skipped.append((str(row.get("id")), str(exc)))
    return records, skipped


def _array(values: object, dtype: type) -> np.ndarray | None:
    if values is None or len(values) == 0:  # type: ignore[arg-type]
        return None
    return np.asarray(values, dtype=dtype)


def _records_from_row(row: dict) -> list[ShiftRecord]:
    mol = parse_molecule(row["smiles"])
    c13 = _array(row.get("c13_shifts"), np.float64)
    h1 = _array(row.get("h1_shifts"), np.float64)
    c13_n_h = None
    if c13 is not None and row.get("c13_n_h") is not None:
        c13_n_h = np.array([-1 if v is None else v for v in row["c13_n_h"]], dtype=np.int64)
        if c13_n_h.shape != c13.shape:
            c13_n_h = None
    cascade_atoms = _array(row.get("cascade_atoms"), np.int64)
    cascade_shifts = _array(row.get("cascade_shifts"), np.float64)
    if cascade_atoms is not None and (
        cascade_shifts is None
        or cascade_atoms.shape != cascade_shifts.shape
        or cascade_atoms.max() >= mol.GetNumAtoms()
    ):
        cascade_atoms = cascade_shifts = None
    has_c13 = c13 is not None or cascade_atoms is not None
    solvent_c13 = _safe_solvent(row.get("solvent_c13"))
    solvent_h1 = _safe_solvent(row.get("solvent_h1"))
    common = {"id": str(row["id"]), "smiles": row["smiles"]}
    c13_part = {
        "c13": c13,
        "c13_n_h": c13_n_h,
        "cascade_atoms": cascade_atoms,
        "cascade_shifts": cascade_shifts,
    }
    if has_c13 and h1 is not None and solvent_c13 != solvent_h1:
        return [
            ShiftRecord(graph=featurize(mol, solvent_c13), **common, **c13_part),
            ShiftRecord(graph=featurize(mol, solvent_h1), h1=h1, **common),
        ]
    if not has_c13 and h1 is None:
        return []
    solvent = solvent_c13 if has_c13 else solvent_h1
    if not has_c13:
        c13_part = {}
    return [ShiftRecord(graph=featurize(mol, solvent), h1=h1, **common, **c13_part)]


def _safe_solvent(name: str | None) -> int:
    try:
        return solvent_index(name)
    except ValueError:
        return solvent_index("other")


def load_records(path: Path, split_column: str, splits: Sequence[str]) -> list[ShiftRecord]:
    """Read and featurize the records of ``splits`` (rows the model cannot handle are dropped)."""
    records, _ = records_from_rows(read_table(path, split_column, splits))
    return records
