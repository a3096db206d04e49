"""SDF: spectra from NMReDATA tags, NMRShiftDB2 ``Spectrum`` properties or plain ``c13``/``h1``
properties; molecules from the structures; writing with 2D coordinates.

Peaks of a record are taken from the first of these that is present, per nucleus:

1. plain ``c13`` / ``h1`` properties holding journal text (what :class:`SdfWriter` writes
   for non-query rows);
2. NMReDATA ``NMREDATA_1D_13C`` / ``NMREDATA_1D_1H`` tags: metadata lines (``Larmor=…``)
   and one signal per line, ``shift[-shift2], S=mult, N=nuclei, E=integral, J=…, L=label``,
   an optional trailing ``\\`` per line (NMReDATA 1.1);
3. NMRShiftDB2 ``Spectrum 13C <i>`` / ``Spectrum 1H <i>`` (lowest ``i``):
   ``shift;intensity[mult];atomIndex|…``. One entry per atom, so entries with equal
   shifts become one peak whose integration is their number and whose ``atoms`` are their
   indices; 13C ``S/D/T/Q`` give the attached-H count ``n_h``.

Id: an ``id`` property, else the title line, else ``nmrshiftdb2 ID``, else ``row<N>``.
Truth SMILES: a ``smiles`` property, else the structure itself when it has atoms.
A record whose molblock RDKit cannot parse, or whose properties are broken, becomes a
:class:`~nmrpeak_cli.io.records.RecordError` naming the property; reading goes on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Any

import pyarrow as pa

from nmrpeak_cli.errors import ParseError, SpectrumError
from nmrpeak_cli.io.records import (
    MoleculeResult,
    ReadResult,
    RecordError,
    batched,
    generated_id,
    is_missing,
    molecule_result,
)
from nmrpeak_cli.io.registry import Format, Source, conform, register_format
from nmrpeak_cli.io.table import render_cell
from nmrpeak_cli.io.text import carbon_frequency, format_number, parse_peaks, proton_frequency
from nmrpeak_cli.spectra import Nucleus, Peak, PeakList, Spectrum, normalize_multiplicity

_NMREDATA_TAG = {Nucleus.C13: "NMREDATA_1D_13C", Nucleus.H1: "NMREDATA_1D_1H"}
_SHIFTDB_TAG = {
    Nucleus.C13: re.compile(r"^Spectrum 13C (\d+)$"),
    Nucleus.H1: re.compile(r"^Spectrum 1H (\d+)$"),
}
_N_H = {"S": 0, "D": 1, "T": 2, "Q": 3}
_RANGE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(?:-\s*(-?\d+(?:\.\d+)?))?\s*$")
_UNREPORTED = {"unreported", "unknown", "n/a", "nan", "none"}


class _PropertyError(Exception):
    def __init__(self, prop: str, message: str) -> None:
        self.prop = prop
        super().__init__(message)


# --------------------------------------------------------------------------------------------
# NMReDATA
# --------------------------------------------------------------------------------------------


def _nmredata_lines(text: str) -> list[str]:
    return [line.strip().removesuffix("\\").strip() for line in text.splitlines() if line.strip()]


def parse_nmredata_1d(text: str, nucleus: Nucleus) -> tuple[PeakList, float | None]:
    """Peaks and Larmor frequency (MHz, ``None`` if absent) of an ``NMREDATA_1D_*`` tag."""
    peaks: list[Peak] = []
    larmor: float | None = None
    for line in _nmredata_lines(text):
        head = line.split(",", 1)[0]
        if "=" in head:
            key, _, value = head.partition("=")
            if key.strip().lower() == "larmor":
                larmor = float(value)
            continue
        items = [item.strip() for item in line.split(",")]
        shift = _RANGE.match(items[0])
        if shift is None:
            raise ParseError(f"signal line {line!r}: {items[0]!r} is not a shift or a range")
        values: dict[str, Any] = {"j_hz": []}
        key = ""
        for item in items[1:]:
            if "=" in item:
                key, _, value = item.partition("=")
                key = key.strip().upper()
            else:
                value = item  # continues the previous key: J=8.4(H6),2.0(H3)
            if key == "J":
                number = re.match(r"\s*(\d+(?:\.\d+)?)", value)
                if number is None:
                    raise ParseError(f"signal line {line!r}: coupling {value!r} is not a number")
                values["j_hz"].append(float(number.group(1)))
            elif key in {"S", "N", "E"}:
                values[key] = value.strip()
        a, b = float(shift.group(1)), shift.group(2)
        lo, hi = (None, None) if b is None else sorted((a, float(b)))
        integration = values.get("N") or values.get("E")
        peaks.append(
            Peak(
                a if lo is None else (lo + hi) / 2,
                shift_lo=lo,
                shift_hi=hi,
                integration=None if integration is None else float(integration),
                multiplicity=values.get("S"),
                j_hz=tuple(values["j_hz"]),
            )
        )
    return PeakList(nucleus, tuple(peaks)), larmor


def format_nmredata_1d(peaklist: PeakList, larmor_mhz: float | None = None) -> str:
    """An ``NMREDATA_1D_*`` tag value (NMReDATA 1.1 lines ending in ``\\``)."""
    lines = [f"Larmor={format_number(larmor_mhz, keep_decimal=False)}"] if larmor_mhz else []
    for peak in peaklist:
        if peak.shift_lo is not None and peak.shift_hi is not None:
            items = [f"{format_number(peak.shift_hi)}-{format_number(peak.shift_lo)}"]
        else:
            items = [format_number(peak.shift)]
        if peak.multiplicity is not None:
            items.append(f"S={peak.multiplicity}")
        if peak.integration is not None:
            items.append(f"N={format_number(peak.integration, keep_decimal=False)}")
        if peak.j_hz:
            items.append("J=" + ",".join(format_number(j, keep_decimal=False) for j in peak.j_hz))
        lines.append(", ".join(items))
    return "\n".join(f"{line}\\" for line in lines)


# --------------------------------------------------------------------------------------------
# NMRShiftDB2
# --------------------------------------------------------------------------------------------


def parse_shiftdb_spectrum(text: str, nucleus: Nucleus) -> PeakList:
    """Peaks of an NMRShiftDB2 ``Spectrum <nucleus> <i>`` property (equal shifts grouped).

    Labels are lenient: 13C letters other than S/D/T/Q give ``n_h=None``, 1H labels that are
    not multiplicity codes give ``multiplicity=None``. Broken entries raise :class:`ParseError`.
    """
    groups: dict[float, list[tuple[str, int]]] = {}
    for token in filter(None, (t.strip() for t in text.replace("\n", "").split("|"))):
        parts = token.split(";")
        if len(parts) != 3:
            raise ParseError(f"entry {token!r}: expected 'shift;intensity[mult];atomIndex'")
        try:
            shift = float(parts[0])
            atom = int(parts[2])
        except ValueError:
            raise ParseError(f"entry {token!r}: shift and atom index must be numbers") from None
        label = re.sub(r"^[-+\d.eE]*", "", parts[1]).strip()
        groups.setdefault(shift, []).append((label, atom))
    peaks = []
    for shift, entries in groups.items():
        labels = {label for label, _ in entries}
        label = labels.pop() if len(labels) == 1 else ""
        atoms = tuple(sorted({atom for _, atom in entries}))
        if nucleus is Nucleus.C13:
            peaks.append(
                Peak(shift, integration=len(entries), atoms=atoms, n_h=_N_H.get(label.upper()))
            )
        else:
            peaks.append(
                Peak(
                    shift, integration=len(entries), atoms=atoms, multiplicity=_multiplicity(label)
                )
            )
    return PeakList(nucleus, tuple(peaks))


def _multiplicity(label: str) -> str | None:
    """A 1H label as a multiplicity code; free text (``AA'BB'``, ``sep``) becomes ``None``."""
    try:
        return normalize_multiplicity(label)
    except SpectrumError:
        return None


def _indexed(value: str | None, index: int | None) -> str | None:
    """NMRShiftDB2 per-spectrum values ``"0:CDCl3 1:DMSO"`` → the one for ``index``."""
    if value is None:
        return None
    pairs = re.findall(r"(\d+):(.*?)(?=\s+\d+:|$)", value.strip())
    if not pairs:
        return value
    chosen = dict(pairs).get(str(index)) if index is not None else None
    return (chosen if chosen is not None else pairs[0][1]).strip()


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def _peaks_for(
    props: Mapping[str, str], nucleus: Nucleus
) -> tuple[PeakList | None, float | None, int | None]:
    """Peaks, Larmor frequency and NMRShiftDB2 spectrum index for one nucleus of a record."""
    plain = props.get(nucleus.column)
    if plain is not None and plain.strip():
        try:
            return parse_peaks(plain, nucleus), None, None
        except SpectrumError as exc:
            raise _PropertyError(nucleus.column, str(exc)) from None
    tag = _NMREDATA_TAG[nucleus]
    if tag in props:
        try:
            peaks, larmor = parse_nmredata_1d(props[tag], nucleus)
        except (SpectrumError, ValueError) as exc:
            raise _PropertyError(tag, str(exc)) from None
        return peaks, larmor, None
    indexed = sorted(
        (int(m.group(1)), name) for name in props if (m := _SHIFTDB_TAG[nucleus].match(name))
    )
    if indexed:
        index, name = indexed[0]
        try:
            return parse_shiftdb_spectrum(props[name], nucleus), None, index
        except SpectrumError as exc:
            raise _PropertyError(name, str(exc)) from None
    return None, None, None


def _first(props: Mapping[str, str], *names: str) -> str | None:
    lowered = {k.lower(): v for k, v in props.items()}
    for name in names:
        value = lowered.get(name.lower())
        if value is not None and value.strip():
            return value.strip()
    return None


def _record_id(props: Mapping[str, str], title: str, number: int) -> str:
    return (
        _first(props, "id")
        or title.strip()
        or _first(props, "nmrshiftdb2 ID")
        or generated_id(number)
    )


def _spectrum_from_record(mol: Any, number: int, source: str) -> ReadResult:
    from rdkit import Chem

    props = {k: str(v) for k, v in mol.GetPropsAsDict(includePrivate=False).items()}
    record = _record_id(props, mol.GetProp("_Name") if mol.HasProp("_Name") else "", number)
    error = _first(props, "error")
    if error is not None:
        return RecordError(record, number, "error", error, source)
    try:
        c13, c13_larmor, c13_index = _peaks_for(props, Nucleus.C13)
        h1, h1_larmor, h1_index = _peaks_for(props, Nucleus.H1)
    except _PropertyError as exc:
        return RecordError(record, number, exc.prop, f"{exc.prop}: {exc}", source)
    if c13 is None and h1 is None:
        return RecordError(
            record,
            number,
            "c13",
            "no peaks: expected c13/h1, NMREDATA_1D_13C/NMREDATA_1D_1H or 'Spectrum 13C 0' "
            "/ 'Spectrum 1H 0' properties",
            source,
        )
    index = h1_index if h1_index is not None else c13_index
    # our own field_mhz is the 1H frequency; NMRShiftDB2's is that of the spectrum's nucleus
    shiftdb_field = _first(props, "Field Strength [MHz]")
    field = _first(props, "field_mhz") or _indexed(shiftdb_field, index)
    if field is not None and field.lower() in _UNREPORTED:
        field = None
    if field is not None and not _is_number(field):
        return RecordError(
            record, number, "field_mhz", f"field_mhz: expected MHz, got {field!r}", source
        )
    field_mhz = None if field is None else float(field)
    if field_mhz is not None and _first(props, "field_mhz") is None and h1_index is None:
        field_mhz = proton_frequency(field_mhz, Nucleus.C13)
    if field_mhz is None and h1_larmor is not None:
        field_mhz = h1_larmor
    elif field_mhz is None and c13_larmor is not None:
        field_mhz = proton_frequency(c13_larmor, Nucleus.C13)
    solvent = _indexed(_first(props, "solvent", "NMREDATA_SOLVENT"), index)
    smiles = _first(props, "smiles")
    if smiles is None and mol.GetNumAtoms() > 0:
        smiles = Chem.MolToSmiles(mol)
    try:
        return Spectrum(
            id=record,
            c13=c13,
            h1=h1,
            formula=_first(props, "formula", "NMREDATA_FORMULA"),
            solvent=None if solvent is None else solvent.removesuffix("\\"),
            field_mhz=field_mhz,
            smiles=smiles,
        )
    except SpectrumError as exc:
        return RecordError(record, number, exc.field, str(exc), source)


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _iter_records(source: Source) -> Iterator[tuple[int, Any]]:
    """``(record number, RDKit mol or None)`` for each record, streaming."""
    from rdkit import Chem, rdBase

    with source.open() as stream, rdBase.BlockLogs():
        supplier = Chem.ForwardSDMolSupplier(stream, sanitize=True, removeHs=False)
        yield from enumerate(supplier, start=1)


def _unparsable(number: int, source: Source) -> RecordError:
    return RecordError(
        generated_id(number),
        number,
        "molblock",
        "RDKit cannot parse the structure block of this record (bad counts line, atoms or valence)",
        source.name,
    )


def _read_spectra(source: Source, batch_size: int) -> Iterator[list[ReadResult]]:
    results = (
        _unparsable(n, source) if mol is None else _spectrum_from_record(mol, n, source.name)
        for n, mol in _iter_records(source)
    )
    yield from batched(results, batch_size)


def _molecule(mol: Any, number: int, source: Source) -> MoleculeResult:
    from rdkit import Chem

    props = {k: str(v) for k, v in mol.GetPropsAsDict(includePrivate=False).items()}
    record = _record_id(props, mol.GetProp("_Name") if mol.HasProp("_Name") else "", number)
    if mol.GetNumAtoms() == 0:
        return RecordError(record, number, "molblock", "the record has no atoms", source.name)
    return molecule_result(Chem.MolToSmiles(mol), record, number, source.name)


def _read_molecules(source: Source, batch_size: int) -> Iterator[list[MoleculeResult]]:
    results = (
        _unparsable(n, source) if mol is None else _molecule(mol, n, source)
        for n, mol in _iter_records(source)
    )
    yield from batched(results, batch_size)


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _property_text(value: str) -> str:
    """SD property values end at a blank line: drop blank lines inside the value."""
    return "\n".join(line for line in value.splitlines() if line.strip())


class SdfWriter:
    """Streaming SDF writer.

    One record per row: the structure from ``smiles`` (2D coordinates; an empty molecule
    when there is none or it does not parse), the title from ``id``/``query_id``, every
    non-null field as a property (``c13``/``h1`` as journal text, other nested values as
    JSON). Query rows also get NMReDATA ``NMREDATA_1D_13C``/``NMREDATA_1D_1H`` tags for
    other tools; the journal-text properties stay exact (NMReDATA has no centre for a range)
    and are what :func:`~nmrpeak_cli.io.read_spectra` reads first.
    """

    def __init__(self, stream: IO[bytes], schema: pa.Schema) -> None:
        self._stream = stream
        self._schema = schema
        metadata = schema.metadata or {}
        self._query = metadata.get(b"nmrpeak.schema") == b"query"

    def _molblock(self, smiles: str | None) -> str:
        from rdkit import Chem, rdBase
        from rdkit.Chem import rdDepictor

        mol = None
        if smiles:
            with rdBase.BlockLogs():
                mol = Chem.MolFromSmiles(smiles)
        if mol is None:
            mol = Chem.Mol()
        else:
            rdDepictor.Compute2DCoords(mol)
        return Chem.MolToMolBlock(mol)

    def _record(self, row: Mapping[str, Any]) -> str:
        title = str(row.get("id") or row.get("query_id") or "").replace("\n", " ")
        body = self._molblock(row.get("smiles")).split("\n", 1)[1]  # line 1 is the title
        parts = [f"{title}\n{body}"]
        for name in self._schema.names:
            value = row.get(name)
            if is_missing(value):
                continue
            parts.append(f">  <{name}>\n{_property_text(render_cell(name, value))}\n\n")
        if self._query:
            parts.extend(f">  <{name}>\n{text}\n\n" for name, text in self._nmredata(row))
        return "".join(parts) + "$$$$\n"

    def _nmredata(self, row: Mapping[str, Any]) -> list[tuple[str, str]]:
        """NMReDATA tags of a query row: version, solvent and one 1D tag per nucleus."""
        tags = [("NMREDATA_VERSION", "1.1\\")]
        if row.get("solvent"):
            tags.append(("NMREDATA_SOLVENT", f"{row['solvent']}\\"))
        field = row.get("field_mhz")
        for nucleus in (Nucleus.C13, Nucleus.H1):
            value = row.get(nucleus.column)
            if value is None:
                continue
            larmor = None
            if field is not None:
                larmor = field if nucleus is Nucleus.H1 else carbon_frequency(field)
            peaks = PeakList(nucleus, tuple(value))
            tags.append((_NMREDATA_TAG[nucleus], format_nmredata_1d(peaks, larmor)))
        return tags

    def write(self, rows: pa.Table | pa.RecordBatch | Sequence[Mapping[str, Any]]) -> None:
        """Append rows."""
        for row in conform(rows, self._schema).to_pylist():
            self._stream.write(self._record(row).encode("utf-8"))

    def close(self) -> None:
        """Flush; the underlying stream stays open for the caller."""
        self._stream.flush()


def _sniff(head: bytes) -> bool:
    return b"M  END" in head or b"$$$$" in head or b"V2000" in head or b"V3000" in head


register_format(
    Format(
        "sdf",
        (".sdf", ".sd", ".mol", ".nmredata"),
        read_spectra=_read_spectra,
        read_molecules=_read_molecules,
        writer=SdfWriter,
        sniff=_sniff,
    )
)

__all__ = ["SdfWriter", "format_nmredata_1d", "parse_nmredata_1d", "parse_shiftdb_spectrum"]
