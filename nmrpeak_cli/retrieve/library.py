"""Library directories: predicted spectra, packed peak arrays, embeddings and faiss indexes.

A library directory holds, for every molecule of a molecule set, its predicted 13C/1H peak
lists and what search needs to score them fast::

    LIBDIR/
      manifest.json            format version, models, shard, counts, sha256 of every file
      entries.parquet          ordinal, id, smiles, inchikey, formula, c13, h1 (predictions)
      failures.parquet         ordinal, id, smiles, error (molecules that could not be added)
      c13.shifts.npy ...       packed peak arrays (:class:`~nmrpeak_cli.similarity.PackedPeakLists`)
      h1.shifts.npy ...
      emb.<encoder>.npy        float16 L2-normalized embeddings, one row per entry
      index.<encoder>.faiss    exact (flat) or approximate (IVF) inner-product index

Building (:mod:`nmrpeak_cli.retrieve.build`) streams the input in parts of ``part_size`` molecules (``parts/part-NNNNN/`` holds
the same files for one part); the manifest records each finished part with checksums, so an
interrupted build resumes where it stopped (``resume=True``). When every part is done the
parts are consolidated into the top-level files, the indexes are built and the parts are
removed. A job array builds one shard per task (``shard=Shard(i, n)``: input records with
``ordinal % n == i``); :func:`~nmrpeak_cli.retrieve.build.merge_libraries` joins the shards, in input order, into a
library equal to a one-shot build.

:func:`open_library` checks the manifest before anything is searched: format version, every
file present with its recorded size and sha256, and (when given) the predictor and encoders
the caller will use must be the ones the library was built with.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from nmrpeak_cli import __version__
from nmrpeak_cli.artifacts import ModelIdentity
from nmrpeak_cli.errors import InputFileError, NmrpeakError
from nmrpeak_cli.paths import file_sha256
from nmrpeak_cli.retrieve.binned import BinnedIndex
from nmrpeak_cli.retrieve.models import prediction_to_spectrum
from nmrpeak_cli.schema import PRED_C13_PEAK_TYPE, PRED_H1_PEAK_TYPE
from nmrpeak_cli.similarity import PackedPeakLists
from nmrpeak_cli.spectra import Nucleus, Peak, PeakList, Spectrum

FORMAT = "nmrpeak-library"
FORMAT_VERSION = 1
"""Version of the directory layout; bumped whenever a file or column changes."""

MANIFEST = "manifest.json"
ENTRIES = "entries.parquet"
FAILURES = "failures.parquet"
PACKED_FIELDS: tuple[str, ...] = ("shifts", "weights", "offsets", "totals", "counted")
"""Arrays of one :class:`PackedPeakLists`, one ``<nucleus>.<field>.npy`` file each."""

EXACT_INDEX_MAX = 200_000
"""Largest library searched with an exact (flat) index; bigger ones get an IVF index."""

IVF_NPROBE = 32
"""Inverted lists visited per query by approximate indexes."""

ENTRY_SCHEMA = pa.schema(
    [
        pa.field("ordinal", pa.int64(), nullable=False),
        pa.field("id", pa.string(), nullable=False),
        pa.field("smiles", pa.string()),
        pa.field("inchikey", pa.string()),
        pa.field("formula", pa.string()),
        pa.field("c13", pa.list_(PRED_C13_PEAK_TYPE)),
        pa.field("h1", pa.list_(PRED_H1_PEAK_TYPE)),
    ],
    metadata={b"nmrpeak.schema": b"library_entries", b"nmrpeak.version": __version__.encode()},
)
"""One row per library molecule; ``ordinal`` is its position in the (unsharded) input."""

FAILURE_SCHEMA = pa.schema(
    [
        pa.field("ordinal", pa.int64(), nullable=False),
        pa.field("id", pa.string()),
        pa.field("smiles", pa.string()),
        pa.field("error", pa.string()),
    ]
)


class LibraryError(NmrpeakError, OSError):
    """A library directory is incomplete, corrupt, or built with other models."""


# --------------------------------------------------------------------------------------------
# Manifest
# --------------------------------------------------------------------------------------------


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """The manifest of a library directory; :class:`LibraryError` when absent or unreadable."""
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise LibraryError(f"{directory}: no {MANIFEST}; not a library directory (or not built)")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise LibraryError(f"{path}: unreadable manifest ({exc})") from None
    if manifest.get("format") != FORMAT:
        raise LibraryError(f"{path}: format {manifest.get('format')!r}, expected {FORMAT!r}")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise LibraryError(
            f"{path}: library format version {manifest.get('format_version')}, this nmrpeak "
            f"reads version {FORMAT_VERSION}; rebuild the library"
        )
    return manifest


def _check_identity(
    kind: str, recorded: Mapping[str, Any] | None, current: ModelIdentity, where: str
) -> None:
    if recorded is None:
        raise LibraryError(
            f"{where}: library was built without {kind} {current.name!r}, but "
            f"{current.describe()} was requested; rebuild the library with it"
        )
    built = ModelIdentity.from_dict(recorded)
    if (built.version, built.sha256) != (current.version, current.sha256):
        raise LibraryError(
            f"{where}: library was built with {kind} {built.describe()}, but the current "
            f"{kind} is {current.describe()}; rebuild the library (nmrpeak library build) "
            "or use the models it was built with"
        )


def check_models(
    manifest: Mapping[str, Any],
    where: str,
    predictor: ModelIdentity | None = None,
    encoders: Sequence[ModelIdentity] = (),
) -> None:
    """Refuse a library built with another predictor or encoder version.

    Raises
    ------
    LibraryError
        Naming the version the library was built with and the version requested.
    """
    if predictor is not None:
        _check_identity("predictor", manifest.get("predictor"), predictor, where)
    recorded = manifest.get("encoders", {})
    for encoder in encoders:
        _check_identity("encoder", recorded.get(encoder.name), encoder, where)


def verify_files(
    directory: Path, files: Mapping[str, Mapping[str, Any]], *, checksums: bool
) -> None:
    """Check every recorded file is present with its size (and sha256 when ``checksums``)."""
    missing = [name for name in files if not (directory / name).is_file()]
    if missing:
        raise LibraryError(
            f"{directory}: {len(missing)} file(s) missing: {', '.join(sorted(missing)[:5])}; "
            "the library is incomplete (copy it again or rebuild it)"
        )
    for name, record in files.items():
        size = (directory / name).stat().st_size
        if size != record["bytes"]:
            raise LibraryError(
                f"{directory / name}: {size} bytes, manifest says {record['bytes']}; the file "
                "is truncated or was changed (copy it again or rebuild the library)"
            )
        if checksums and file_sha256(directory / name) != record["sha256"]:
            raise LibraryError(
                f"{directory / name}: sha256 differs from the manifest; the file is corrupt "
                "(copy it again or rebuild the library)"
            )


def gather_packed(arrays: Mapping[str, np.ndarray], order: np.ndarray) -> dict[str, np.ndarray]:
    """Reorder packed lists: list ``k`` of the result is list ``order[k]`` of the input."""
    offsets = arrays["offsets"]
    sizes = np.diff(offsets)[order]
    new_offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    unit = np.repeat(offsets[:-1][order] - new_offsets[:-1], sizes) + np.arange(new_offsets[-1])
    gathered = {
        "shifts": arrays["shifts"][unit],
        "weights": arrays["weights"][unit],
        "offsets": new_offsets,
        "totals": arrays["totals"][order],
        "counted": arrays["counted"][order],
    }
    if arrays.get("n_h") is not None:
        gathered["n_h"] = arrays["n_h"][unit]
    return gathered


# --------------------------------------------------------------------------------------------
# Opening a library for search
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Library:
    """An opened, verified library: metadata columns in Arrow, arrays memory-mapped.

    Attributes
    ----------
    path
        The library directory.
    manifest
        Its manifest.
    entries
        ``ordinal, id, smiles, inchikey, formula`` of every entry (predictions stay on disk;
        see :meth:`predicted`).
    packed
        Packed predicted peak lists per nucleus, memory-mapped.
    embeddings
        ``(n, dim)`` float16 library-side embeddings per encoder name, memory-mapped.
    """

    path: Path
    manifest: Mapping[str, Any]
    entries: pa.Table
    packed: Mapping[Nucleus, PackedPeakLists]
    embeddings: Mapping[str, np.ndarray]
    _formula_rows: dict[str, np.ndarray] = field(repr=False)
    _indexes: dict[str, Any] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return self.entries.num_rows

    @property
    def encoder_names(self) -> tuple[str, ...]:
        """Names of the encoders whose embeddings the library holds."""
        return tuple(sorted(self.embeddings))

    def rows_with_formula(self, formula: str) -> np.ndarray:
        """Row numbers of entries with exactly this (Hill) formula."""
        return self._formula_rows.get(formula, np.zeros(0, np.int64))

    @property
    def formulas(self) -> Mapping[str, np.ndarray]:
        """Formula → row numbers."""
        return self._formula_rows

    def index(self, name: str):
        """The faiss index of encoder ``name`` (read on first use; on GPU when one is visible)."""
        if name not in self._indexes:
            import faiss

            index = faiss.read_index(str(self.path / f"index.{name}.faiss"))
            if hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0:
                index = faiss.index_cpu_to_all_gpus(index)
            self._indexes[name] = index
        return self._indexes[name]

    @cached_property
    def binned(self) -> BinnedIndex:
        """The peak-density candidate index of the predicted spectra (built on first use:
        about a second per 100k entries)."""
        return BinnedIndex(self.packed)

    @cached_property
    def labelled(self) -> Library:
        """:meth:`with_attached_h`, computed once per opened library (retrieval switches to
        it when a query carries attached-H labels)."""
        return self.with_attached_h()

    def with_attached_h(self) -> Library:
        """This library with attached-H labels on its packed 13C peaks (``n_h`` of each
        predicted peak's carbons, from the entry's SMILES), for
        ``SimilarityParams(attached_h=True)``. Takes about a minute per 100k entries."""
        c13 = self.packed[Nucleus.C13]
        if c13.n_h is not None:
            return self
        from dataclasses import replace

        n_h = c13_attached_h(pq.read_table(self.path / ENTRIES, columns=["smiles", "c13"]))
        if len(n_h.shifts) != len(c13.shifts) or not np.array_equal(n_h.offsets, c13.offsets):
            raise LibraryError(
                f"{self.path}: the predicted 13C peaks in {ENTRIES} do not match the packed "
                "13C arrays; the library is inconsistent, rebuild it"
            )
        labelled = replace(c13, n_h=n_h.n_h)
        return replace(self, packed={**self.packed, Nucleus.C13: labelled})

    def predicted(self, rows: Sequence[int]) -> list[Spectrum]:
        """Predicted spectra of entries ``rows`` (read from the entries file)."""
        table = pq.read_table(self.path / ENTRIES, columns=["id", "smiles", "c13", "h1"])
        return [
            prediction_to_spectrum(r) for r in table.take(pa.array(rows, pa.int64())).to_pylist()
        ]


def c13_attached_h(entries: pa.Table) -> PackedPeakLists:
    """Packed predicted 13C peaks of ``entries`` (``smiles``, ``c13`` columns) labelled with
    the attached-H count of their carbons (-1 for a peak whose atoms disagree or are
    unknown)."""
    from rdkit import Chem

    lists = []
    for smiles, peaks in zip(
        entries.column("smiles").to_pylist(), entries.column("c13").to_pylist(), strict=True
    ):
        mol = Chem.MolFromSmiles(smiles) if smiles else None
        counts = [a.GetTotalNumHs() for a in mol.GetAtoms()] if mol is not None else []
        labelled = []
        for peak in peaks or ():
            found = {counts[a] for a in peak.get("atoms") or () if a < len(counts)}
            labelled.append(Peak(peak["shift"], n_h=found.pop() if len(found) == 1 else None))
        lists.append(PeakList(Nucleus.C13, tuple(labelled)))
    return PackedPeakLists.from_peaklists(lists, Nucleus.C13)


def formula_groups(formulas: pa.ChunkedArray) -> dict[str, np.ndarray]:
    encoded = formulas.combine_chunks().dictionary_encode()
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(encoded.dictionary) + 1))
    return {
        str(name): order[bounds[k] : bounds[k + 1]]
        for k, name in enumerate(encoded.dictionary.to_pylist())
    }


def default_library_dir() -> Path:
    """Where ``nmrpeak library default`` builds the library elucidate uses by default."""
    from nmrpeak_cli.paths import cache_dir

    return cache_dir() / "default_library"


def open_library(
    directory: str | Path,
    *,
    predictor: ModelIdentity | None = None,
    encoders: Sequence[ModelIdentity] = (),
    checksums: bool = True,
) -> Library:
    """Open a library for search after verifying it.

    Parameters
    ----------
    directory
        Library directory.
    predictor, encoders
        Identities of the models the caller will use with it; a library built with other
        versions is refused with a message naming both.
    checksums
        Also compare every file's sha256 (sizes are always compared).

    Raises
    ------
    LibraryError
        Not a library, build not finished, a file missing/truncated/corrupt, or model mismatch.
    """
    path = Path(directory)
    if not path.is_dir():
        raise InputFileError(f"library directory {path} does not exist")
    manifest = read_manifest(path)
    if manifest.get("status") != "complete":
        raise LibraryError(
            f"{path}: library build is not finished (status {manifest.get('status')!r}); "
            "run the build again with --resume"
        )
    if manifest["shard"]["count"] > 1:
        raise LibraryError(
            f"{path}: this is shard {manifest['shard']['index']}/{manifest['shard']['count']} of a "
            "job array; merge all shards first (nmrpeak library merge)"
        )
    check_models(manifest, str(path), predictor, encoders)
    verify_files(path, manifest["files"], checksums=checksums)
    entries = pq.read_table(
        path / ENTRIES, columns=["ordinal", "id", "smiles", "inchikey", "formula"]
    )
    packed = {}
    for nucleus in Nucleus:
        arrays = {
            name: np.load(path / f"{nucleus.column}.{name}.npy", mmap_mode="r")
            for name in PACKED_FIELDS
        }
        if len(arrays["offsets"]) - 1 != entries.num_rows:
            raise LibraryError(
                f"{path}: {nucleus.value} arrays hold {len(arrays['offsets']) - 1} lists for "
                f"{entries.num_rows} entries; the library is inconsistent, rebuild it"
            )
        packed[nucleus] = PackedPeakLists(nucleus=nucleus, **arrays)
    embeddings = {
        name: np.load(path / f"emb.{name}.npy", mmap_mode="r") for name in manifest["encoders"]
    }
    for name, vectors in embeddings.items():
        if len(vectors) != entries.num_rows:
            raise LibraryError(
                f"{path}: {len(vectors)} {name} embeddings for {entries.num_rows} entries; rebuild"
            )
    return Library(
        path=path,
        manifest=manifest,
        entries=entries,
        packed=packed,
        embeddings=embeddings,
        _formula_rows=formula_groups(entries.column("formula")),
    )
