"""File helpers of the data pipeline: atomic Parquet writes (checksums: ``paths.file_sha256``)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from nmrpeak_cli.paths import atomic_path


def write_parquet(table: pa.Table, path: Path) -> Path:
    """Write ``table`` to ``path`` atomically (a unique temporary file, then a rename), so a
    concurrent reader or writer never sees a partial file."""
    with atomic_path(path) as partial:
        pq.write_table(table, partial, compression="zstd")
    return path
