"""The queries of ``retrieve``, ``generate`` and ``elucidate``: read once, keyed once.

QUERY (a file, folder or ``-``) or one inline query (``--c13/--h1/--formula``) becomes a lazy
stream of :class:`~nmrpeak_cli.spectra.Spectrum` (or :class:`~nmrpeak_cli.io.records.RecordError`
for a record that could not be read); :func:`query_key` is its ``--resume`` key.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from nmrpeak_cli.cli.common import fail, inline_query
from nmrpeak_cli.errors import NmrpeakError

if TYPE_CHECKING:
    from nmrpeak_cli.cli.options import InlineQuery


def query_inputs(query: str | None, inline: InlineQuery, query_id: str = "query") -> Iterable[Any]:
    """The queries: a (lazy) Spectrum-or-RecordError stream of QUERY, or the inline query.

    A usage error (exit 2) when both or neither are given, or the inline peaks do not parse.
    """
    c13, h1, formula = inline.c13, inline.h1, inline.formula
    if query is not None:
        if any(v is not None for v in (c13, h1, formula)):
            raise fail("give either QUERY or an inline query (--c13/--h1/--formula), not both")
        return file_queries(query)
    if c13 is None and h1 is None and formula is None:
        raise fail("give QUERY or an inline query (--c13/--h1/--formula)")
    try:
        spectrum = inline_query(c13, h1, formula, inline.solvent, query_id)
    except NmrpeakError as exc:
        raise fail(f"inline query: {exc}") from None
    if not spectrum.nuclei:
        raise fail("--c13/--h1 give no peaks; expected at least one peak list")
    return [spectrum]


def file_queries(source: str) -> Iterator[Any]:
    """Every record of ``source``, streamed: spectra and the reader's RecordError records."""
    from nmrpeak_cli.io import read_spectra

    for batch in read_spectra(source, batch_size=64):
        yield from batch


def query_key(item: Any) -> str:
    """``--resume`` key of a query: its id and everything its rows depend on (never its truth
    ``smiles``, which no model reads); for a record that could not be read, its error."""
    from nmrpeak_cli.outputs import record_key
    from nmrpeak_cli.schema import spectrum_to_row
    from nmrpeak_cli.spectra import Spectrum

    if isinstance(item, Spectrum):
        return record_key(item.id, {**spectrum_to_row(item), "smiles": None})
    record = getattr(item, "record", None) or getattr(item, "id", None) or "?"
    return record_key(str(record), {"error": getattr(item, "error", None) or str(item)})


def query_failed(rows: list[dict[str, Any]]) -> bool:
    """Whether a query failed: a warning in ``error`` (e.g. rerank skipped) is not a failure."""
    from nmrpeak_cli.generate.api import is_failure

    return any(is_failure(row) for row in rows)
