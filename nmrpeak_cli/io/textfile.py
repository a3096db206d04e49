"""Plain text files of journal sentences (``.txt``): one record per paragraph.

A paragraph is a block of lines separated by blank lines. It holds ``1H NMR (…) δ …`` and/or
``13C NMR (…) δ …`` sentences (possibly wrapped over several lines, or both on one line)
and optional ``key: value`` lines for ``id``, ``formula``, ``smiles``, ``solvent`` and
``field_mhz``. A first line that is neither is taken as the id (a compound name or
number); otherwise the id is ``row<N>``, ``N`` the paragraph number. Solvent and field
default to what the sentences state. The writer prints the same layout, so text files
round-trip.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Any

import pyarrow as pa

from nmrpeak_cli.errors import SpectrumError
from nmrpeak_cli.io.records import ReadResult, RecordError, batched, generated_id, is_missing
from nmrpeak_cli.io.registry import Format, Source, conform, register_format, text_stream
from nmrpeak_cli.io.table import render_cell
from nmrpeak_cli.io.text import (
    format_nmr_text,
    normalize_text,
    parse_nmr_text,
    split_nmr_sentences,
)
from nmrpeak_cli.spectra import Nucleus, PeakList, Spectrum

_KEY_LINE = re.compile(
    r"^\s*(id|formula|smiles|solvent|field_mhz|error)\s*:\s*(.*)$", re.IGNORECASE
)
_HAS_HEADER = re.compile(r"(?<![\w{])(?:13\s*C|1\s*H)\s*-?\s*NMR\b", re.IGNORECASE)


def _paragraphs(stream: IO[bytes]) -> Iterator[tuple[int, list[str]]]:
    """``(first line number, lines)`` of each blank-line separated block."""
    block: list[str] = []
    start = 0
    for number, raw in enumerate(stream, start=1):
        line = raw.decode("utf-8", errors="surrogateescape").rstrip("\r\n")
        if line.strip():
            if not block:
                start = number
            block.append(line)
        elif block:
            yield start, block
            block = []
    if block:
        yield start, block


def _record(lines: list[str], number: int, line_number: int, source: str) -> ReadResult:
    if any("\udc80" <= c <= "\udcff" for line in lines for c in line):
        return RecordError(
            generated_id(number), number, None, f"line {line_number}: not valid UTF-8", source
        )
    keys: dict[str, str] = {}
    sentences: list[str] = []
    for index, line in enumerate(lines):
        match = _KEY_LINE.match(line)
        if match is not None:
            keys[match.group(1).lower()] = match.group(2).strip()
        elif index == 0 and not _HAS_HEADER.search(normalize_text(line)):
            keys["id"] = line.strip()
        else:
            sentences.append(line.strip())
    record = keys.get("id") or generated_id(number)
    if keys.get("error"):
        return RecordError(record, number, "error", keys["error"], source)
    found: dict[Nucleus, Any] = {}
    for sentence in split_nmr_sentences(" ".join(sentences)):
        try:
            parsed = parse_nmr_text(sentence)
        except SpectrumError as exc:
            return RecordError(record, number, exc.field, f"line {line_number}: {exc}", source)
        found.setdefault(parsed.nucleus, parsed)
    if not found:
        return RecordError(
            record, number, "c13", f"line {line_number}: no '1H NMR' or '13C NMR' sentence", source
        )
    first = found.get(Nucleus.H1) or found[Nucleus.C13]
    try:
        return Spectrum(
            id=record,
            c13=found[Nucleus.C13].peaks if Nucleus.C13 in found else None,
            h1=found[Nucleus.H1].peaks if Nucleus.H1 in found else None,
            formula=keys.get("formula"),
            solvent=keys.get("solvent") or first.solvent,
            field_mhz=keys.get("field_mhz") or first.field_mhz,
            smiles=keys.get("smiles"),
        )
    except SpectrumError as exc:
        return RecordError(record, number, exc.field, f"line {line_number}: {exc}", source)


def _read_spectra(source: Source, batch_size: int) -> Iterator[list[ReadResult]]:
    def results() -> Iterator[ReadResult]:
        with source.open() as stream:
            for number, (line_number, lines) in enumerate(_paragraphs(stream), start=1):
                yield _record(lines, number, line_number, source.name)

    yield from batched(results(), batch_size)


class TextWriter:
    """Writes one paragraph per row: ``id:`` line, other scalars as ``key: value`` lines,
    ``c13``/``h1`` as full journal sentences (with the row's solvent and field)."""

    def __init__(self, stream: IO[bytes], schema: pa.Schema) -> None:
        self._schema = schema
        self._text = text_stream(stream)

    def _paragraph(self, row: Mapping[str, Any]) -> str:
        lines = []
        for name in self._schema.names:
            value = row.get(name)
            if is_missing(value) or name in ("c13", "h1"):
                continue
            lines.append(f"{name}: {render_cell(name, value)}")
        for nucleus in (Nucleus.C13, Nucleus.H1):
            value = row.get(nucleus.column)
            if not value:
                continue
            items = [
                {**v, "integration": v.get("integration", v.get("n_atoms"))}
                if isinstance(v, dict)
                else v
                for v in value
            ]
            peaks = PeakList(nucleus, tuple(items))
            lines.append(
                format_nmr_text(peaks, solvent=row.get("solvent"), field_mhz=row.get("field_mhz"))
            )
        return "\n".join(lines) + "\n\n"

    def write(self, rows: pa.Table | pa.RecordBatch | Sequence[Mapping[str, Any]]) -> None:
        """Append rows."""
        for row in conform(rows, self._schema).to_pylist():
            self._text.write(self._paragraph(row))

    def close(self) -> None:
        """Flush; the underlying stream stays open for the caller."""
        self._text.flush()
        self._text.detach()


register_format(
    Format(
        "text",
        (".txt", ".text"),
        read_spectra=_read_spectra,
        writer=TextWriter,
        sniff=lambda head: (
            _HAS_HEADER.search(normalize_text(head.decode("utf-8", "replace"))) is not None
        ),
    )
)
