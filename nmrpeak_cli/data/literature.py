"""Curated literature records (NMRBank subset) → training rows and a text query table.

``SOURCE/literature-nmrbank/curated_train_1000.csv.gz`` (see its PROVENANCE.md) gives, per
compound of an open-access paper, a curated SMILES and the 1H/13C peak lists as printed.

Rules (first failing check names the drop reason, see :data:`LITERATURE_DROP_REASONS`):

* **Molecule**: a SMILES is given (not empty, not ``"Not mentioned"``) and parses; the
  NMRShiftDB2 domain rules of :func:`~nmrpeak_cli.data.nmrshiftdb.check_molecule` hold (one
  fragment, organic elements, no radical, isotope or net charge, size limit).
* **Peaks**: the curated columns ``13C NMR chemical shifts`` / ``1H NMR chemical shifts``
  are read by the journal-text reader (:func:`~nmrpeak_cli.io.text.parse_peaks`); prose that
  does not parse, shifts outside the NMRShiftDB2 ranges, more 13C entries than carbons or
  more protons than hydrogens reject that nucleus (counted in
  :data:`LITERATURE_REJECTIONS`). 13C: one entry per listed peak (repeated by a stated
  ``(2C)``), attached-H count only where the text labels it. 1H: each peak repeated by its
  rounded integration (at least once), a range at its centre. A record needs one nucleus.
* **Conditions**: solvent from the ``* NMR conditions`` columns
  (:func:`~nmrpeak_cli.solvents.normalize_solvent` of the parts that are not a frequency or
  temperature); ``field_mhz`` from the 1H conditions (else the 13C ones, converted).
* **Duplicates**: one record per InChIKey, the one with more data (first row on ties).

Rows get ``split_scaffold = split_random = "literature"``: never in a scaffold/random split.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from nmrpeak_cli import chem
from nmrpeak_cli.data.dataset import record_to_row
from nmrpeak_cli.data.nmrshiftdb import (
    C13_RANGE,
    H1_RANGE,
    MOLECULE_REASONS,
    C13Data,
    ExperimentalRecord,
    H1Data,
    Rejected,
    check_molecule,
)
from nmrpeak_cli.errors import ChemistryError, InputFileError, NmrpeakError
from nmrpeak_cli.io.text import parse_peaks, proton_frequency
from nmrpeak_cli.schema import QUERY_SCHEMA
from nmrpeak_cli.solvents import normalize_solvent
from nmrpeak_cli.spectra import Nucleus

LITERATURE_DIR = "literature-nmrbank"
LITERATURE_FILE = f"{LITERATURE_DIR}/curated_train_1000.csv.gz"
LITERATURE_SPLIT = "literature"
"""Value of both split columns in ``literature.parquet``."""

COLUMNS = {
    "pmcid": "PMC accession number (PMCID)",
    "smiles": "SMILES",
    "c13": "13C NMR chemical shifts",
    "h1": "1H NMR chemical shifts",
    "c13_conditions": "13C NMR conditions",
    "h1_conditions": "1H NMR conditions",
}
"""Source CSV columns read, by role."""

#: Record drop reasons, in the order they are checked.
LITERATURE_DROP_REASONS: tuple[str, ...] = (
    "missing_smiles",
    "unparseable_smiles",
    *MOLECULE_REASONS,
    "no_inchikey",
    "no_usable_spectrum",
    "duplicate_inchikey",
)
#: Nucleus rejection reasons (the record survives when the other nucleus is usable).
LITERATURE_REJECTIONS: tuple[str, ...] = (
    "c13_missing",
    "c13_unparseable",
    "c13_shift_out_of_range",
    "c13_more_entries_than_carbons",
    "h1_missing",
    "h1_unparseable",
    "h1_shift_out_of_range",
    "h1_more_protons_than_hydrogens",
)

_NOT_GIVEN = {"", "not mentioned", "n/a", "na", "none", "nan"}
_MHZ = re.compile(r"(\d+(?:\.\d+)?)\s*MHz", re.IGNORECASE)
_NOT_SOLVENT = re.compile(r"\d\s*(?:MHz|K\b|°|℃)|\bppm\b|δ", re.IGNORECASE)

QUERY_TEXT_SCHEMA = pa.schema(
    [pa.field(f.name, pa.string()) if f.name in {"c13", "h1"} else f for f in QUERY_SCHEMA],
    metadata=QUERY_SCHEMA.metadata,
)
""":data:`~nmrpeak_cli.schema.QUERY_SCHEMA` with ``c13``/``h1`` as text, as printed."""


@dataclass(frozen=True, slots=True)
class LiteratureRecord:
    """One usable literature compound.

    Attributes
    ----------
    record
        The clean record (``source_id`` = 1-based CSV row).
    c13_text, h1_text
        The curated peak strings that were read, ``None`` for a rejected nucleus.
    field_mhz
        1H spectrometer frequency, MHz, or ``None``.
    """

    record: ExperimentalRecord
    c13_text: str | None
    h1_text: str | None
    field_mhz: float | None


@dataclass(frozen=True, slots=True)
class LiteratureData:
    """What :func:`build_literature` made of the source rows.

    Attributes
    ----------
    records
        Usable compounds, sorted by InChIKey.
    n_source
        Rows of the CSV.
    dropped
        Dropped rows per reason (:data:`LITERATURE_DROP_REASONS`).
    rejected
        Rejected nuclei per reason (:data:`LITERATURE_REJECTIONS`).
    """

    records: tuple[LiteratureRecord, ...]
    n_source: int
    dropped: dict[str, int]
    rejected: dict[str, int]

    def rows(self) -> list[dict[str, Any]]:
        """Training rows (``DATASET_SCHEMA``), split columns ``"literature"``."""
        return [
            record_to_row(r.record, None, LITERATURE_SPLIT, LITERATURE_SPLIT) for r in self.records
        ]

    def query_rows(self, exclude: Collection[str] = ()) -> list[dict[str, Any]]:
        """Query rows (:data:`QUERY_TEXT_SCHEMA`): the printed peak text, truth SMILES.

        ``exclude``: first InChIKey blocks (connectivity) left out, so that a query set of
        compounds unseen in other data can be built (the training rows keep them).
        """
        out = []
        for entry in self.records:
            record = entry.record
            if record.connectivity in exclude:
                continue
            solvent = (record.c13 and record.c13.solvent) or (record.h1 and record.h1.solvent)
            out.append(
                {
                    "id": record.id,
                    "c13": entry.c13_text,
                    "h1": entry.h1_text,
                    "formula": record.formula,
                    "solvent": solvent or None,
                    "field_mhz": entry.field_mhz,
                    "smiles": record.smiles,
                    "error": None,
                }
            )
        return out


def read_literature_csv(path: Path) -> list[dict[str, Any]]:
    """Rows of the curated CSV (gz allowed), all columns as text.

    Raises
    ------
    InputFileError
        The file is missing, unreadable or lacks a column of :data:`COLUMNS`.
    """
    import pyarrow.csv as pv

    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"literature file {path} not found")
    try:
        table = pv.read_csv(
            path,
            convert_options=pv.ConvertOptions(
                column_types=dict.fromkeys(COLUMNS.values(), pa.string())
            ),
        )
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputFileError(f"{path}: not a readable CSV: {exc}") from None
    missing = sorted(set(COLUMNS.values()) - set(table.column_names))
    if missing:
        raise InputFileError(
            f"{path}: missing columns {missing}; expected {sorted(COLUMNS.values())}"
        )
    return table.select(list(COLUMNS.values())).to_pylist()


def conditions(text: str | None, nucleus: Nucleus) -> tuple[str | None, float | None]:
    """``(solvent, field_mhz)`` from a conditions cell such as ``"101 MHz, CDCl3"``.

    The solvent is ``None`` when no part names one; ``field_mhz`` is the 1H frequency
    (:func:`~nmrpeak_cli.io.text.proton_frequency`) or ``None``.
    """
    if _missing(text):
        return None, None
    parts = [p.strip() for p in re.split(r"[,;]", str(text)) if p.strip()]
    solvents = [normalize_solvent(p) for p in parts if not _NOT_SOLVENT.search(p)]
    known = [s for s in solvents if s not in {None, "other"}]
    solvent = known[0] if known else ("other" if solvents else None)
    mhz = _MHZ.search(str(text))
    field = None if mhz is None else proton_frequency(float(mhz.group(1)), nucleus)
    return solvent, field if field is None or 10 <= field <= 2000 else None


def _missing(text: object) -> bool:
    return text is None or str(text).strip().lower() in _NOT_GIVEN


def _c13(text: object, n_carbons: int, solvent: str | None) -> C13Data:
    if _missing(text):
        raise Rejected("c13_missing", "no 13C peak list")
    try:
        peaks = parse_peaks(str(text), Nucleus.C13)
    except NmrpeakError as exc:
        raise Rejected("c13_unparseable", str(exc)) from None
    entries = sorted(
        ((p.shift, p.n_h) for p in peaks for _ in range(max(1, round(p.count)))),
        key=lambda e: (-e[0], -1 if e[1] is None else e[1]),
    )
    low, high = C13_RANGE
    if any(not low <= s <= high for s, _ in entries):
        raise Rejected("c13_shift_out_of_range", f"outside [{low:g}, {high:g}] ppm")
    if len(entries) > n_carbons:
        raise Rejected(
            "c13_more_entries_than_carbons", f"{len(entries)} entries for {n_carbons} carbons"
        )
    return C13Data(
        shifts=tuple(s for s, _ in entries),
        n_h=tuple(h for _, h in entries),
        complete=len(entries) == n_carbons,
        solvent=solvent,
        spectrum_index=0,
    )


def _h1(text: object, n_hydrogens: int, solvent: str | None, field: float | None) -> H1Data:
    if _missing(text):
        raise Rejected("h1_missing", "no 1H peak list")
    try:
        peaks = parse_peaks(str(text), Nucleus.H1)
    except NmrpeakError as exc:
        raise Rejected("h1_unparseable", str(exc)) from None
    protons = sorted(
        (
            (round(p.shift, 4), p.multiplicity)  # a range's centre without float noise
            for p in peaks
            for _ in range(max(1, round(p.count)))
        ),
        key=lambda e: (-e[0], e[1] or ""),
    )
    low, high = H1_RANGE
    if any(not low <= s <= high for s, _ in protons):
        raise Rejected("h1_shift_out_of_range", f"outside [{low:g}, {high:g}] ppm")
    if len(protons) > n_hydrogens:
        raise Rejected(
            "h1_more_protons_than_hydrogens", f"{len(protons)} protons for {n_hydrogens} H"
        )
    return H1Data(
        shifts=tuple(s for s, _ in protons),
        multiplicity=tuple(m for _, m in protons),
        complete=len(protons) == n_hydrogens,
        solvent=solvent,
        field_mhz=field,
        spectrum_index=0,
    )


def literature_record(
    row: Mapping[str, Any], index: int, rejections: Counter | None = None
) -> LiteratureRecord:
    """The clean record of one CSV row (``index``: 1-based row number, kept in the id).

    Raises
    ------
    Rejected
        With one of :data:`LITERATURE_DROP_REASONS`.
    """
    smiles = row.get(COLUMNS["smiles"])
    if _missing(smiles):
        raise Rejected("missing_smiles", f"row {index}: SMILES {smiles!r}")
    try:
        mol = chem.parse_smiles(str(smiles))
    except ChemistryError as exc:
        raise Rejected("unparseable_smiles", f"row {index}: {exc}") from None
    check_molecule(mol)
    try:
        key = chem.inchikey(mol)
    except ChemistryError as exc:
        raise Rejected("no_inchikey", f"row {index}: {exc}") from None
    counts = chem.element_counts(mol)
    solvent_c13, field_c13 = conditions(row.get(COLUMNS["c13_conditions"]), Nucleus.C13)
    solvent_h1, field_h1 = conditions(row.get(COLUMNS["h1_conditions"]), Nucleus.H1)
    field = field_h1 if field_h1 is not None else field_c13
    c13 = h1 = None
    try:
        c13 = _c13(row.get(COLUMNS["c13"]), counts.get("C", 0), solvent_c13 or solvent_h1)
    except Rejected as exc:
        if rejections is not None:
            rejections[exc.reason] += 1
    try:
        h1 = _h1(row.get(COLUMNS["h1"]), counts.get("H", 0), solvent_h1 or solvent_c13, field)
    except Rejected as exc:
        if rejections is not None:
            rejections[exc.reason] += 1
    if c13 is None and h1 is None:
        raise Rejected("no_usable_spectrum", f"row {index}: neither peak list is usable")
    pmcid = str(row.get(COLUMNS["pmcid"]) or "").strip() or "unknown"
    record = ExperimentalRecord(
        id=f"literature:{pmcid}:{index}",
        source_id=index,
        smiles=chem.canonical_smiles(mol),
        inchikey=key,
        formula=chem.formula(mol),
        n_heavy=chem.heavy_atom_count(mol),
        scaffold=chem.murcko_scaffold(mol),
        c13=c13,
        h1=h1,
    )
    return LiteratureRecord(
        record=record,
        c13_text=None if c13 is None else str(row[COLUMNS["c13"]]).strip(),
        h1_text=None if h1 is None else str(row[COLUMNS["h1"]]).strip(),
        field_mhz=field,
    )


def build_literature(rows: Sequence[Mapping[str, Any]]) -> LiteratureData:
    """Clean records of the CSV rows (sorted by InChIKey), with drop and rejection counts."""
    dropped: Counter = Counter()
    rejected: Counter = Counter()
    best: dict[str, LiteratureRecord] = {}
    for index, row in enumerate(rows, start=1):
        try:
            entry = literature_record(row, index, rejected)
        except Rejected as exc:
            dropped[exc.reason] += 1
            continue
        key = entry.record.inchikey
        kept = best.get(key)
        if kept is not None:
            dropped["duplicate_inchikey"] += 1
            if kept.record.quality() >= entry.record.quality():
                continue
        best[key] = entry
    return LiteratureData(
        records=tuple(best[key] for key in sorted(best)),
        n_source=len(rows),
        dropped={r: dropped[r] for r in LITERATURE_DROP_REASONS if dropped[r]},
        rejected={r: rejected[r] for r in LITERATURE_REJECTIONS if rejected[r]},
    )


def load_literature(path: Path) -> LiteratureData:
    """:func:`build_literature` of the CSV at ``path`` (see :func:`read_literature_csv`)."""
    return build_literature(read_literature_csv(path))
