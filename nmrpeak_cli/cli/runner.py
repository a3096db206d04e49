"""One way for every batch command to run: options → sink → engine → progress → summary → exit.

A command builds its records (already parsed, possibly with per-record errors), a picklable
``process(batch) -> rows per record`` and a record ``key``; :func:`run_batch` does the rest:

* the output: a terminal table (:class:`~nmrpeak_cli.outputs.CollectOutput`) when stdout is a
  terminal and no ``-o`` is given, JSONL on a pipe or ``-o -``
  (:class:`~nmrpeak_cli.outputs.StreamOutput`), and for files a
  :class:`~nmrpeak_cli.outputs.ResumableOutput` (atomic parts, ``--resume``);
* the job-array shard (``--shard`` or SLURM), worker processes (``--jobs``) or a Dask
  cluster (``--backend dask --scheduler``) through :func:`~nmrpeak_cli.batch.run_records`;
* a progress bar with rate and ETA on stderr, a done/failed/skipped summary, and the exit code
  (0 all done, 1 some records failed, 2 usage error).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sized
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from nmrpeak_cli.batch import Shard, resolve_shard, run_records
from nmrpeak_cli.cli.common import ExitCode, fail, progress_bar, stderr_console
from nmrpeak_cli.context import RunContext
from nmrpeak_cli.errors import NmrpeakError

if TYPE_CHECKING:
    import pyarrow as pa

    from nmrpeak_cli.cli.options import BatchFlags
    from nmrpeak_cli.outputs import BatchSummary

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class BatchOptions:
    """Validated batch options of one command invocation.

    Attributes
    ----------
    output
        ``None`` (terminal table, or JSONL on a pipe), ``"-"`` (JSONL on stdout) or a file.
    resume
        Skip records already in ``output``.
    shard
        Job-array shard.
    jobs
        Worker processes (``--jobs``; 0 was resolved to the core count).
    scheduler
        Dask scheduler address, or ``None`` for the local backend.
    batch_size
        Records per batch (one atomic output part per batch).
    """

    output: str | None
    resume: bool
    shard: Shard
    jobs: int
    scheduler: str | None
    batch_size: int

    @property
    def terminal(self) -> bool:
        """Rows go to a terminal table rather than a file or stream."""
        return self.output is None and sys.stdout.isatty()


def batch_options(flags: BatchFlags, *, output: str | None, batch_size: int) -> BatchOptions:
    """Check a command's batch options (``-o``, ``--batch-size`` and its :class:`BatchFlags`);
    a bad combination raises the usage-error exit."""
    try:
        selected = resolve_shard(flags.shard)
    except ValueError as exc:
        raise fail(str(exc)) from None
    backend, scheduler = flags.backend, flags.scheduler
    if backend not in {"local", "dask"}:
        raise fail(f"--backend must be local or dask, got {backend!r}")
    if scheduler is not None and backend == "local":
        backend = "dask"
    if backend == "dask":
        scheduler = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")
        if not scheduler:
            raise fail("--backend dask needs --scheduler ADDRESS (or DASK_SCHEDULER_ADDRESS)")
    if flags.resume and (output is None or output == "-"):
        raise fail("--resume needs an output file (-o OUT)")
    if batch_size < 1:
        raise fail(f"--batch-size must be at least 1, got {batch_size}")
    jobs = RunContext(jobs=flags.jobs).jobs
    return BatchOptions(output, flags.resume, selected, jobs, scheduler, batch_size)


def options_digest(options: Mapping[str, Any]) -> str:
    """Digest of the options that shape the rows (model versions, k, ...), for ``--resume``."""
    payload = json.dumps(dict(options), sort_keys=True, default=str).encode()
    return hashlib.blake2b(payload, digest_size=8).hexdigest()


def run_batch(
    context: RunContext,
    records: Iterable[T],
    process: Callable[[list[T]], list[list[dict[str, Any]]]],
    *,
    key: Callable[[T], str],
    schema: pa.Schema,
    options: BatchOptions,
    digest: Mapping[str, Any],
    render: Callable[[list[dict[str, Any]]], None],
    description: str = "records",
    jobs: int | None = None,
    failed: Callable[[list[dict[str, Any]]], bool] | None = None,
) -> BatchSummary:
    """Run ``process`` over the shard's records into the chosen output; returns the summary.

    Parameters
    ----------
    records
        All input records (the shard is selected here), consumed lazily.
    process
        ``batch -> rows per record`` (picklable when ``jobs > 1`` or on Dask).
    key
        Record key, id + content hash (:func:`nmrpeak_cli.outputs.record_key`).
    digest
        Options that shape the rows; a ``--resume`` with other options is refused.
    render
        Terminal table of the rows, used when stdout is a terminal and no ``-o`` is given.
    jobs
        Worker processes for this command (default ``options.jobs``; model commands on a GPU
        pass 1: one GPU worker with batching).
    failed
        Whether a record's rows mean it failed (default: any row has an ``error``).
    """
    from nmrpeak_cli.outputs import CollectOutput, ResumableOutput, StreamOutput

    collected: CollectOutput | None = None
    sink: Any
    try:
        if options.terminal:
            collected = CollectOutput()
            sink = collected
        elif options.output is None or options.output == "-":
            sink = StreamOutput("-", schema)
        else:
            sink = ResumableOutput(
                options.output,
                schema,
                resume=options.resume,
                run_digest=options_digest(digest),
                shard=str(options.shard) if options.shard.count > 1 else None,
            )
        done = sink.done_keys() if options.resume else frozenset()
        total = len(records) if isinstance(records, Sized) else None
        quiet = total is not None and total <= 1  # an inline query: no bar
        with progress_bar(replace(context, quiet=context.quiet or quiet), description) as advance:
            summary = run_records(
                options.shard.select(records),
                process,
                sink,
                key=key,
                done=done,
                batch_size=options.batch_size,
                jobs=options.jobs if jobs is None else jobs,
                scheduler=options.scheduler,
                on_records=advance,
                failed=failed,
            )
    except (NmrpeakError, ValueError) as exc:  # our messages name what they are about
        raise fail(str(exc)) from None
    except OSError as exc:  # unwritable output, disk full: name the output
        where = exc.filename or options.output or "output"
        raise fail(f"{where}: {exc.strerror or exc}") from None
    if collected is not None:
        render(collected.rows)
    report_summary(context, summary, options.output)
    return summary


def report_summary(context: RunContext, summary: BatchSummary, output: str | None) -> None:
    """Print ``done / failed / skipped`` on stderr (unless quiet)."""
    if context.quiet or summary.done + summary.failed + summary.skipped == 0:
        return
    parts = [f"{summary.done} done", f"{summary.failed} failed"]
    if summary.skipped:
        parts.append(f"{summary.skipped} skipped (already in {output}, --resume)")
    stderr_console().print(", ".join(parts) + ".")


def exit_for(summary: BatchSummary, what: str) -> None:
    """Raise the exit code the summary calls for: 2 when there was no input (``no {what}``),
    1 on failures."""
    if summary.done + summary.failed + summary.skipped == 0:
        raise fail(f"no {what}")
    if summary.failed:
        raise typer.Exit(int(ExitCode.PARTIAL))
