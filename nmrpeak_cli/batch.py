"""Sharding and ordered parallel map: the pieces every batch command shares.

joblib is used only here (:func:`parallel_map`), so the rest of the code never imports it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from nmrpeak_cli.outputs import BatchSummary

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Shard:
    """One shard of a job array: records ``i`` with ``i % count == index`` (0-based index)."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"shard count must be at least 1, got {self.count}")
        if not 0 <= self.index < self.count:
            raise ValueError(
                f"shard index {self.index} is out of range for {self.count} shards "
                f"(expected 0 to {self.count - 1})"
            )

    @classmethod
    def parse(cls, text: str) -> Shard:
        """Parse ``"I/N"`` (0-based ``I``), e.g. ``"3/16"``."""
        parts = str(text).split("/")
        if len(parts) != 2 or not all(p.strip().lstrip("-").isdigit() for p in parts):
            raise ValueError(f"--shard expects I/N with integers, e.g. 0/8; got {text!r}")
        return cls(int(parts[0]), int(parts[1]))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Shard:
        """Shard from ``SLURM_ARRAY_TASK_ID``/``SLURM_ARRAY_TASK_COUNT`` (offset by
        ``SLURM_ARRAY_TASK_MIN`` when set), or the whole input when they are absent."""
        env = os.environ if environ is None else environ
        if "SLURM_ARRAY_TASK_ID" not in env or "SLURM_ARRAY_TASK_COUNT" not in env:
            return cls()
        task = int(env["SLURM_ARRAY_TASK_ID"]) - int(env.get("SLURM_ARRAY_TASK_MIN", "0"))
        return cls(task, int(env["SLURM_ARRAY_TASK_COUNT"]))

    def select(self, items: Iterable[T]) -> Iterator[T]:
        """Yield the items of this shard, in order."""
        if self.count == 1:
            yield from items
            return
        for i, item in enumerate(items):
            if i % self.count == self.index:
                yield item

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def resolve_shard(text: str | None) -> Shard:
    """``--shard`` value if given, else the SLURM job-array environment, else everything."""
    return Shard.parse(text) if text else Shard.from_env()


def parallel_map(
    function: Callable[[T], R],
    items: Iterable[T],
    *,
    jobs: int = 1,
    chunk_size: int = 64,
    on_result: Callable[[int], None] | None = None,
    scheduler: str | None = None,
) -> Iterator[R]:
    """Apply ``function`` to ``items`` in order, in ``jobs`` worker processes or on Dask.

    Results are yielded in input order as they become available, so memory stays bounded
    by the number of items in flight. ``on_result(n)`` is called after each ``n`` results
    (for progress bars). With ``jobs == 1`` and no scheduler nothing is spawned.

    Parameters
    ----------
    scheduler
        Address of a Dask scheduler (``tcp://host:8786``): run on that cluster through
        joblib's Dask backend (needs the ``dask`` extra). ``jobs`` then bounds the tasks in
        flight.
    """
    if jobs <= 1 and scheduler is None:
        for item in items:
            result = function(item)
            if on_result:
                on_result(1)
            yield result
        return
    from contextlib import ExitStack

    from joblib import Parallel, delayed, parallel_config

    with ExitStack() as stack:
        if scheduler is not None:
            try:
                from dask.distributed import Client
            except ImportError:
                raise ValueError(
                    "--scheduler needs Dask: pip install 'nmrpeak-cli[dask]'"
                ) from None
            stack.enter_context(Client(scheduler))
            stack.enter_context(parallel_config(backend="dask"))
        runner = Parallel(
            n_jobs=max(jobs, 1) if scheduler is None else -1,
            return_as="generator",
            batch_size=chunk_size,
            pre_dispatch=f"{4 * max(jobs, 1)}",
        )
        for result in runner(delayed(function)(item) for item in items):
            if on_result:
                on_result(1)
            yield result


class RowSink(Protocol):
    """Where a batch run writes rows (see :mod:`nmrpeak_cli.outputs`)."""

    def keep(self, key: str) -> None:
        """Record ``key`` is skipped because its rows exist (``--resume``): keep them."""

    def write(self, rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> None:
        """Write the rows of one finished batch; ``keys[i]`` is the record key of row ``i``."""

    def finish(self) -> None:
        """Complete the output after the last batch."""

    def abort(self) -> None:
        """Called when the run stops on an exception."""


def run_records(
    records: Iterable[T],
    process: Callable[[list[T]], list[list[dict[str, Any]]]],
    sink: RowSink,
    *,
    key: Callable[[T], str],
    done: set[str] | frozenset[str] = frozenset(),
    batch_size: int = 256,
    jobs: int = 1,
    scheduler: str | None = None,
    on_records: Callable[[int], None] | None = None,
    failed: Callable[[list[dict[str, Any]]], bool] | None = None,
) -> BatchSummary:
    """The batch engine: stream records in batches through ``process`` into ``sink``.

    Parameters
    ----------
    records
        Input records, consumed lazily (bounded memory).
    process
        ``batch -> rows per record``: for each record of the batch, its output rows (a row
        with a non-null ``error`` marks the record failed). Must be picklable for ``jobs > 1``.
    sink
        Output; one ``write`` per finished batch, ``finish`` at the end, ``abort`` on error.
    key
        Record key (id + input hash, :func:`nmrpeak_cli.outputs.record_key`).
    done
        Keys to skip (results already exist: ``--resume``).
    jobs
        Worker processes; batches keep their input order.
    scheduler
        Dask scheduler address: run the batches on a Dask cluster instead.
    on_records
        Progress callback, called with the number of records finished (skipped included).
    failed
        Whether a record's rows mean it failed; default: any row has a non-null ``error``.
    """
    from nmrpeak_cli.outputs import BatchSummary

    skipped = 0

    def keyed_batches() -> Iterator[tuple[list[T], list[str]]]:
        nonlocal skipped
        batch: list[T] = []
        keys: list[str] = []
        for record in records:
            record_key = key(record)
            if record_key in done:
                sink.keep(record_key)
                skipped += 1
                if on_records:
                    on_records(1)
                continue
            batch.append(record)
            keys.append(record_key)
            if len(batch) >= batch_size:
                yield batch, keys
                batch, keys = [], []
        if batch:
            yield batch, keys

    pending_keys: list[list[str]] = []

    def batches() -> Iterator[list[T]]:
        for batch, keys in keyed_batches():
            pending_keys.append(keys)
            yield batch

    def any_error(record_rows: list[dict[str, Any]]) -> bool:
        return any(row.get("error") for row in record_rows)

    is_failed = failed or any_error
    succeeded = n_failed = 0
    try:
        for results in parallel_map(
            process, batches(), jobs=jobs, chunk_size=1, scheduler=scheduler
        ):
            keys = pending_keys.pop(0)
            if len(results) != len(keys):
                raise RuntimeError(
                    f"process returned {len(results)} results for {len(keys)} records"
                )
            rows = [row for record_rows in results for row in record_rows]
            row_keys = [
                k for k, record_rows in zip(keys, results, strict=True) for _ in record_rows
            ]
            sink.write(rows, row_keys)
            bad = sum(is_failed(record_rows) for record_rows in results)
            n_failed += bad
            succeeded += len(results) - bad
            if on_records:
                on_records(len(results))
    except BaseException:
        sink.abort()
        raise
    sink.finish()
    return BatchSummary(succeeded, n_failed, skipped)
