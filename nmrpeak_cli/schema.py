"""The Parquet/Arrow schemas (documented in docs/schemas.md), defined once, and row conversions.

Every reader and writer goes through this module: :func:`spectrum_to_row` and
:func:`row_to_spectrum` for query tables, :data:`PREDICTION_SCHEMA` and
:data:`RESULTS_SCHEMA` for the other outputs. Schema metadata carries the schema name and
version and the producing nmrpeak version.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from nmrpeak_cli import __version__
from nmrpeak_cli.errors import SpectrumError
from nmrpeak_cli.spectra import Nucleus, Peak, PeakList, Spectrum

SCHEMA_VERSION = "1"

H1_PEAK_TYPE = pa.struct(
    [
        pa.field("shift", pa.float64()),
        pa.field("shift_lo", pa.float64()),
        pa.field("shift_hi", pa.float64()),
        pa.field("integration", pa.float64()),
        pa.field("multiplicity", pa.string()),
        pa.field("j_hz", pa.list_(pa.float64())),
    ]
)
"""One 1H peak of a query table."""

C13_PEAK_TYPE = pa.struct(
    [
        pa.field("shift", pa.float64()),
        # attached hydrogens as s/d/t/q (C, CH, CH2, CH3; from DEPT), null when unknown
        pa.field("multiplicity", pa.string()),
    ]
)
"""One 13C peak of a query table written by ``peaks``."""

PRED_C13_PEAK_TYPE = pa.struct(
    [
        pa.field("shift", pa.float64()),
        # calibrated standard deviation (ppm): shift ± 1.645 sd is the 90 % interval
        pa.field("shift_sd", pa.float64()),
        pa.field("n_atoms", pa.int32()),
        pa.field("atoms", pa.list_(pa.int32())),
    ]
)
PRED_H1_PEAK_TYPE = pa.struct(
    [
        pa.field("shift", pa.float64()),
        pa.field("shift_sd", pa.float64()),
        pa.field("integration", pa.float64()),
        pa.field("multiplicity", pa.string()),
        pa.field("j_hz", pa.list_(pa.float64())),
        pa.field("atoms", pa.list_(pa.int32())),
        # OH/NH/SH protons (their shift and presence depend on solvent and exchange).
        pa.field("exchangeable", pa.bool_()),
    ]
)


def _metadata(name: str) -> dict[bytes, bytes]:
    return {
        b"nmrpeak.schema": name.encode(),
        b"nmrpeak.schema_version": SCHEMA_VERSION.encode(),
        b"nmrpeak.version": __version__.encode(),
    }


QUERY_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("c13", pa.list_(pa.float64())),
        pa.field("h1", pa.list_(H1_PEAK_TYPE)),
        pa.field("formula", pa.string()),
        pa.field("solvent", pa.string()),
        pa.field("field_mhz", pa.float64()),
        pa.field("smiles", pa.string()),
        pa.field("error", pa.string()),
    ],
    metadata=_metadata("query"),
)
"""Query table: input of retrieve/generate/elucidate, output of ``peaks``."""

PEAKS_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("c13", pa.list_(C13_PEAK_TYPE)),
        pa.field("h1", pa.list_(H1_PEAK_TYPE)),
        pa.field("formula", pa.string()),
        pa.field("solvent", pa.string()),
        pa.field("field_mhz", pa.float64()),
        pa.field("smiles", pa.string()),
        pa.field("quality", pa.string()),
        pa.field("error", pa.string()),
    ],
    metadata=_metadata("query"),
)
"""Query table written by ``peaks``: 13C peaks as structs carrying the DEPT attached-H label,
and ``quality`` (why the peaks may be unreliable, or why labels were dropped)."""

PREDICTION_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("smiles", pa.string()),
        pa.field("c13", pa.list_(PRED_C13_PEAK_TYPE)),
        pa.field("h1", pa.list_(PRED_H1_PEAK_TYPE)),
        pa.field("error", pa.string()),
        pa.field("note", pa.string()),
    ],
    metadata=_metadata("prediction"),
)
"""Prediction table: output of ``predict``."""

RESULTS_SCHEMA = pa.schema(
    [
        pa.field("query_id", pa.string(), nullable=False),
        pa.field("rank", pa.int32()),
        pa.field("smiles", pa.string()),
        pa.field("inchikey", pa.string()),
        pa.field("score", pa.float64()),
        pa.field("ssr", pa.float64()),
        pa.field("sme", pa.float64()),
        pa.field("sse", pa.float64()),
        pa.field("gen_logprob", pa.float64()),
        pa.field("rerank", pa.float64()),
        pa.field("source", pa.string()),
        pa.field("formula_match", pa.bool_()),
        pa.field("similarity_c13", pa.float64()),
        pa.field("similarity_h1", pa.float64()),
        pa.field("n_matched_peaks", pa.int32()),
        pa.field("confidence", pa.float64()),
        pa.field("error", pa.string()),
    ],
    metadata=_metadata("results"),
)
"""Ranked results: one row per candidate (retrieve/generate/elucidate). ``similarity_c13``,
``similarity_h1``, ``n_matched_peaks`` (query peaks matched by the candidate's predicted
spectrum) and ``confidence`` (calibrated probability that the candidate is right) are
filled by elucidate."""


@dataclass(frozen=True, slots=True)
class ResultRow:
    """One :data:`RESULTS_SCHEMA` row (a ranked candidate, or a query's error row): the one
    row type retrieve, generate and elucidate build, with a field per column in column order
    (null unless given). :meth:`to_dict` gives the mapping the table writers take.

    ``error`` holds a failure, or a note prefixed ``warning: `` that does not mark the query
    as failed.
    """

    query_id: str
    rank: int | None = None
    smiles: str | None = None
    inchikey: str | None = None
    score: float | None = None
    ssr: float | None = None
    sme: float | None = None
    sse: float | None = None
    gen_logprob: float | None = None
    rerank: float | None = None
    source: str | None = None
    formula_match: bool | None = None
    similarity_c13: float | None = None
    similarity_h1: float | None = None
    n_matched_peaks: int | None = None
    confidence: float | None = None
    error: str | None = None

    def to_dict(self, **extra: Any) -> dict[str, Any]:
        """The row as ``{column: value}`` in :data:`RESULTS_SCHEMA` order; ``extra`` keys
        (such as retrieve's ``library_row``) follow, for the caller, and are left out of
        tables."""
        return {**{name: getattr(self, name) for name in RESULTS_SCHEMA.names}, **extra}


def result_row(**values: Any) -> dict[str, Any]:
    """``ResultRow(**values).to_dict()``: a :data:`RESULTS_SCHEMA` row, every column present,
    null unless given (an unknown column raises ``TypeError``)."""
    return ResultRow(**values).to_dict()


SCHEMAS: dict[str, pa.Schema] = {
    "query": QUERY_SCHEMA,
    "prediction": PREDICTION_SCHEMA,
    "results": RESULTS_SCHEMA,
}


def schema_for(name: str) -> pa.Schema:
    """Schema by name (``query``, ``prediction``, ``results``, ``dataset``)."""
    if name not in SCHEMAS:
        raise ValueError(f"unknown schema {name!r}; expected one of {sorted(SCHEMAS)}")
    return SCHEMAS[name]


def register_schema(name: str, fields: Sequence[pa.Field]) -> pa.Schema:
    """Define an additional named schema (with the standard metadata) and return it."""
    schema = pa.schema(list(fields), metadata=_metadata(name))
    SCHEMAS[name] = schema
    return schema


# --------------------------------------------------------------------------------------------
# Query rows <-> Spectrum
# --------------------------------------------------------------------------------------------


def h1_peak_to_struct(peak: Peak) -> dict[str, Any]:
    """A 1H peak as a ``H1_PEAK_TYPE`` struct value."""
    return {
        "shift": peak.shift,
        "shift_lo": peak.shift_lo,
        "shift_hi": peak.shift_hi,
        "integration": peak.integration,
        "multiplicity": peak.multiplicity,
        "j_hz": list(peak.j_hz),
    }


def spectrum_to_row(spectrum: Spectrum, error: str | None = None) -> dict[str, Any]:
    """A :class:`Spectrum` as a query-table row (list columns, ``QUERY_SCHEMA``).

    13C peaks with an integration above 1 (n equivalent carbons) are written once: the query
    ``c13`` column lists signals, as journals do.
    """
    return {
        "id": spectrum.id,
        "c13": None if spectrum.c13 is None else [p.shift for p in spectrum.c13],
        "h1": None if spectrum.h1 is None else [h1_peak_to_struct(p) for p in spectrum.h1],
        "formula": spectrum.formula,
        "solvent": spectrum.solvent,
        "field_mhz": spectrum.field_mhz,
        "smiles": spectrum.smiles,
        "error": error,
    }


def c13_peak_to_struct(peak: Peak) -> dict[str, Any]:
    """A 13C peak as a ``C13_PEAK_TYPE`` struct value (attached-H count as s/d/t/q)."""
    label = "sdtq"[peak.n_h] if peak.n_h is not None and peak.n_h < 4 else None
    return {"shift": peak.shift, "multiplicity": label}


def error_row(record_id: str, error: str) -> dict[str, Any]:
    """A query-table row for a record that could not be read: id and error, the rest null."""
    row = dict.fromkeys(QUERY_SCHEMA.names)
    row.update(id=record_id, error=error)
    return row


def _is_missing(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip() in {"", "nan", "NaN", "None", "null"}


def cell_to_peaklist(value: object, nucleus: Nucleus) -> PeakList | None:
    """Interpret a ``c13``/``h1`` cell: text (journal style), a list of numbers or of structs."""
    if _is_missing(value):
        return None
    if isinstance(value, str):
        from nmrpeak_cli.io.text import parse_peaks

        return parse_peaks(value, nucleus)
    if isinstance(value, Mapping):
        raise SpectrumError(
            f"expected text or a list of peaks, got a mapping {value!r}", nucleus.column
        )
    try:
        items = list(value)  # type: ignore[call-overload]
    except TypeError:
        if isinstance(value, (int, float)):
            items = [value]
        else:
            raise SpectrumError(
                f"expected text or a list of peaks, got {type(value).__name__}", nucleus.column
            ) from None
    return PeakList(nucleus, tuple(items))


def row_to_spectrum(row: Mapping[str, Any]) -> Spectrum:
    """Build a :class:`Spectrum` from a query-table row (any of the accepted cell forms).

    Raises :class:`SpectrumError` naming the field at fault.
    """
    record_id = row.get("id")
    if _is_missing(record_id):
        raise SpectrumError("missing id", "id")
    c13 = cell_to_peaklist(row.get("c13"), Nucleus.C13)
    h1 = cell_to_peaklist(row.get("h1"), Nucleus.H1)
    return Spectrum(
        id=str(record_id),
        c13=c13,
        h1=h1,
        formula=None if _is_missing(row.get("formula")) else row.get("formula"),
        solvent=None if _is_missing(row.get("solvent")) else row.get("solvent"),
        field_mhz=None if _is_missing(row.get("field_mhz")) else row.get("field_mhz"),
        smiles=None if _is_missing(row.get("smiles")) else row.get("smiles"),
    )


def rows_to_table(rows: Sequence[Mapping[str, Any]], schema: pa.Schema) -> pa.Table:
    """Rows (dicts) to a table of ``schema``; missing columns become null."""
    columns = {name: [row.get(name) for row in rows] for name in schema.names}
    return pa.Table.from_pydict(columns, schema=schema)
