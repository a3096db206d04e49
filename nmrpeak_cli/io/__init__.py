"""Readers and writers: journal text, tables (CSV/TSV/Parquet/JSONL), SDF, SMILES, text files.

Everything goes through one registry (:mod:`nmrpeak_cli.io.registry`): formats register
themselves with their extensions, a content sniffer and, for raw instrument data, a
directory test. The entry points stream batches and never raise for a bad record
(:class:`RecordError` results), only for a bad file (:class:`~nmrpeak_cli.errors.InputFileError`).
"""

from nmrpeak_cli.io.records import (
    MoleculeRecord,
    MoleculeResult,
    ReadResult,
    RecordError,
)
from nmrpeak_cli.io.registry import (
    Format,
    Source,
    TableWriter,
    formats,
    iter_input_files,
    open_writer,
    read_molecules,
    read_spectra,
    register_format,
    write_table,
)
from nmrpeak_cli.io.text import (
    format_nmr_text,
    format_peaks,
    parse_nmr_text,
    parse_peaks,
    parse_spectrum_text,
)

__all__ = [
    "Format",
    "MoleculeRecord",
    "MoleculeResult",
    "ReadResult",
    "RecordError",
    "Source",
    "TableWriter",
    "format_nmr_text",
    "format_peaks",
    "formats",
    "iter_input_files",
    "open_writer",
    "parse_nmr_text",
    "parse_peaks",
    "parse_spectrum_text",
    "read_molecules",
    "read_spectra",
    "register_format",
    "write_table",
]
