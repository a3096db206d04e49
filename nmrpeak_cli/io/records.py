"""What readers yield: a :class:`~nmrpeak_cli.spectra.Spectrum` / :class:`MoleculeRecord`, or a
:class:`RecordError` for a record that could not be read.

Id policy (all formats)
-----------------------
* A source with no id at all (no ``id`` column in a table, no ``"id"`` key in a JSONL
  object, an empty SDF title with no id property, a SMILES line with no name, a text
  paragraph with no ``id:`` line) gets the generated id ``row<N>``, ``N`` being the 1-based
  record number in that file. Users can feed a bare list of peak strings.
* A table that *has* an ``id`` column but leaves it empty in a row gives a
  :class:`RecordError` for that row (field ``id``): mixing generated and real ids would
  hide a broken export and may collide.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any, TypeVar

from nmrpeak_cli.errors import SpectrumError
from nmrpeak_cli.schema import error_row, row_to_spectrum
from nmrpeak_cli.spectra import Spectrum

T = TypeVar("T")

#: Columns of a query table that readers interpret (docs/schemas.md); others are ignored.
QUERY_COLUMNS: tuple[str, ...] = (
    "id",
    "c13",
    "h1",
    "formula",
    "solvent",
    "field_mhz",
    "smiles",
    "error",
)


@dataclass(frozen=True, slots=True)
class RecordError:
    """A record that could not be read; the rest of its file is read on.

    Attributes
    ----------
    record
        The record's id when known, otherwise ``row<N>``.
    row
        1-based record number in the source (data rows, not counting a header).
    field
        Field at fault (``c13``, ``h1``, ``formula``, ``id``, an SDF property name...), or
        ``None`` when the record as a whole is broken (a malformed CSV line).
    message
        What was received and what was expected.
    source
        File the record came from (``-`` for stdin).
    """

    record: str
    row: int
    field: str | None
    message: str
    source: str

    def __str__(self) -> str:
        return f"{self.source}: record {self.row} ({self.record}): {self.message}"

    @classmethod
    def at_line(cls, number: int, line_number: int, message: str, source: str) -> RecordError:
        """Record ``number`` (id ``row<number>``) of a line-based file, broken as a whole at
        ``line_number``."""
        return cls(f"row{number}", number, None, f"line {line_number}: {message}", source)

    def to_row(self) -> dict[str, Any]:
        """A query-table row carrying this error (id set, peaks null)."""
        return error_row(self.record, str(self))


@dataclass(frozen=True, slots=True)
class MoleculeRecord:
    """One molecule to predict or index (what molecule readers yield, and what
    :func:`~nmrpeak_cli.predict.infer.predict_records` reads).

    Attributes
    ----------
    id
        Record identifier (``row<N>`` when the source has none).
    smiles
        The SMILES as given (validated by the chemistry layer, not here).
    solvent
        Solvent for this record, or ``None`` to use the batch default.
    error
        Set when the record could not even be read; prediction passes it through as a failed
        record so outputs keep one row per input record.
    """

    id: str
    smiles: str
    solvent: str | None = None
    error: str | None = None


ReadResult = Spectrum | RecordError
"""One item of a :func:`~nmrpeak_cli.io.read_spectra` batch."""

MoleculeResult = MoleculeRecord | RecordError
"""One item of a :func:`~nmrpeak_cli.io.read_molecules` batch."""


def generated_id(row: int) -> str:
    """Id given to record ``row`` (1-based) of a source that has no ids."""
    return f"row{row}"


def is_missing(value: object) -> bool:
    """Whether a cell is empty: ``None``, NaN, or blank / ``nan`` / ``null`` text."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip().lower() in {"", "nan", "none", "null"}


def spectrum_result(
    row: Mapping[str, Any], number: int, source: str, *, has_ids: bool = True
) -> ReadResult:
    """Turn one query-table row into a :class:`Spectrum` or a :class:`RecordError`.

    Parameters
    ----------
    row
        Column name → cell (text or list cells, see :func:`~nmrpeak_cli.schema.row_to_spectrum`).
    number
        1-based record number, used for generated ids and error messages.
    source
        File name for error messages.
    has_ids
        Whether the source has ids at all (see the module's id policy).
    """
    if has_ids:
        record = row.get("id")
        if is_missing(record):
            return RecordError(
                generated_id(number), number, "id", "missing id (the id column is empty)", source
            )
        record = str(record).strip()
    else:
        record = generated_id(number)
    if not is_missing(row.get("error")):
        return RecordError(record, number, "error", str(row["error"]), source)
    try:
        spectrum = row_to_spectrum({**row, "id": record})
    except SpectrumError as exc:
        return RecordError(record, number, exc.field, str(exc), source)
    if not spectrum.c13 and not spectrum.h1:
        return RecordError(
            record, number, "c13", "no peaks: both c13 and h1 are empty or missing", source
        )
    return spectrum


def molecule_result(
    smiles: object, record: object, number: int, source: str, *, has_ids: bool = True
) -> MoleculeResult:
    """A :class:`MoleculeRecord`, or a :class:`RecordError` for an empty SMILES or id."""
    name = generated_id(number) if not has_ids else record
    if is_missing(name):
        return RecordError(generated_id(number), number, "id", "missing id", source)
    name = str(name).strip()
    if is_missing(smiles) or not isinstance(smiles, str):
        return RecordError(name, number, "smiles", f"expected a SMILES, got {smiles!r}", source)
    text = smiles.strip()
    if any(c.isspace() for c in text):
        return RecordError(name, number, "smiles", f"SMILES {text!r} contains whitespace", source)
    return MoleculeRecord(name, text)


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of ``size`` items (the last may be shorter); nothing is read ahead."""
    if size < 1:
        raise ValueError(f"batch_size must be at least 1, got {size}")
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch
