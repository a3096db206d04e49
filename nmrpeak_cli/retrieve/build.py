"""Building library directories: predicted spectra, packed peaks, embeddings, indexes.

The layout and how it is read are :mod:`nmrpeak_cli.retrieve.library`'s; this module writes
it. :func:`build_library` streams molecules in resumable parts (one shard of a job array at
a time), :func:`merge_libraries` joins the shards in input order and :func:`embed_library`
adds encoder embeddings to a finished library.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from nmrpeak_cli import __version__
from nmrpeak_cli.batch import Shard
from nmrpeak_cli.errors import ChemistryError, NmrpeakError
from nmrpeak_cli.io.records import batched
from nmrpeak_cli.paths import atomic_path, file_sha256, write_json_atomic
from nmrpeak_cli.predict.forward import Predictor
from nmrpeak_cli.retrieve.library import (
    ENTRIES,
    ENTRY_SCHEMA,
    EXACT_INDEX_MAX,
    FAILURE_SCHEMA,
    FAILURES,
    FORMAT,
    FORMAT_VERSION,
    IVF_NPROBE,
    MANIFEST,
    PACKED_FIELDS,
    LibraryError,
    gather_packed,
    read_manifest,
    verify_files,
)
from nmrpeak_cli.retrieve.models import Encoder, prediction_to_spectrum
from nmrpeak_cli.similarity import PackedPeakLists
from nmrpeak_cli.spectra import Nucleus, Spectrum


def _file_records(directory: Path, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    return {
        name: {"bytes": (directory / name).stat().st_size, "sha256": file_sha256(directory / name)}
        for name in sorted(names)
    }


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    write_json_atomic(path, data, sort_keys=True)


# --------------------------------------------------------------------------------------------
# Building one part
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LibraryInput:
    """One molecule to add to a library: its position in the full input, id, SMILES, and the
    reader's error when the record could not be read (it is then recorded as a failure).

    Not :class:`nmrpeak_cli.io.records.MoleculeRecord` (what a reader yields): this one
    carries the ordinal that keeps library order and resumable parts stable."""

    ordinal: int
    id: str
    smiles: str
    error: str | None = None


def _canonical(record: LibraryInput) -> tuple[str, str, str]:
    """Canonical isomeric SMILES, InChIKey and formula (raises ChemistryError)."""
    from nmrpeak_cli import chem

    mol = chem.parse_smiles(record.smiles)
    return chem.canonical_smiles(mol), chem.inchikey(mol), chem.formula(mol)


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, np.ascontiguousarray(array))


def _write_table(path: Path, table: pa.Table) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def _pack_arrays(spectra: Sequence[Spectrum], nucleus: Nucleus) -> dict[str, np.ndarray]:
    packed = PackedPeakLists.from_peaklists((s.peaks(nucleus) for s in spectra), nucleus)
    return {
        "shifts": np.asarray(packed.shifts, np.float32),
        "weights": np.asarray(packed.weights, np.float32),
        "offsets": np.asarray(packed.offsets, np.int64),
        "totals": np.asarray(packed.totals, np.float32),
        "counted": np.asarray(packed.counted, bool),
    }


def _failure(record: LibraryInput, error: str) -> dict[str, Any]:
    return {"ordinal": record.ordinal, "id": record.id, "smiles": record.smiles, "error": error}


def _build_part(
    records: Sequence[LibraryInput],
    directory: Path,
    predictor: Predictor,
    encoders: Sequence[Encoder],
) -> dict[str, Any]:
    """Predict, pack and embed one part into ``directory``; return its manifest entry."""
    directory.mkdir(parents=True, exist_ok=True)
    failures: list[dict[str, Any]] = []
    valid: list[tuple[LibraryInput, str, str, str]] = []
    for record in records:
        if record.error is not None:
            failures.append(_failure(record, record.error))
            continue
        try:
            valid.append((record, *_canonical(record)))
        except (ChemistryError, TypeError) as exc:
            failures.append(_failure(record, str(exc)))
    predictions = predictor.predict_rows([(r.id, smiles) for r, smiles, _, _ in valid])
    if len(predictions) != len(valid):
        raise NmrpeakError(f"predictor returned {len(predictions)} rows for {len(valid)} molecules")
    rows: list[dict[str, Any]] = []
    spectra: list[Spectrum] = []
    for (record, smiles, key, formula), row in zip(valid, predictions, strict=True):
        if row.get("error"):
            failures.append(_failure(record, str(row["error"])))
            continue
        try:
            spectrum = prediction_to_spectrum({**row, "id": record.id, "smiles": smiles})
        except NmrpeakError as exc:
            failures.append(_failure(record, f"prediction: {exc}"))
            continue
        spectra.append(spectrum)
        rows.append(
            {
                "ordinal": record.ordinal,
                "id": record.id,
                "smiles": smiles,
                "inchikey": key,
                "formula": formula,
                "c13": row.get("c13"),
                "h1": row.get("h1"),
            }
        )
    names = [ENTRIES, FAILURES]
    _write_table(directory / ENTRIES, pa.Table.from_pylist(rows, schema=ENTRY_SCHEMA))
    _write_table(directory / FAILURES, pa.Table.from_pylist(failures, schema=FAILURE_SCHEMA))
    for nucleus in Nucleus:
        for name, array in _pack_arrays(spectra, nucleus).items():
            _save_npy(directory / f"{nucleus.column}.{name}.npy", array)
            names.append(f"{nucleus.column}.{name}.npy")
    for encoder in encoders:
        if spectra:
            vectors = encoder.embed_entries([r["smiles"] for r in rows], spectra)
        else:
            vectors = np.zeros((0, encoder.dim), np.float32)
        _save_npy(directory / f"emb.{encoder.identity.name}.npy", np.asarray(vectors, np.float16))
        names.append(f"emb.{encoder.identity.name}.npy")
    return {
        "entries": len(rows),
        "failed": len(failures),
        "first_ordinal": records[0].ordinal if records else None,
        "files": _file_records(directory, names),
    }


# --------------------------------------------------------------------------------------------
# Consolidation (parts → library, shards → merged library)
# --------------------------------------------------------------------------------------------


def _concat_npy(paths: Sequence[Path], out: Path, offsets: bool) -> None:
    """Concatenate 1D/2D npy files into ``out`` through a memory map (bounded memory)."""
    arrays = [np.load(p, mmap_mode="r") for p in paths]
    if offsets:
        total = sum(len(a) - 1 for a in arrays) + 1
        target = np.lib.format.open_memmap(out, mode="w+", dtype=np.int64, shape=(total,))
        target[0] = 0
        position, base = 1, 0
        for array in arrays:
            target[position : position + len(array) - 1] = array[1:] + base
            position += len(array) - 1
            base += int(array[-1])
    else:
        shape = (sum(len(a) for a in arrays), *arrays[0].shape[1:])
        target = np.lib.format.open_memmap(out, mode="w+", dtype=arrays[0].dtype, shape=shape)
        position = 0
        for array in arrays:
            target[position : position + len(array)] = array
            position += len(array)
    target.flush()
    del target


def _concat_tables(paths: Sequence[Path], out: Path, schema: pa.Schema) -> None:
    with atomic_path(out) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for path in paths:
            writer.write_table(pq.read_table(path, schema=schema))


def _sort_by_ordinal(directory: Path, encoder_names: Sequence[str]) -> None:
    """Put a consolidated library in input order (after merging interleaved shards)."""
    ordinals = pq.read_table(directory / ENTRIES, columns=["ordinal"]).column(0).to_numpy()
    order = np.argsort(ordinals, kind="stable")
    if np.all(order == np.arange(len(order))):
        return
    entries = pq.read_table(directory / ENTRIES).take(pa.array(order))
    _write_table(directory / ENTRIES, entries)
    for nucleus in Nucleus:
        arrays = {
            name: np.load(directory / f"{nucleus.column}.{name}.npy") for name in PACKED_FIELDS
        }
        for name, array in gather_packed(arrays, order).items():
            _save_npy(directory / f"{nucleus.column}.{name}.npy", array)
    for name in encoder_names:
        path = directory / f"emb.{name}.npy"
        _save_npy(path, np.load(path)[order])
    failures = pq.read_table(directory / FAILURES)
    if failures.num_rows:
        fail_order = np.argsort(failures.column("ordinal").to_numpy(), kind="stable")
        _write_table(directory / FAILURES, failures.take(pa.array(fail_order)))


def _consolidate(sources: Sequence[Path], out: Path, encoder_names: Sequence[str]) -> list[str]:
    """Concatenate the library files of ``sources`` (parts or shards) into ``out``."""
    _concat_tables([s / ENTRIES for s in sources], out / ENTRIES, ENTRY_SCHEMA)
    _concat_tables([s / FAILURES for s in sources], out / FAILURES, FAILURE_SCHEMA)
    names = [ENTRIES, FAILURES]
    for nucleus in Nucleus:
        for name in PACKED_FIELDS:
            file_name = f"{nucleus.column}.{name}.npy"
            _concat_npy([s / file_name for s in sources], out / file_name, name == "offsets")
            names.append(file_name)
    for name in encoder_names:
        file_name = f"emb.{name}.npy"
        _concat_npy([s / file_name for s in sources], out / file_name, offsets=False)
        names.append(file_name)
    return names


def build_index(vectors: np.ndarray, *, exact_max: int = EXACT_INDEX_MAX, seed: int = 0):
    """A faiss inner-product index over ``vectors`` (rows L2-normalized).

    Exact (``IndexFlatIP``) up to ``exact_max`` rows; above, an inverted-file index with
    float16 scalar quantization (``nlist ≈ √n`` lists, k-means trained on ``40·nlist`` rows
    sampled with ``seed``), searched with :data:`IVF_NPROBE` lists.
    """
    import faiss

    n, dim = vectors.shape
    if n <= exact_max:
        index = faiss.IndexFlatIP(dim)
    else:
        nlist = int(min(65536, max(16, math.sqrt(n))))
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, dim, nlist, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
        )
        rng = np.random.default_rng(seed)
        sample = np.sort(rng.choice(n, size=min(n, 40 * nlist), replace=False))
        index.train(np.asarray(vectors[sample], np.float32))
        index.nprobe = IVF_NPROBE
    for start in range(0, n, 65536):
        index.add(np.asarray(vectors[start : start + 65536], np.float32))
    return index


def _write_indexes(
    directory: Path, encoder_names: Sequence[str], exact_max: int
) -> tuple[list[str], dict[str, str]]:
    import faiss

    names, kinds = [], {}
    for name in encoder_names:
        vectors = np.load(directory / f"emb.{name}.npy", mmap_mode="r")
        index = build_index(vectors, exact_max=exact_max)
        with atomic_path(directory / f"index.{name}.faiss") as tmp:
            faiss.write_index(index, str(tmp))
        names.append(f"index.{name}.faiss")
        kinds[name] = "flat" if isinstance(index, faiss.IndexFlatIP) else "ivf"
    return names, kinds


def _finalize(
    directory: Path, manifest: dict[str, Any], sources: Sequence[Path], exact_max: int
) -> dict[str, Any]:
    encoder_names = sorted(manifest["encoders"])
    names = _consolidate(sources, directory, encoder_names)
    _sort_by_ordinal(directory, encoder_names)
    index_names, kinds = _write_indexes(directory, encoder_names, exact_max)
    entries = pq.read_metadata(directory / ENTRIES).num_rows
    failed = pq.read_metadata(directory / FAILURES).num_rows
    manifest.update(
        status="complete",
        counts={"entries": entries, "failed": failed, "input": entries + failed},
        index=kinds,
        files=_file_records(directory, names + index_names),
        finished=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    manifest.pop("parts", None)
    _write_json(directory / MANIFEST, manifest)
    return manifest


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def _new_manifest(
    predictor: Predictor,
    encoders: Sequence[Encoder],
    shard: Shard,
    part_size: int,
    source: str,
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "status": "building",
        "nmrpeak_version": __version__,
        "predictor": predictor.identity.to_dict(),
        "encoders": {e.identity.name: {**e.identity.to_dict(), "dim": e.dim} for e in encoders},
        "shard": {"index": shard.index, "count": shard.count},
        "part_size": part_size,
        "source": source,
        "parts": {},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _check_resume(manifest: Mapping[str, Any], fresh: Mapping[str, Any], where: Path) -> None:
    for key in ("predictor", "encoders", "shard", "part_size", "source"):
        if manifest.get(key) != fresh[key]:
            raise LibraryError(
                f"{where}: cannot resume: {key} was {manifest.get(key)!r} when the build "
                f"started, now {fresh[key]!r}; build into a new directory"
            )


def build_library(
    molecules: Iterable[tuple[str, str] | tuple[str, str | None, str | None]],
    out_dir: str | Path,
    predictor: Predictor,
    encoders: Sequence[Encoder] = (),
    *,
    shard: Shard | None = None,
    part_size: int = 4096,
    resume: bool = False,
    source: str = "",
    exact_index_max: int = EXACT_INDEX_MAX,
    on_progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Build a library directory from ``(id, smiles)`` pairs, streaming in bounded memory.

    Parameters
    ----------
    molecules
        ``(id, smiles)`` pairs of the *whole* input (the shard picks its own records), or
        ``(id, smiles, error)`` for records the reader could not read (kept as failures so
        that every shard counts the same ordinals).
    out_dir
        Library directory to create (must be absent or empty unless ``resume``).
    predictor
        Forward model giving each molecule its predicted peak lists.
    encoders
        Retriever encoders whose library-side embeddings are stored and indexed.
    shard
        This task's shard of a job array: records with ``ordinal % count == index``
        (default: the whole input).
    part_size
        Molecules per part (the unit of memory use and of resumption).
    resume
        Continue an interrupted build in ``out_dir``, skipping finished parts; the models,
        shard, part size and ``source`` must be the ones it started with.
    source
        Description of the input (file names), recorded and compared on resume.
    exact_index_max
        Largest library indexed exactly; bigger ones get an approximate index.
    on_progress
        Called with the number of input records of each finished part.

    Returns
    -------
    dict
        The final manifest.

    Raises
    ------
    LibraryError
        ``out_dir`` holds another build, or a resumed build does not match.
    """
    out = Path(out_dir)
    shard = shard or Shard()
    fresh = _new_manifest(predictor, encoders, shard, part_size, source)
    if (out / MANIFEST).is_file():
        if not resume:
            raise LibraryError(
                f"{out}: already holds a library; pass resume=True or a new directory"
            )
        manifest = json.loads((out / MANIFEST).read_text())
        _check_resume(manifest, fresh, out)
        if manifest.get("status") == "complete":
            return manifest
    else:
        if out.exists() and any(out.iterdir()):
            raise LibraryError(f"{out}: directory is not empty and holds no library manifest")
        out.mkdir(parents=True, exist_ok=True)
        manifest = fresh
        _write_json(out / MANIFEST, manifest)
    parts_dir = out / "parts"
    records = (
        LibraryInput(ordinal, str(item[0]), str(item[1] or ""), *item[2:])
        for ordinal, item in enumerate(molecules)
        if ordinal % shard.count == shard.index
    )
    part_dirs = []
    for number, chunk in enumerate(batched(records, part_size)):
        key = f"part-{number:05d}"
        part_dir = parts_dir / key
        part_dirs.append(part_dir)
        done = manifest["parts"].get(key)
        if done is not None:
            try:
                verify_files(part_dir, done["files"], checksums=False)
            except LibraryError:
                done = None
        if done is None or done.get("first_ordinal") != chunk[0].ordinal:
            manifest["parts"][key] = _build_part(chunk, part_dir, predictor, encoders)
            _write_json(out / MANIFEST, manifest)
        if on_progress is not None:
            on_progress(len(chunk))
    if not part_dirs:  # empty input: one empty part keeps the file set uniform
        part_dirs.append(parts_dir / "part-00000")
        _build_part([], part_dirs[0], predictor, encoders)
    manifest = _finalize(out, manifest, part_dirs, exact_index_max)
    shutil.rmtree(parts_dir)
    return manifest


def merge_libraries(
    directories: Sequence[str | Path],
    out_dir: str | Path,
    *,
    exact_index_max: int = EXACT_INDEX_MAX,
) -> dict[str, Any]:
    """Join the shards of a job array into one library, in input order.

    Every shard must be complete and intact, built with the same models, part size and
    input, and together they must be exactly shards ``0..n-1`` of ``n``.

    Raises
    ------
    LibraryError
        A shard is missing, duplicated, incomplete, corrupt or built differently.
    """
    if not directories:
        raise LibraryError("no library shards given to merge")
    out = Path(out_dir)
    manifests = []
    for directory in map(Path, directories):
        manifest = read_manifest(directory)
        if manifest.get("status") != "complete":
            raise LibraryError(
                f"{directory}: shard build is not finished (status {manifest.get('status')!r})"
            )
        verify_files(directory, manifest["files"], checksums=True)
        manifests.append(manifest)
    first = manifests[0]
    for directory, manifest in zip(directories, manifests, strict=True):
        for key in ("predictor", "encoders", "part_size", "source"):
            if manifest.get(key) != first.get(key):
                raise LibraryError(
                    f"{directory}: {key} {manifest.get(key)!r} differs from {directories[0]}'s "
                    f"{first.get(key)!r}; shards must come from one build"
                )
    counts = {m["shard"]["count"] for m in manifests}
    if len(counts) != 1:
        raise LibraryError(f"shards come from job arrays of different sizes: {sorted(counts)}")
    count = counts.pop()
    seen: dict[int, Path] = {}
    for directory, manifest in zip(map(Path, directories), manifests, strict=True):
        index = manifest["shard"]["index"]
        if index in seen:
            raise LibraryError(f"shard {index}/{count} given twice: {seen[index]} and {directory}")
        seen[index] = directory
    missing = sorted(set(range(count)) - set(seen))
    if missing:
        raise LibraryError(
            f"{len(missing)} of {count} shards missing: {', '.join(f'{i}/{count}' for i in missing[:10])}"
        )
    if out.exists() and any(out.iterdir()):
        raise LibraryError(f"{out}: output directory is not empty")
    out.mkdir(parents=True, exist_ok=True)
    manifest = {
        key: first[key]
        for key in (
            "format",
            "format_version",
            "nmrpeak_version",
            "predictor",
            "encoders",
            "part_size",
            "source",
        )
    }
    manifest.update(
        shard={"index": 0, "count": 1},
        merged_from=[str(seen[i]) for i in range(count)],
        created=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    return _finalize(out, manifest, [seen[i] for i in range(count)], exact_index_max)


def embed_library(
    directory: str | Path,
    encoders: Sequence[Encoder],
    *,
    batch_size: int = 4096,
    exact_index_max: int = EXACT_INDEX_MAX,
) -> dict[str, Any]:
    """(Re)compute the embeddings and indexes of a finished library with ``encoders``.

    Predictions are kept, so new or retrained encoders do not need the slow prediction step
    again. Encoders not given are left as they are; the manifest records the new versions
    and checksums.
    """
    path = Path(directory)
    manifest = read_manifest(path)
    if manifest.get("status") != "complete":
        raise LibraryError(f"{path}: library build is not finished; resume it first")
    verify_files(path, manifest["files"], checksums=True)
    entries = pq.ParquetFile(path / ENTRIES)
    n = entries.metadata.num_rows
    names = []
    for encoder in encoders:
        name = encoder.identity.name
        with atomic_path(path / f"emb.{name}.npy") as temporary:
            target = np.lib.format.open_memmap(
                temporary, mode="w+", dtype=np.float16, shape=(n, encoder.dim)
            )
            position = 0
            for batch in entries.iter_batches(batch_size, columns=["id", "smiles", "c13", "h1"]):
                rows = batch.to_pylist()
                spectra = [prediction_to_spectrum(r) for r in rows]
                vectors = encoder.embed_entries([r["smiles"] for r in rows], spectra)
                target[position : position + len(rows)] = vectors
                position += len(rows)
            target.flush()
            del target
        manifest["encoders"][name] = {**encoder.identity.to_dict(), "dim": encoder.dim}
        names.append(f"emb.{name}.npy")
    index_names, kinds = _write_indexes(path, [e.identity.name for e in encoders], exact_index_max)
    manifest["index"] = {**manifest.get("index", {}), **kinds}
    manifest["files"] = {**manifest["files"], **_file_records(path, names + index_names)}
    _write_json(path / MANIFEST, manifest)
    return manifest
