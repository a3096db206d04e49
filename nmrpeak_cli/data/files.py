"""File helpers of the data pipeline: atomic Parquet writes (checksums: ``paths.file_sha256``)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from nmrpeak_cli.paths import publish


def write_parquet(table: pa.Table, path: Path) -> Path:
    """Write ``table`` to ``path`` atomically (a unique temporary file, then a rename), so a
    concurrent reader or writer never sees a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as handle:
        partial = Path(handle.name)
    try:
        pq.write_table(table, partial, compression="zstd")
        publish(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path
