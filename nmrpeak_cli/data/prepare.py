"""``nmrpeak data prepare``: source data → clean dataset, splits, query tables, report.

Reads ``SOURCE/nmrshiftdb2/``, ``SOURCE/cascade-exp5k/`` and, when present,
``SOURCE/literature-nmrbank/`` and writes, deterministically (same inputs and seed give the
same bytes):

* ``DATADIR/experimental.parquet`` (:data:`~nmrpeak_cli.data.dataset.DATASET_SCHEMA`),
* ``DATADIR/queries/{scaffold,random}_{valid,test}.parquet`` (query tables, DESIGN.md §4),
* ``DATADIR/literature.parquet`` (same schema, split columns ``"literature"``) and
  ``DATADIR/queries/literature.parquet`` (text query table of the literature compounds
  whose first InChIKey block is not in ``experimental.parquet``: unseen compounds), see
  :mod:`nmrpeak_cli.data.literature`; they never change ``experimental.parquet``,
* ``DATADIR/simulated_molecules.parquet`` (MOSES minus every valid/test connectivity block),
* ``DATADIR/manifest.json`` (source checksums, counts, seeds, version, command),
* the Markdown report (``benchmarks/DATA.md`` by default).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from itertools import pairwise
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from nmrpeak_cli import __version__
from nmrpeak_cli.data import cascade as cascade_io
from nmrpeak_cli.data.dataset import DATASET_SCHEMA, SPLIT_SCHEMES, query_rows, record_to_row
from nmrpeak_cli.data.files import write_parquet
from nmrpeak_cli.data.literature import (
    LITERATURE_DIR,
    LITERATURE_FILE,
    QUERY_TEXT_SCHEMA,
    LiteratureData,
    load_literature,
)
from nmrpeak_cli.data.nmrshiftdb import (
    DROP_REASONS,
    SPECTRUM_REJECTIONS,
    ExperimentalRecord,
    Rejected,
    SourceSpectrum,
    build_record,
)
from nmrpeak_cli.data.splits import (
    DEFAULT_FRACTIONS,
    SPLITS,
    keys_in_several_splits,
    random_split,
    scaffold_split,
)
from nmrpeak_cli.errors import InputFileError
from nmrpeak_cli.paths import file_sha256, write_json_atomic, write_text_atomic
from nmrpeak_cli.schema import QUERY_SCHEMA, rows_to_table

MOLECULES_FILE = "nmrshiftdb2/nmrshiftdb2_molecules.parquet"
SPECTRA_FILE = "nmrshiftdb2/nmrshiftdb2_spectra.parquet"
CASCADE_DIR = "cascade-exp5k"
_MOLECULE_COLUMNS = ["id", "inchikey", "smiles"]
_SPECTRUM_COLUMNS = [
    "id", "nucleus", "spectrum_index", "shifts", "multiplicity", "atoms", "solvent", "field_mhz",
]  # fmt: skip

#: A progress factory: ``progress(description, total)`` is a context manager yielding
#: ``advance(n)``.
Progress = Callable[[str, int | None], AbstractContextManager[Callable[[int], None]]]


def _no_progress(description: str, total: int | None) -> AbstractContextManager:
    return nullcontext(lambda n=1: None)


@dataclass(frozen=True, slots=True)
class PrepareOptions:
    """Settings of one ``data prepare`` run.

    Attributes
    ----------
    source
        Folder holding ``nmrshiftdb2/`` and ``cascade-exp5k/``.
    out
        Output folder (``DATADIR``).
    seed
        Seed of the scaffold split; the random split uses ``seed + 1``.
    moses
        Also write ``simulated_molecules.parquet`` from the MOSES wheel.
    report
        Where to write the Markdown report, or ``None`` for no report.
    cache
        Cache folder for the MOSES wheel (``None``: ``$NMRPEAK_CACHE`` or ``~/.cache/nmrpeak``).
    moses_wheel
        Use this wheel instead of the cached/downloaded one.
    literature
        Also write the literature tables; ``None``: when ``SOURCE/literature-nmrbank/``
        exists.
    jobs
        Worker processes for the MOSES InChIKeys (first run only).
    command
        The command line to record in the manifest.
    """

    source: Path
    out: Path
    seed: int = 0
    moses: bool = True
    report: Path | None = None
    cache: Path | None = None
    moses_wheel: Path | None = None
    literature: bool | None = None
    jobs: int = 1
    command: str = "nmrpeak data prepare"


@dataclass(frozen=True, slots=True)
class PrepareSummary:
    """What a ``data prepare`` run wrote and counted.

    Attributes
    ----------
    n_source
        Rows of the molecules table.
    n_records
        Molecules written to ``experimental.parquet``.
    dropped
        Dropped molecules per reason (:data:`~nmrpeak_cli.data.nmrshiftdb.DROP_REASONS`).
    rejected_spectra
        Rejected spectra per reason (the molecule may survive with another spectrum).
    n_cascade
        Molecules with CASCADE atom-mapped shifts.
    n_cascade_unmapped
        CASCADE molecules found in the dataset whose structure could not be matched.
    n_h1_expanded
        Records whose 1H group entries were expanded to one entry per proton.
    n_simulated
        Rows of ``simulated_molecules.parquet`` (``None`` without MOSES).
    n_simulated_excluded
        MOSES molecules removed by the leakage filter (``None`` without MOSES).
    files
        Paths written.
    n_literature_source
        Rows of the literature CSV (``None`` without literature).
    n_literature
        Rows of ``literature.parquet`` (``None`` without literature).
    literature_dropped
        Dropped literature rows per reason.
    literature_rejected
        Rejected literature peak lists per reason.
    n_literature_in_experimental
        Literature records whose InChIKey first block is also in ``experimental.parquet``.
    """

    n_source: int
    n_records: int
    dropped: dict[str, int]
    rejected_spectra: dict[str, int]
    n_cascade: int
    n_cascade_unmapped: int
    n_h1_expanded: int
    n_simulated: int | None
    n_simulated_excluded: int | None
    files: tuple[Path, ...] = field(default_factory=tuple)
    n_literature_source: int | None = None
    n_literature: int | None = None
    literature_dropped: dict[str, int] = field(default_factory=dict)
    literature_rejected: dict[str, int] = field(default_factory=dict)
    n_literature_in_experimental: int | None = None


def _require(path: Path) -> Path:
    if not path.is_file():
        raise InputFileError(
            f"source file {path} not found; expected --source to be the folder holding "
            f"{MOLECULES_FILE}, {SPECTRA_FILE} and {CASCADE_DIR}/"
        )
    return path


def _spectra_by_id(path: Path) -> dict[int, list[SourceSpectrum]]:
    table = pq.read_table(path, columns=_SPECTRUM_COLUMNS)
    by_id: dict[int, list[SourceSpectrum]] = {}
    for row in table.to_pylist():
        if row["id"] is not None and row["nucleus"] in {"13C", "1H"}:
            by_id.setdefault(int(row["id"]), []).append(SourceSpectrum.from_row(row))
    return by_id


def build_records(
    molecules: Sequence[dict[str, Any]],
    spectra: dict[int, list[SourceSpectrum]],
    advance: Callable[[int], None],
) -> tuple[list[ExperimentalRecord], Counter, Counter]:
    """Clean records (sorted by InChIKey, one per InChIKey), drop and rejection counts."""
    dropped: Counter = Counter()
    rejected: Counter = Counter()
    best: dict[str, ExperimentalRecord] = {}
    for molecule in molecules:
        advance(1)
        source_id = molecule.get("id")
        own = spectra.get(int(source_id), []) if source_id is not None else []
        try:
            record = build_record(molecule, own, rejected)
        except Rejected as exc:
            dropped[exc.reason] += 1
            continue
        kept = best.get(record.inchikey)
        if kept is not None:
            dropped["duplicate_inchikey"] += 1
            if kept.quality() >= record.quality():
                continue
        best[record.inchikey] = record
    return [best[key] for key in sorted(best)], dropped, rejected


def map_cascade(
    records: Sequence[ExperimentalRecord], molecules: dict[int, cascade_io.CascadeMolecule]
) -> tuple[list[tuple[list[int], list[float]] | None], int]:
    """CASCADE mapping per record (joined on NMRShiftDB2 ID), and the number of failures."""
    mapped: list[tuple[list[int], list[float]] | None] = []
    failed = 0
    for record in records:
        entry = molecules.get(record.source_id)
        result = None if entry is None else cascade_io.map_onto(entry, record.smiles)
        failed += entry is not None and result is None
        mapped.append(result)
    return mapped, failed


def _check_splits(rows: Sequence[dict[str, Any]]) -> None:
    connectivity = [row["inchikey"][:14] for row in rows]
    for scheme in SPLIT_SCHEMES:
        labels = [row[f"split_{scheme}"] for row in rows]
        leaks = keys_in_several_splits(labels, connectivity)
        if scheme == "scaffold":
            leaks += keys_in_several_splits(labels, [row["scaffold"] for row in rows])
        if leaks:
            raise RuntimeError(f"{scheme} split leaks {len(leaks)} groups, e.g. {leaks[:3]}")


def _field_mhz(record: ExperimentalRecord) -> float | None:
    value = None if record.h1 is None else record.h1.field_mhz
    return value if value is not None and 10 <= value <= 2000 else None


def prepare(options: PrepareOptions, progress: Progress = _no_progress) -> PrepareSummary:
    """Run the whole preparation (see the module docstring) and return its summary.

    Raises :class:`InputFileError` when a source file is missing or unreadable.
    """
    source, out = Path(options.source), Path(options.out)
    inputs = [
        _require(source / MOLECULES_FILE),
        _require(source / SPECTRA_FILE),
        _require(source / CASCADE_DIR / cascade_io.CSV_NAME),
        _require(source / CASCADE_DIR / cascade_io.SDF_NAME),
    ]
    molecules = pq.read_table(inputs[0], columns=_MOLECULE_COLUMNS).to_pylist()
    spectra = _spectra_by_id(inputs[1])
    with progress("NMRShiftDB2 records", len(molecules)) as advance:
        records, dropped, rejected = build_records(molecules, spectra, advance)
    cascade_molecules = cascade_io.read_cascade(source / CASCADE_DIR)
    mapped, n_unmapped = map_cascade(records, cascade_molecules)

    connectivity = [r.connectivity for r in records]
    seeds = {"scaffold": options.seed, "random": options.seed + 1}
    splits = {
        "scaffold": scaffold_split(connectivity, [r.scaffold for r in records], seeds["scaffold"]),
        "random": random_split(connectivity, seeds["random"]),
    }
    rows = [
        record_to_row(record, cascade, splits["scaffold"][i], splits["random"][i])
        for i, (record, cascade) in enumerate(zip(records, mapped, strict=True))
    ]
    _check_splits(rows)
    files = [write_parquet(rows_to_table(rows, DATASET_SCHEMA), out / "experimental.parquet")]
    fields = {r.id: _field_mhz(r) for r in records}
    held_out: set[str] = set()
    for scheme in SPLIT_SCHEMES:
        for split in ("valid", "test"):
            chosen = [row for row in rows if row[f"split_{scheme}"] == split]
            held_out.update(row["inchikey"] for row in chosen)
            table = rows_to_table(query_rows(chosen, fields), QUERY_SCHEMA)
            files.append(write_parquet(table, out / "queries" / f"{scheme}_{split}.parquet"))

    literature: LiteratureData | None = None
    literature_rows: list[dict[str, Any]] = []
    if options.literature or (options.literature is None and (source / LITERATURE_DIR).is_dir()):
        inputs.append(_require(source / LITERATURE_FILE))
        literature = load_literature(inputs[-1])
        literature_rows = literature.rows()
        files.append(
            write_parquet(
                rows_to_table(literature_rows, DATASET_SCHEMA), out / "literature.parquet"
            )
        )
        files.append(
            write_parquet(
                rows_to_table(literature.query_rows(exclude=set(connectivity)), QUERY_TEXT_SCHEMA),
                out / "queries" / "literature.parquet",
            )
        )

    n_simulated = n_excluded = None
    wheel_sha = None
    if options.moses:
        from nmrpeak_cli.data import moses

        wheel = options.moses_wheel or moses.moses_wheel(options.cache)
        wheel_sha = file_sha256(wheel)
        with progress("MOSES InChIKeys (cached after the first run)", None) as advance:
            everything = moses.moses_table(wheel, options.cache, options.jobs, advance)
        simulated = moses.exclude_leaks(everything, held_out)
        n_simulated, n_excluded = simulated.num_rows, everything.num_rows - simulated.num_rows
        files.append(write_parquet(simulated, out / "simulated_molecules.parquet"))

    summary = PrepareSummary(
        n_source=len(molecules),
        n_records=len(records),
        dropped={reason: dropped[reason] for reason in DROP_REASONS if dropped[reason]},
        rejected_spectra={r: rejected[r] for r in SPECTRUM_REJECTIONS if rejected[r]},
        n_cascade=sum(m is not None for m in mapped),
        n_cascade_unmapped=n_unmapped,
        n_h1_expanded=sum(r.h1 is not None and r.h1.added > 0 for r in records),
        n_simulated=n_simulated,
        n_simulated_excluded=n_excluded,
    )
    if literature is not None:
        blocks = set(connectivity)
        summary = replace(
            summary,
            n_literature_source=literature.n_source,
            n_literature=len(literature.records),
            literature_dropped=literature.dropped,
            literature_rejected=literature.rejected,
            n_literature_in_experimental=sum(
                r.record.connectivity in blocks for r in literature.records
            ),
        )
    manifest = {
        "nmrpeak_version": __version__,
        "command": options.command,
        "seeds": {f"split_{k}": v for k, v in seeds.items()},
        "fractions": dict(zip(SPLITS, DEFAULT_FRACTIONS, strict=True)),
        "sources": {str(path.relative_to(source)): file_sha256(path) for path in inputs},
        "moses_wheel_sha256": wheel_sha,
        "counts": {
            "source_molecules": summary.n_source,
            "records": summary.n_records,
            "dropped": summary.dropped,
            "rejected_spectra": summary.rejected_spectra,
            "cascade_mapped": summary.n_cascade,
            "cascade_unmapped": summary.n_cascade_unmapped,
            "h1_expanded": summary.n_h1_expanded,
            "simulated": n_simulated,
            "simulated_excluded": n_excluded,
            "splits": {
                scheme: dict(sorted(Counter(splits[scheme]).items())) for scheme in SPLIT_SCHEMES
            },
            "literature": None
            if literature is None
            else {
                "source_rows": summary.n_literature_source,
                "records": summary.n_literature,
                "dropped": summary.literature_dropped,
                "rejected_peak_lists": summary.literature_rejected,
                "in_experimental": summary.n_literature_in_experimental,
            },
        },
        "literature_sha256": {
            str(path.relative_to(out)): file_sha256(path)
            for path in files
            if path.name == "literature.parquet"
        },
        "files": sorted(str(path.relative_to(out)) for path in files),
    }
    manifest_path = out / "manifest.json"
    write_json_atomic(manifest_path, manifest, sort_keys=True)
    files.append(manifest_path)
    if options.report is not None:
        Path(options.report).parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(options.report, render_report(rows, summary, manifest, literature_rows))
        files.append(Path(options.report))
    return replace(summary, files=tuple(files))


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def _table(header: Sequence[str], body: Sequence[Sequence[object]]) -> Iterator[str]:
    yield "| " + " | ".join(header) + " |"
    yield "|" + "|".join("---:" if i else "---" for i in range(len(header))) + "|"
    for line in body:
        yield "| " + " | ".join(str(cell) for cell in line) + " |"


def _pct(part: int, whole: int) -> str:
    return f"{part} ({100 * part / whole:.1f}%)" if whole else str(part)


def render_report(
    rows: Sequence[dict[str, Any]],
    summary: PrepareSummary,
    manifest: dict[str, Any],
    literature_rows: Sequence[dict[str, Any]] = (),
) -> str:
    """The Markdown report (``benchmarks/DATA.md``) of a prepared dataset (and of its
    literature records, ``literature_rows``, when prepared)."""
    n = len(rows)
    has_c13 = [r for r in rows if r["c13_shifts"] is not None]
    has_h1 = [r for r in rows if r["h1_shifts"] is not None]
    lines = [
        "# Prepared experimental data",
        "",
        f"Generated by `{manifest['command']}` (nmrpeak {manifest['nmrpeak_version']}); "
        "do not edit by hand. Rules: `nmrpeak_cli/data/nmrshiftdb.py` and "
        "`nmrpeak_cli/data/splits.py` docstrings.",
        "",
        "## Sources",
        "",
        *_table(
            ["file", "sha256"],
            [[f"`{k}`", f"`{v[:16]}…`"] for k, v in sorted(manifest["sources"].items())],
        ),
        "",
        "## Records",
        "",
        f"{summary.n_source} source molecules → **{n} records** (one per InChIKey).",
        "",
        *_table(
            ["nucleus", "records", "complete", "entries", "peaks"],
            [
                [
                    "13C",
                    _pct(len(has_c13), n),
                    _pct(sum(bool(r["c13_complete"]) for r in has_c13), len(has_c13)),
                    sum(len(r["c13_shifts"]) for r in has_c13),
                    sum(len(r["c13"]) for r in has_c13),
                ],
                [
                    "1H",
                    _pct(len(has_h1), n),
                    _pct(sum(bool(r["h1_complete"]) for r in has_h1), len(has_h1)),
                    sum(len(r["h1_shifts"]) for r in has_h1),
                    sum(len(r["h1"]) for r in has_h1),
                ],
                [
                    "both",
                    _pct(sum(r["c13"] is not None and r["h1"] is not None for r in rows), n),
                    "",
                    "",
                    "",
                ],
            ],
        ),
        "",
        "Entries: one per carbon / per proton; peaks: one per distinct shift. 1H lists that "
        "give one entry per CH2/CH3 group were expanded with the attached-H counts of the "
        f"record's 13C spectra in {summary.n_h1_expanded} records; where no 13C count exists "
        "(1H-only records, OH/NH) an entry counts as one proton, so such lists stay incomplete. "
        f"CASCADE atom-mapped 13C: {summary.n_cascade} records "
        f"({summary.n_cascade_unmapped} CASCADE structures could not be matched atom for atom).",
        "",
        "## Dropped records",
        "",
        *_table(
            ["reason", "records"],
            [[f"`{k}`", v] for k, v in summary.dropped.items()] or [["(none)", 0]],
        ),
        "",
        "Rejected spectra (the record was kept when another spectrum was usable):",
        "",
        *_table(
            ["reason", "spectra"],
            [[f"`{k}`", v] for k, v in summary.rejected_spectra.items()] or [["(none)", 0]],
        ),
        "",
        "## Splits",
        "",
        f"Seeds: {manifest['seeds']}; fractions {manifest['fractions']}. Groups: scaffold "
        "split by Murcko scaffold joined with InChIKey first block (acyclic: block only); "
        "random split by first block. "
        f"{_mixed_blocks(rows)} first blocks carry two scaffolds (tautomers drawn two ways); "
        "their molecules share a group, so no block or scaffold is in two splits.",
        "",
    ]
    for scheme in SPLIT_SCHEMES:
        key = f"split_{scheme}"
        body = []
        for split in SPLITS:
            part = [r for r in rows if r[key] == split]
            body.append(
                [
                    split,
                    _pct(len(part), n),
                    sum(r["c13"] is not None for r in part),
                    sum(r["h1"] is not None for r in part),
                    sum(r["c13"] is not None and r["h1"] is not None for r in part),
                    sum(r["cascade_atoms"] is not None for r in part),
                    len({r["scaffold"] for r in part if r["scaffold"]}),
                    sum(not r["scaffold"] for r in part),
                ]
            )
        lines += [
            f"**{scheme}**",
            "",
            *_table(
                ["split", "records", "13C", "1H", "both", "CASCADE", "scaffolds", "acyclic"],
                body,
            ),
            "",
        ]
    solvents = Counter()
    for row in rows:
        for nucleus in ("c13", "h1"):
            if row[nucleus] is not None:
                solvents[(nucleus, row[f"solvent_{nucleus}"] or "unknown")] += 1
    names = sorted({s for _, s in solvents}, key=lambda s: (s == "unknown", s))
    lines += [
        "## Solvents",
        "",
        *_table(
            ["solvent", "13C records", "1H records"],
            [[name, solvents[("c13", name)], solvents[("h1", name)]] for name in names],
        ),
        "",
        "## Heavy atoms",
        "",
        *_table(["heavy atoms", "records", "share"], _histogram([r["n_heavy"] for r in rows])),
        "",
    ]
    if summary.n_simulated is not None:
        lines += [
            "## Simulated molecules (MOSES)",
            "",
            f"{summary.n_simulated} molecules in `simulated_molecules.parquet`; "
            f"{summary.n_simulated_excluded} removed because their InChIKey first block is "
            "in a valid or test split of either scheme.",
            "",
        ]
    if summary.n_literature is not None:
        lines += _literature_section(literature_rows, summary)
    return "\n".join(lines)


def _literature_section(rows: Sequence[dict[str, Any]], summary: PrepareSummary) -> list[str]:
    heavy = sorted(r["n_heavy"] for r in rows)
    median = heavy[len(heavy) // 2] if heavy else 0
    reasons = [[f"`{k}`", v] for k, v in summary.literature_dropped.items()]
    reasons += [[f"`{k}` (peak list)", v] for k, v in summary.literature_rejected.items()]
    return [
        "## Literature records (NMRBank, curated)",
        "",
        f"{summary.n_literature_source} rows → **{summary.n_literature} records** in "
        "`literature.parquet` (split columns `literature`: in no scaffold/random split; "
        "trained on only by `nmrpeak train predictor --split all`) and the text query table "
        "`queries/literature.parquet` (peak lists as printed; unseen compounds only). Rules: "
        "`nmrpeak_cli/data/literature.py` docstring. "
        f"13C: {sum(r['c13'] is not None for r in rows)} records "
        f"({sum(bool(r['c13_complete']) for r in rows)} complete), 1H: "
        f"{sum(r['h1'] is not None for r in rows)} ({sum(bool(r['h1_complete']) for r in rows)} "
        f"complete); median {median} heavy atoms. "
        f"{summary.n_literature_in_experimental} share an InChIKey first block with "
        "`experimental.parquet` and are left out of the query table.",
        "",
        *_table(["dropped / rejected", "count"], reasons or [["(none)", 0]]),
        "",
    ]


def _mixed_blocks(rows: Sequence[dict[str, Any]]) -> int:
    scaffolds: dict[str, set[str]] = {}
    for row in rows:
        scaffolds.setdefault(row["inchikey"][:14], set()).add(row["scaffold"])
    return sum(len(found) > 1 for found in scaffolds.values())


def _histogram(values: Sequence[int]) -> list[list[object]]:
    edges = [1, 6, 11, 16, 21, 26, 31, 41, 51, 76, 101]
    body: list[list[object]] = []
    for low, high in pairwise(edges):
        count = sum(low <= v < high for v in values)
        share = count / len(values) if values else math.nan
        body.append([f"{low}–{high - 1}", count, f"{100 * share:.1f}%"])
    return body
