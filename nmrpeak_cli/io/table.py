"""Tables: CSV, TSV, Parquet and JSONL readers and writers.

Reading
-------
Query columns follow docs/schemas.md (``id``, ``c13``, ``h1``, ``formula``, ``solvent``,
``field_mhz``, ``smiles``; an ``error`` cell passes through as a record error). Header
names are matched case-insensitively; other columns are ignored. A ``c13``/``h1`` cell may
be journal text or a list (numbers, or peak structs/objects). A file with neither a ``c13``
nor an ``h1`` column raises :class:`~nmrpeak_cli.errors.InputFileError`. Molecule tables
need a ``smiles`` column. All readers stream: CSV/TSV/JSONL line by line (each line decoded
on its own, so a non-UTF-8 byte spoils only its record), Parquet by
:meth:`pyarrow.parquet.ParquetFile.iter_batches`.

Writing
-------
Parquet stores the schema as is. CSV/TSV render ``c13``/``h1`` list cells as journal text
(:func:`~nmrpeak_cli.io.text.format_peaks`; prediction ``n_atoms`` becomes the integration)
and other nested cells as JSON. JSONL writes one JSON object per row.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Any

import pyarrow as pa

from nmrpeak_cli.errors import InputFileError, SpectrumError
from nmrpeak_cli.io.records import (
    QUERY_COLUMNS,
    MoleculeResult,
    ReadResult,
    RecordError,
    batched,
    molecule_result,
    spectrum_result,
)
from nmrpeak_cli.io.registry import Format, Source, conform, register_format, text_stream
from nmrpeak_cli.io.text import format_peaks
from nmrpeak_cli.spectra import Nucleus, PeakList

# --------------------------------------------------------------------------------------------
# Shared row handling
# --------------------------------------------------------------------------------------------


def _check_spectra_columns(names: Sequence[str], source: Source) -> None:
    if "c13" not in names and "h1" not in names:
        raise InputFileError(
            f"{source.name}: no 'c13' or 'h1' column; found {list(names)}; a query table needs "
            "at least one of them (docs/schemas.md)"
        )


def _check_molecule_columns(names: Sequence[str], source: Source) -> None:
    if "smiles" not in names:
        raise InputFileError(f"{source.name}: no 'smiles' column; found {list(names)}")


def _has_surrogates(text: str) -> bool:
    return any("\udc80" <= c <= "\udcff" for c in text)


def _undecodable(row: Mapping[str, Any]) -> str | None:
    """Name of the first cell holding bytes that were not valid UTF-8."""
    return next((k for k, v in row.items() if isinstance(v, str) and _has_surrogates(v)), None)


def _record_name(row: Mapping[str, Any], number: int) -> str:
    value = row.get("id")
    if isinstance(value, str) and value.strip() and not _has_surrogates(value):
        return value.strip()
    return f"row{number}"


# --------------------------------------------------------------------------------------------
# CSV / TSV
# --------------------------------------------------------------------------------------------


def _decoded_lines(stream: IO[bytes]) -> Iterator[str]:
    for line in stream:
        yield line.decode("utf-8", errors="surrogateescape")


def _csv_rows(source: Source, delimiter: str) -> Iterator[tuple[int, dict[str, Any] | RecordError]]:
    """``(record number, row dict or RecordError)`` for each data row of a CSV/TSV file."""
    with source.open() as stream:
        reader = csv.reader(_decoded_lines(stream), delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise InputFileError(f"{source.name}: empty file (no header row)") from None
        except csv.Error as exc:
            raise InputFileError(f"{source.name}: unreadable header: {exc}") from None
        except UnicodeDecodeError as exc:
            raise InputFileError(f"{source.name}: cannot decode: {exc}") from None
        names = [h.strip().lstrip("\ufeff").lower() for h in header]
        if any(_has_surrogates(n) for n in names):
            raise InputFileError(f"{source.name}: the header row is not valid UTF-8")
        yield 0, {"__header__": names}
        number = 0
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                number += 1
                yield (
                    number,
                    RecordError(
                        f"row{number}",
                        number,
                        None,
                        f"line {reader.line_num}: malformed: {exc}",
                        source.name,
                    ),
                )
                continue
            if not cells or all(not c.strip() for c in cells):
                continue
            number += 1
            row = dict(zip(names, cells, strict=False))
            if len(cells) != len(names):
                yield (
                    number,
                    RecordError(
                        _record_name(row, number),
                        number,
                        None,
                        f"line {reader.line_num}: {len(cells)} fields but the header has {len(names)}",
                        source.name,
                    ),
                )
                continue
            bad = _undecodable(row)
            if bad is not None:
                yield (
                    number,
                    RecordError(
                        _record_name(row, number),
                        number,
                        bad,
                        f"line {reader.line_num}: {bad}: contains bytes that are not valid UTF-8",
                        source.name,
                    ),
                )
                continue
            yield number, row


def _csv_reader(delimiter: str, capability: str):
    def read(source: Source, batch_size: int) -> Iterator[list[Any]]:
        rows = _csv_rows(source, delimiter)
        _, header = next(rows)
        names = header["__header__"]  # type: ignore[index]
        if capability == "spectra":
            _check_spectra_columns(names, source)
        else:
            _check_molecule_columns(names, source)
        has_ids = "id" in names
        results = (
            row
            if isinstance(row, RecordError)
            else _convert(row, number, source, has_ids, capability)
            for number, row in rows
        )
        yield from batched(results, batch_size)

    return read


def _convert(
    row: Mapping[str, Any], number: int, source: Source, has_ids: bool, capability: str
) -> ReadResult | MoleculeResult:
    if capability == "spectra":
        known = {k: v for k, v in row.items() if k in QUERY_COLUMNS}
        return spectrum_result(known, number, source.name, has_ids=has_ids)
    return molecule_result(row.get("smiles"), row.get("id"), number, source.name, has_ids=has_ids)


def _peaklist_text(value: list[Any], nucleus: Nucleus) -> str:
    items = [
        {**v, "integration": v.get("integration", v.get("n_atoms"))} if isinstance(v, dict) else v
        for v in value
    ]
    return format_peaks(PeakList(nucleus, tuple(items)))


def render_cell(name: str, value: Any) -> str:
    """A cell as CSV text: ``c13``/``h1`` lists as journal text, nested values as JSON."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if name in ("c13", "h1") and isinstance(value, list):
        try:
            return _peaklist_text(value, Nucleus.C13 if name == "c13" else Nucleus.H1)
        except SpectrumError:
            return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


class CsvWriter:
    """Streaming CSV/TSV writer (see the module docstring for cell rendering)."""

    def __init__(self, stream: IO[bytes], schema: pa.Schema, delimiter: str = ",") -> None:
        self._schema = schema
        self._text = text_stream(stream)
        self._writer = csv.writer(self._text, delimiter=delimiter, lineterminator="\n")
        self._writer.writerow(schema.names)

    def write(self, rows: pa.Table | pa.RecordBatch | Sequence[Mapping[str, Any]]) -> None:
        """Append rows."""
        for row in conform(rows, self._schema).to_pylist():
            self._writer.writerow([render_cell(k, row[k]) for k in self._schema.names])

    def close(self) -> None:
        """Flush; the underlying stream stays open for the caller."""
        self._text.flush()
        self._text.detach()


# --------------------------------------------------------------------------------------------
# JSONL
# --------------------------------------------------------------------------------------------


def _jsonl_read(capability: str):
    def read(source: Source, batch_size: int) -> Iterator[list[Any]]:
        yield from batched(_jsonl_results(source, capability), batch_size)

    return read


def _jsonl_results(source: Source, capability: str) -> Iterator[Any]:
    with source.open() as stream:
        number = 0
        for line_number, raw in enumerate(stream, start=1):
            if not raw.strip():
                continue
            number += 1
            try:
                obj = json.loads(raw.decode("utf-8").lstrip("\ufeff"))
            except UnicodeDecodeError:
                yield RecordError.at_line(number, line_number, "not valid UTF-8", source.name)
                continue
            except json.JSONDecodeError as exc:
                yield RecordError.at_line(
                    number, line_number, f"not valid JSON: {exc}", source.name
                )
                continue
            if not isinstance(obj, dict):
                yield RecordError.at_line(
                    number,
                    line_number,
                    f"expected a JSON object, got {type(obj).__name__}",
                    source.name,
                )
                continue
            row = {str(k).lower(): v for k, v in obj.items()}
            if capability == "spectra" and "c13" not in row and "h1" not in row:
                yield RecordError(
                    _record_name(row, number), number, "c13", "no 'c13' or 'h1' key", source.name
                )
                continue
            yield _convert(row, number, source, "id" in row, capability)


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    return value


class JsonlWriter:
    """Streaming JSON Lines writer: one object per row, lists and structs as JSON."""

    def __init__(self, stream: IO[bytes], schema: pa.Schema) -> None:
        self._schema = schema
        self._text = text_stream(stream)

    def write(self, rows: pa.Table | pa.RecordBatch | Sequence[Mapping[str, Any]]) -> None:
        """Append rows."""
        for row in conform(rows, self._schema).to_pylist():
            self._text.write(json.dumps(_json_value(row), ensure_ascii=False) + "\n")

    def close(self) -> None:
        """Flush; the underlying stream stays open for the caller."""
        self._text.flush()
        self._text.detach()


# --------------------------------------------------------------------------------------------
# Parquet
# --------------------------------------------------------------------------------------------


def _parquet_read(capability: str):
    def read(source: Source, batch_size: int) -> Iterator[list[Any]]:
        import pyarrow.parquet as pq

        with source.open() as stream:
            try:
                parquet = pq.ParquetFile(stream)
            except (pa.ArrowException, OSError) as exc:
                raise InputFileError(f"{source.name}: not a readable Parquet file: {exc}") from None
            names = [n.lower() for n in parquet.schema_arrow.names]
            if capability == "spectra":
                _check_spectra_columns(names, source)
                wanted = QUERY_COLUMNS
            else:
                _check_molecule_columns(names, source)
                wanted = ("id", "smiles")
            columns = [n for n in parquet.schema_arrow.names if n.lower() in wanted]
            has_ids = "id" in names
            number = 0
            for batch in parquet.iter_batches(batch_size=batch_size, columns=columns):
                results = []
                for row in batch.to_pylist():
                    number += 1
                    row = {k.lower(): v for k, v in row.items()}
                    results.append(_convert(row, number, source, has_ids, capability))
                yield results

    return read


class ParquetWriter:
    """Streaming Parquet writer (zstd); an empty output still gets a valid file."""

    def __init__(self, stream: IO[bytes], schema: pa.Schema) -> None:
        import pyarrow.parquet as pq

        self._schema = schema
        self._writer = pq.ParquetWriter(stream, schema, compression="zstd")

    def write(self, rows: pa.Table | pa.RecordBatch | Sequence[Mapping[str, Any]]) -> None:
        """Append rows as one or more row groups."""
        self._writer.write_table(conform(rows, self._schema))

    def close(self) -> None:
        """Write the footer."""
        self._writer.close()


# --------------------------------------------------------------------------------------------
# Sniffers and registration
# --------------------------------------------------------------------------------------------


def _first_line(head: bytes) -> str:
    return head.lstrip().split(b"\n", 1)[0].decode("utf-8", errors="replace").lower()


def _sniff_delimited(delimiter: str):
    def sniff(head: bytes) -> bool:
        cells = [c.strip().strip('"') for c in _first_line(head).split(delimiter)]
        return bool({"c13", "h1", "smiles"} & set(cells))

    return sniff


register_format(
    Format(
        "parquet",
        (".parquet", ".pq"),
        read_spectra=_parquet_read("spectra"),
        read_molecules=_parquet_read("molecules"),
        writer=ParquetWriter,
        sniff=lambda head: head.startswith(b"PAR1"),
    )
)
register_format(
    Format(
        "jsonl",
        (".jsonl", ".ndjson"),
        read_spectra=_jsonl_read("spectra"),
        read_molecules=_jsonl_read("molecules"),
        writer=JsonlWriter,
        sniff=lambda head: head.lstrip().startswith(b"{"),
    )
)
register_format(
    Format(
        "csv",
        (".csv",),
        read_spectra=_csv_reader(",", "spectra"),
        read_molecules=_csv_reader(",", "molecules"),
        writer=CsvWriter,
        sniff=_sniff_delimited(","),
    )
)
register_format(
    Format(
        "tsv",
        (".tsv", ".tab"),
        read_spectra=_csv_reader("\t", "spectra"),
        read_molecules=_csv_reader("\t", "molecules"),
        writer=lambda stream, schema: CsvWriter(stream, schema, delimiter="\t"),
        sniff=_sniff_delimited("\t"),
    )
)
