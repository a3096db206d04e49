"""The format registry: one :class:`Format` per file type, looked up by extension or content.

Adding a format is one module that calls :func:`register_format` at import time, plus its
module name in :data:`BUILTIN_FORMAT_MODULES` (imported on first lookup). A format may
read spectra, molecules, or both, may write tables, and may claim whole directories (raw
instrument experiment folders): :func:`iter_input_files` then yields the folder itself
instead of walking into it.

Entry points
------------
:func:`read_spectra` / :func:`read_molecules`
    Stream batches of results from a file, a folder (walked recursively), ``-`` (stdin) or
    several of these. Compressed input (gzip) is recognised by its magic bytes. A bad
    *record* becomes a :class:`~nmrpeak_cli.io.records.RecordError` in its batch; a bad
    *file* (missing, unreadable, unknown format, no usable columns) raises
    :class:`~nmrpeak_cli.errors.InputFileError`.
:func:`open_writer` / :func:`write_table`
    Write rows or Arrow batches atomically (temporary file in the target folder, then
    :func:`os.replace`), the format chosen by the extension; ``-`` writes JSONL to stdout.
"""

from __future__ import annotations

import contextlib
import gzip
import importlib
import io
import os
import shutil
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, Protocol

import pyarrow as pa

from nmrpeak_cli.errors import InputFileError
from nmrpeak_cli.io.records import MoleculeResult, ReadResult
from nmrpeak_cli.paths import publish

Capability = Literal["spectra", "molecules"]

#: Modules that register the built-in formats; imported lazily on the first lookup. Raw
#: instrument data registers from :mod:`nmrpeak_cli.processing.rawformat` (processing sits
#: above io: io names it here but never imports it statically).
BUILTIN_FORMAT_MODULES: tuple[str, ...] = (
    "nmrpeak_cli.io.table",
    "nmrpeak_cli.io.sdf",
    "nmrpeak_cli.io.smiles",
    "nmrpeak_cli.io.textfile",
    "nmrpeak_cli.processing.rawformat",
)

_GZIP_MAGIC = b"\x1f\x8b"
_SNIFF_BYTES = 8192


@dataclass(frozen=True, slots=True)
class Source:
    """One input: a file, a directory (for formats that claim directories) or stdin.

    Attributes
    ----------
    name
        Display name used in messages (the path, or ``-``).
    path
        The file or folder; for stdin, a spooled copy of the stream.
    compressed
        Whether the content is gzip-compressed (decompressed transparently by :meth:`open`).
    """

    name: str
    path: Path
    compressed: bool = False

    @property
    def suffix(self) -> str:
        """Lower-case extension without a trailing ``.gz`` (``data.csv.gz`` → ``.csv``)."""
        name = self.name.lower()
        name = name.removesuffix(".gz")
        return Path(name).suffix

    def open(self) -> IO[bytes]:
        """Open the (decompressed) content for binary reading."""
        try:
            if self.compressed:
                return gzip.open(self.path, "rb")
            return open(self.path, "rb")
        except OSError as exc:
            raise InputFileError(f"{self.name}: cannot open: {exc.strerror or exc}") from None

    def head(self, size: int = _SNIFF_BYTES) -> bytes:
        """The first ``size`` bytes of the decompressed content."""
        try:
            with self.open() as stream:
                return stream.read(size)
        except InputFileError:
            raise
        except (OSError, EOFError, zlib.error) as exc:
            raise InputFileError(f"{self.name}: cannot read: {exc}") from None


class TableWriter(Protocol):
    """A streaming writer for one output file (see :func:`open_writer`)."""

    def write(self, rows: pa.Table | pa.RecordBatch | Sequence[Mapping[str, Any]]) -> None:
        """Append rows (dicts, an Arrow batch or table) to the output."""

    def close(self) -> None:
        """Flush and finish the file (footer, last batch)."""


SpectraReader = Callable[[Source, int], Iterator[list[ReadResult]]]
MoleculeReader = Callable[[Source, int], Iterator[list[MoleculeResult]]]
WriterFactory = Callable[[IO[bytes], pa.Schema], TableWriter]


@dataclass(frozen=True, slots=True)
class Format:
    """One registered file format.

    Attributes
    ----------
    name
        Short name, also accepted as ``format=`` by the entry points (``csv``, ``sdf``...).
    extensions
        Lower-case extensions with the dot (``.csv``); ``.gz`` variants are implied.
    read_spectra
        ``(source, batch_size) -> iterator of batches`` of spectra/errors, or ``None``.
    read_molecules
        ``(source, batch_size) -> iterator of batches`` of molecules/errors, or ``None``.
    writer
        ``(binary stream, schema) -> TableWriter``, or ``None``.
    sniff
        ``(first bytes) -> bool``: whether content looks like this format; used when the
        extension is unknown or shared by several formats.
    claims_directory
        ``(folder) -> bool``: whether a folder is one record set of this format (raw
        experiment folders); ``None`` for file formats.
    """

    name: str
    extensions: tuple[str, ...]
    read_spectra: SpectraReader | None = None
    read_molecules: MoleculeReader | None = None
    writer: WriterFactory | None = None
    sniff: Callable[[bytes], bool] | None = None
    claims_directory: Callable[[Path], bool] | None = None

    def can(self, capability: Capability) -> bool:
        """Whether this format reads ``spectra`` or ``molecules``."""
        reader = self.read_spectra if capability == "spectra" else self.read_molecules
        return reader is not None


_REGISTRY: dict[str, Format] = {}


def register_format(fmt: Format) -> Format:
    """Add (or replace) a format in the registry and return it."""
    _REGISTRY[fmt.name] = fmt
    return fmt


def formats() -> dict[str, Format]:
    """All registered formats by name (built-ins loaded on first use)."""
    if not _REGISTRY or not all(m in sys.modules for m in BUILTIN_FORMAT_MODULES):
        for module in BUILTIN_FORMAT_MODULES:
            importlib.import_module(module)
    return dict(_REGISTRY)


def get_format(name: str) -> Format:
    """A format by name; :class:`ValueError` listing the registered names otherwise."""
    known = formats()
    if name not in known:
        raise ValueError(f"unknown format {name!r}; expected one of {sorted(known)}")
    return known[name]


def _extensions(capability: Capability | Literal["write"]) -> list[str]:
    ok = (
        (lambda f: f.writer is not None) if capability == "write" else (lambda f: f.can(capability))
    )
    return sorted({e for f in formats().values() if ok(f) for e in f.extensions})


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


def _directory_format(path: Path, capability: Capability) -> Format | None:
    return next(
        (
            f
            for f in formats().values()
            if f.claims_directory is not None and f.can(capability) and f.claims_directory(path)
        ),
        None,
    )


def iter_input_files(
    source: str | os.PathLike[str], capability: Capability = "spectra"
) -> Iterator[Path]:
    """Inputs under ``source``: the file itself, or a folder walked recursively.

    In a folder, files whose extension (``.gz`` stripped) a format reads for ``capability``
    are yielded in sorted order; hidden entries are skipped; a folder that a format claims
    (a raw experiment) is yielded whole and not entered.

    Raises
    ------
    InputFileError
        ``source`` does not exist.
    """
    path = Path(source)
    if not path.exists():
        raise InputFileError(f"{path}: no such file or folder")
    if path.is_file():
        yield path
        return
    if _directory_format(path, capability) is not None:
        yield path
        return
    known = set(_extensions(capability))
    try:
        children = sorted(path.iterdir())
    except OSError as exc:
        raise InputFileError(f"{path}: cannot list the folder: {exc.strerror or exc}") from None
    for child in children:
        if child.name.startswith("."):
            continue
        if child.is_dir():
            yield from iter_input_files(child, capability)
        elif Path(child.name.lower().removesuffix(".gz")).suffix in known:
            yield child


def _is_gzip(path: Path) -> bool:
    try:
        with open(path, "rb") as stream:
            return stream.read(2) == _GZIP_MAGIC
    except OSError as exc:
        raise InputFileError(f"{path}: cannot open: {exc.strerror or exc}") from None


def _spool_stdin(stack: list[Path]) -> Source:
    """Copy stdin to a temporary file so it can be sniffed and read like a file."""
    handle = tempfile.NamedTemporaryFile(prefix="nmrpeak-stdin-", delete=False)  # noqa: SIM115
    with handle:
        shutil.copyfileobj(sys.stdin.buffer, handle)
    path = Path(handle.name)
    stack.append(path)
    return Source("-", path, _is_gzip(path))


def _choose_format(source: Source, capability: Capability, forced: str | None) -> Format:
    if forced is not None:
        fmt = get_format(forced)
        if not fmt.can(capability):
            raise InputFileError(f"{source.name}: format {forced!r} does not read {capability}")
        return fmt
    if source.path.is_dir():
        fmt = _directory_format(source.path, capability)
        if fmt is None:
            raise InputFileError(f"{source.name}: no format claims this folder")
        return fmt
    candidates = [
        f for f in formats().values() if f.can(capability) and source.suffix in f.extensions
    ]
    if len(candidates) == 1:
        return candidates[0]
    pool = candidates or [f for f in formats().values() if f.can(capability) and f.sniff]
    head = source.head()
    sniffed = [f for f in pool if f.sniff is not None and f.sniff(head)]
    if sniffed:
        return sniffed[0]
    if candidates:
        return candidates[0]
    raise InputFileError(
        f"{source.name}: unknown {capability} format (extension {source.suffix or 'none'!r}); "
        f"expected one of {', '.join(_extensions(capability))} (optionally .gz)"
    )


def _sources(sources: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[str]:
    if isinstance(sources, (str, os.PathLike)):
        return [os.fspath(sources)]
    return [os.fspath(s) for s in sources]


def _read(
    sources: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    capability: Capability,
    batch_size: int,
    forced: str | None,
) -> Iterator[list[Any]]:
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    spooled: list[Path] = []
    try:
        for item in _sources(sources):
            if item == "-":
                inputs = [_spool_stdin(spooled)]
            else:
                inputs = [
                    Source(str(p), p, p.is_file() and _is_gzip(p))
                    for p in iter_input_files(item, capability)
                ]
                if not inputs:
                    raise InputFileError(
                        f"{item}: no {capability} input in this folder; expected files ending "
                        f"in {', '.join(_extensions(capability))} (optionally .gz) or raw "
                        "experiment folders"
                    )
            for source in inputs:
                fmt = _choose_format(source, capability, forced)
                reader = fmt.read_spectra if capability == "spectra" else fmt.read_molecules
                try:
                    yield from reader(source, batch_size)  # type: ignore[misc]
                except InputFileError:
                    raise
                except (OSError, EOFError, zlib.error) as exc:  # truncated or corrupt stream
                    raise InputFileError(f"{source.name}: cannot read: {exc}") from None
    finally:
        for path in spooled:
            path.unlink(missing_ok=True)


def read_spectra(
    sources: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    batch_size: int = 1024,
    format: str | None = None,
) -> Iterator[list[ReadResult]]:
    """Stream spectra from files, folders or stdin, in batches.

    Parameters
    ----------
    sources
        A path, ``-`` for stdin, or several of these. Folders are walked recursively
        (:func:`iter_input_files`).
    batch_size
        Maximum results per batch; a batch never spans two files.
    format
        Force a format by name instead of detecting it.

    Yields
    ------
    list of Spectrum or RecordError
        Each record of the input, in order; unreadable records as :class:`RecordError`.

    Raises
    ------
    InputFileError
        A source is missing, unreadable or of an unknown format. Raised lazily, when
        iteration reaches that source (earlier batches have been yielded by then).
    """
    return _read(sources, "spectra", batch_size, format)


def read_molecules(
    sources: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    batch_size: int = 4096,
    format: str | None = None,
) -> Iterator[list[MoleculeResult]]:
    """Stream ``(id, smiles)`` records from SMILES files, tables with a ``smiles`` column or SDF.

    Same sources, batching and errors as :func:`read_spectra`.
    """
    return _read(sources, "molecules", batch_size, format)


# --------------------------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------------------------


def output_format(path: str | os.PathLike[str], forced: str | None = None) -> Format:
    """The format that writes ``path`` (by extension, ``.gz`` allowed; ``-`` is JSONL)."""
    if forced is not None:
        fmt = get_format(forced)
    elif os.fspath(path) == "-":
        fmt = get_format("jsonl")
    else:
        suffix = Path(os.fspath(path).lower().removesuffix(".gz")).suffix
        matches = [f for f in formats().values() if f.writer and suffix in f.extensions]
        if not matches:
            raise InputFileError(
                f"{path}: cannot write {suffix or 'files without an extension'!r}; expected "
                f"one of {', '.join(_extensions('write'))}"
            )
        fmt = matches[0]
    if fmt.writer is None:
        raise InputFileError(f"{path}: format {fmt.name!r} cannot be written")
    return fmt


@contextmanager
def open_writer(
    path: str | os.PathLike[str], schema: pa.Schema, *, format: str | None = None
) -> Iterator[TableWriter]:
    """Context-managed streaming writer; the file appears only when the block succeeds.

    Parameters
    ----------
    path
        Output file (format by extension; ``.gz`` compresses text formats) or ``-`` for JSONL
        on stdout.
    schema
        Arrow schema of the rows (one of :mod:`nmrpeak_cli.schema`).
    format
        Force a format by name.

    Examples
    --------
    >>> with open_writer("out.parquet", QUERY_SCHEMA) as writer:  # doctest: +SKIP
    ...     for batch in batches:
    ...         writer.write(batch)
    """
    fmt = output_format(path, format)
    factory = fmt.writer
    if factory is None:  # checked by output_format; narrows the type
        raise InputFileError(f"{path}: format {fmt.name!r} cannot be written")
    if os.fspath(path) == "-":
        stdout = sys.stdout.buffer
        writer = factory(stdout, schema)
        yield writer
        writer.close()
        stdout.flush()
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below or on error
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp", delete=False
    )
    writer = None
    try:
        compressed = target.name.lower().endswith(".gz")
        stream: IO[bytes] = (
            gzip.GzipFile(fileobj=handle, mode="wb", mtime=0) if compressed else handle
        )
        writer = factory(stream, schema)
        yield writer
        writer.close()
        writer = None
        if compressed:
            stream.close()
        handle.close()
        publish(handle.name, target)
    except BaseException:
        if writer is not None:  # close it now, not from a garbage collector later
            with contextlib.suppress(Exception):
                writer.close()
        handle.close()
        Path(handle.name).unlink(missing_ok=True)
        raise


def write_table(
    rows_or_batches: pa.Table
    | pa.RecordBatch
    | Iterable[Mapping[str, Any]]
    | Iterable[pa.RecordBatch | pa.Table | Sequence[Mapping[str, Any]]],
    path: str | os.PathLike[str],
    schema: pa.Schema,
    *,
    format: str | None = None,
    chunk_rows: int = 8192,
) -> None:
    """Write rows atomically; the format follows the extension (see :func:`open_writer`).

    ``rows_or_batches`` may be an Arrow table or batch, an iterable of row dicts (written
    in chunks of ``chunk_rows``), or an iterable of batches (Arrow batches/tables or lists of
    row dicts), consumed lazily.
    """
    with open_writer(path, schema, format=format) as writer:
        if isinstance(rows_or_batches, (pa.Table, pa.RecordBatch)):
            writer.write(rows_or_batches)
            return
        pending: list[Mapping[str, Any]] = []
        for item in rows_or_batches:
            if isinstance(item, Mapping):
                pending.append(item)
                if len(pending) >= chunk_rows:
                    writer.write(pending)
                    pending = []
            else:
                writer.write(item)
        if pending:
            writer.write(pending)


def text_stream(stream: IO[bytes]) -> io.TextIOWrapper:
    """UTF-8 text view of a binary output stream; writers ``detach()`` it when they close."""
    return io.TextIOWrapper(stream, encoding="utf-8", newline="", write_through=True)


def conform(
    rows: pa.Table | pa.RecordBatch | Sequence[Mapping[str, Any]], schema: pa.Schema
) -> pa.Table:
    """Rows as a table of exactly ``schema``: columns reordered, missing ones null, types cast.

    Raises :class:`ValueError` naming a column whose values do not fit the schema.
    """
    from nmrpeak_cli.schema import rows_to_table

    if isinstance(rows, pa.RecordBatch):
        rows = pa.Table.from_batches([rows])
    if not isinstance(rows, pa.Table):
        return rows_to_table(rows, schema)
    columns = []
    for field in schema:
        if field.name in rows.column_names:
            column = rows.column(field.name)
            try:
                columns.append(column.cast(field.type))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise ValueError(
                    f"column {field.name!r}: cannot store {column.type} as {field.type}: {exc}"
                ) from None
        else:
            columns.append(pa.nulls(rows.num_rows, field.type))
    return pa.Table.from_arrays(columns, schema=schema)
