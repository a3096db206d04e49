"""Molecules of a search-seed library: a split's TRAINING molecules plus a seeded MOSES slice.

``nmrpeak data library-input`` writes them as a SMILES file (``SMILES id`` per line) that
``nmrpeak library build`` reads, with a JSON card beside it (seed, sources, counts, sha256,
command). Neither part ever holds a validation/test molecule of the split: MOSES rows are
dropped by InChIKey first block (:func:`~nmrpeak_cli.data.moses.exclude_leaks`) and the
written file is checked once more against the held-out molecules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nmrpeak_cli.errors import InputFileError, LeakageError

SPLITS = ("random", "scaffold")


@dataclass(frozen=True, slots=True)
class LibraryInput:
    """``(id, smiles)`` of each molecule, the held-out first InChIKey blocks and the sources."""

    molecules: list[tuple[str, str]]
    held_out: set[str]
    sources: list[dict[str, Any]] = field(default_factory=list)


def _read(path: Path, columns: list[str]):
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path, columns=columns)
    except (OSError, ValueError, KeyError) as exc:
        raise InputFileError(f"cannot read {path} (columns {columns}): {exc}") from None


def moses_source(data: Path, moses: Path | None = None):
    """The MOSES table (``id``, ``smiles``, ``inchikey``) and a record of where it came from:
    ``moses`` or ``DATA/simulated_molecules.parquet`` when it exists, else the ``molsets``
    wheel's cached table (:func:`~nmrpeak_cli.data.moses.moses_table`)."""
    from nmrpeak_cli.data.moses import moses_table, moses_wheel
    from nmrpeak_cli.paths import file_sha256

    path = Path(moses) if moses is not None else Path(data) / "simulated_molecules.parquet"
    if path.is_file():
        table = _read(path, ["id", "smiles", "inchikey"])
    elif moses is not None:
        raise InputFileError(f"MOSES table {moses} does not exist")
    else:
        path = moses_wheel()
        table = moses_table(path)
    return table, {"path": str(path), "sha256": file_sha256(path), "rows": table.num_rows}


def held_out_moses(data: Path, held_out: set[str], moses: Path | None = None):
    """:func:`moses_source` without any molecule whose first InChIKey block is in
    ``held_out`` (:func:`~nmrpeak_cli.data.moses.exclude_leaks`), and its record."""
    from nmrpeak_cli.data.moses import exclude_leaks

    table, record = moses_source(data, moses)
    kept = exclude_leaks(table, held_out)
    return kept, {**record, "excluded as held-out": table.num_rows - kept.num_rows}


def library_input(
    data: Path, split: str, n_moses: int, seed: int = 0, moses: Path | None = None
) -> LibraryInput:
    """Every TRAINING molecule of ``split`` in ``DATA/experimental.parquet`` (file order,
    deduplicated by InChIKey) and ``n_moses`` MOSES molecules drawn with ``seed``, none of
    them a validation/test molecule of the split (first InChIKey block) nor a duplicate."""
    import numpy as np

    from nmrpeak_cli.paths import file_sha256

    if split not in SPLITS:
        raise InputFileError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    experimental = Path(data) / "experimental.parquet"
    column = f"split_{split}"
    table = _read(experimental, ["smiles", "inchikey", column])
    labels = table.column(column).to_pylist()
    keys = table.column("inchikey").to_pylist()
    held_out = {k[:14] for k, lab in zip(keys, labels, strict=True) if lab in ("valid", "test")}
    seen: set[str] = set()
    molecules: list[tuple[str, str]] = []
    for smiles, key, lab in zip(table.column("smiles").to_pylist(), keys, labels, strict=True):
        if lab == "train" and key not in seen:
            seen.add(key)
            molecules.append((f"exp_{key}", smiles))
    sources: list[dict[str, Any]] = [
        {"path": str(experimental), "sha256": file_sha256(experimental),
         "selection": f"{column} == train", "molecules": len(molecules)},
    ]  # fmt: skip
    if n_moses > 0:
        pool, record = held_out_moses(data, held_out, moses)
        order = np.random.default_rng(seed).permutation(pool.num_rows)
        ids, smiles, pool_keys = (pool.column(c).to_pylist() for c in ("id", "smiles", "inchikey"))
        taken = 0
        blocks = {k[:14] for k in seen}
        for i in order:
            if taken == n_moses:
                break
            if pool_keys[i][:14] in blocks:
                continue  # a training molecule (or its stereoisomer) already in
            blocks.add(pool_keys[i][:14])
            molecules.append((ids[i], smiles[i]))
            taken += 1
        sources.append({**record, "seed": seed, "molecules": taken})
    return LibraryInput(molecules, held_out, sources)


def check_no_held_out(molecules: list[tuple[str, str]], held_out: set[str]) -> None:
    """Raise :class:`LeakageError` when a molecule's first InChIKey block is held out."""
    from nmrpeak_cli.data.splits import molecule_keys

    overlap = molecule_keys([s for _, s in molecules]) & held_out
    if overlap:
        raise LeakageError(
            f"{len(overlap)} validation/test molecules are in the library input "
            f"(InChIKey first blocks {sorted(overlap)[:3]}); nothing written"
        )


def write_library_input(
    made: LibraryInput, out: Path, *, split: str, seed: int, command: str
) -> dict[str, Any]:
    """Check ``made`` holds no held-out molecule, write ``out`` (``SMILES id`` lines) and its
    card ``out.json`` atomically, and return the card."""
    from nmrpeak_cli.paths import file_sha256, write_json_atomic, write_text_atomic

    check_no_held_out(made.molecules, made.held_out)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out, "".join(f"{smiles} {name}\n" for name, smiles in made.molecules))
    card = {
        "kind": "nmrpeak.library_input", "path": str(out), "sha256": file_sha256(out),
        "molecules": len(made.molecules), "split": split, "seed": seed,
        "held_out_excluded": "first InChIKey block of every valid/test molecule of the split",
        "sources": made.sources, "command": command,
    }  # fmt: skip
    write_json_atomic(out.with_suffix(out.suffix + ".json"), card)
    return card


__all__ = [
    "LibraryInput",
    "check_no_held_out",
    "held_out_moses",
    "library_input",
    "moses_source",
    "write_library_input",
]
