"""Large inputs stream: batches are read lazily, never the whole file."""

from __future__ import annotations

from itertools import islice
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from nmrpeak_cli.io import RecordError, read_spectra
from nmrpeak_cli.spectra import Spectrum

ROWS = 200_000
PEAKS = 12


def large_parquet(path: Path) -> Path:
    rng = np.random.default_rng(0)
    shifts = rng.uniform(0, 200, ROWS * PEAKS)
    offsets = np.arange(0, ROWS * PEAKS + 1, PEAKS, dtype=np.int32)
    c13 = pa.ListArray.from_arrays(pa.array(offsets), pa.array(shifts))
    ids = pa.array([f"m{i}" for i in range(ROWS)])
    pq.write_table(pa.table({"id": ids, "c13": c13}), path, row_group_size=10_000)
    return path


def test_200k_row_parquet_is_read_in_bounded_batches(tmp_path: Path) -> None:
    path = large_parquet(tmp_path / "large.parquet")
    uncompressed = ROWS * PEAKS * 8
    before = pa.total_allocated_bytes()
    batches = read_spectra(path, batch_size=500)
    first = list(islice(batches, 4))
    held = pa.total_allocated_bytes() - before
    assert [len(b) for b in first] == [500] * 4, "batches of the requested size"
    assert all(isinstance(s, Spectrum) and len(s.c13) == PEAKS for b in first for s in b)
    assert [s.id for s in first[3][-2:]] == ["m1998", "m1999"], "rows in file order"
    assert held < uncompressed / 4, f"Arrow holds {held} bytes; the file is {uncompressed} raw"
    assert not any(isinstance(s, RecordError) for b in first for s in b), "all rows valid"
    batches.close()  # the rest of the file is never converted
