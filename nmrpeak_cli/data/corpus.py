"""Reading the prepared molecule tables and a simulated corpus folder.

These readers sit below the retriever and the generator, which both train on them
(:mod:`nmrpeak_cli.retrieve.train`, :mod:`nmrpeak_cli.generate.pairs`); writing a corpus
needs the forward model and lives in :mod:`nmrpeak_cli.generate.corpus`.
"""

from __future__ import annotations

import json
from pathlib import Path

from nmrpeak_cli.errors import InputFileError

MANIFEST = "corpus.json"
"""What made a corpus folder: split, experimental table, forward model, parts."""


def read_smiles(
    path: str | Path, *, split_column: str | None = None, split: str = "train"
) -> list[str]:
    """The ``smiles`` column of a Parquet table (only rows of ``split`` when given)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"molecule table {path} not found; run `nmrpeak data prepare` first")
    columns = ["smiles", *([split_column] if split_column else [])]
    table = pq.read_table(path, columns=columns)
    if split_column:
        table = table.filter(pc.equal(table[split_column], split))
    return [s for s in table.column("smiles").to_pylist() if s]


def read_manifest(out_dir: str | Path) -> dict | None:
    """The ``corpus.json`` of a corpus folder, or ``None`` for a folder made before manifests."""
    path = Path(out_dir) / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else None


def read_corpus(out_dir: str | Path) -> list[Path]:
    """The parts of a corpus folder, in order."""
    parts = sorted(Path(out_dir).glob("part-*.parquet"))
    if not parts:
        raise InputFileError(f"no corpus parts (part-*.parquet) in {out_dir}")
    return parts
