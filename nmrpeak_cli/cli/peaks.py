"""``nmrpeak peaks RAW... [-o OUT]``: raw instrument data → query table, one row per sample.

Samples are the records of the shared batch runner (:func:`nmrpeak_cli.cli.runner.run_batch`):
streamed from the folder walk, processed by :class:`~nmrpeak_cli.processing.peaks.PeakBatch`
in this process, worker processes or on Dask, written batch by batch.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from nmrpeak_cli.cli.common import fail, run_context
from nmrpeak_cli.cli.options import BatchFlags, OutOption, option_groups
from nmrpeak_cli.cli.runner import batch_options, exit_for, run_batch

if TYPE_CHECKING:
    from nmrpeak_cli.io.raw.walk import Skipped


class _SkipLog:
    """Prints what was not used on stderr and counts the samples that gave peaks.

    It is the walker's ``on_skip`` and run_batch's ``failed`` predicate: run_batch calls the
    latter in this process with the rows of every finished sample, so the experiments a
    worker skipped (:data:`~nmrpeak_cli.processing.peaks.SKIPPED_KEY`) are printed here even
    when the worker ran in another process or on another machine.
    """

    def __init__(self) -> None:
        self.count = 0
        self.usable = 0

    def skip(self, item: Skipped) -> None:
        """Print one skipped input or experiment with its reason."""
        from rich.markup import escape

        from nmrpeak_cli.cli.common import stderr_console

        self.count += 1
        text = item.reason if item.reason.startswith(item.path) else f"{item.path}: {item.reason}"
        stderr_console().print(f"[yellow]skipped[/] {escape(text)}", soft_wrap=True)

    def __call__(self, rows: list[dict[str, Any]]) -> bool:
        """Log the sample's skipped experiments; whether the sample failed (a row has an error)."""
        from nmrpeak_cli.processing.peaks import SKIPPED_KEY

        for row in rows:
            for item in row.get(SKIPPED_KEY, ()):
                self.skip(item)
        self.usable += any(not row.get("error") for row in rows)
        return any(row.get("error") for row in rows)


def render_table(rows: list[dict]) -> None:
    """Rows as a terminal table: peaks in journal style (1H to 0.01 ppm, 13C to 0.1 ppm, whole
    proton counts); file outputs keep full precision."""
    from rich.markup import escape
    from rich.table import Table

    from nmrpeak_cli.cli.common import stdout_console
    from nmrpeak_cli.io import format_peaks
    from nmrpeak_cli.schema import row_to_spectrum

    table = Table(show_lines=True)
    flagged = any(row.get("quality") for row in rows)
    for column in ("id", "solvent", "MHz", "13C", "1H", *(("quality",) if flagged else ())):
        table.add_column(column, overflow="fold")
    for row in rows:
        if row["error"]:
            table.add_row(row["id"], "", "", f"[red]{escape(row['error'])}[/red]", "")
            continue
        spectrum = row_to_spectrum(row)
        quality = (f"[yellow]{escape(row['quality'])}[/yellow]",) if row.get("quality") else ()
        table.add_row(
            spectrum.id,
            spectrum.solvent or "",
            f"{spectrum.field_mhz:.0f}" if spectrum.field_mhz else "",
            format_peaks(spectrum.c13, journal=True) if spectrum.c13 else "",
            format_peaks(spectrum.h1, journal=True) if spectrum.h1 else "",
            *quality,
        )
    stdout_console().print(table)


def register(app: typer.Typer) -> None:
    """Add the ``peaks`` command to ``app``."""
    app.command("peaks")(peaks)


@option_groups
def peaks(
    ctx: typer.Context,
    raw: Annotated[
        list[Path],
        typer.Argument(
            help="Bruker experiment/sample folders, Varian .fid folders, JCAMP-DX or NMRPipe "
            "files, or folders holding them (walked recursively).",
            metavar="RAW...",
        ),
    ],
    output: OutOption = None,
    batch: BatchFlags = BatchFlags(),
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Samples per batch (one output part each).")
    ] = 16,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write one PNG per experiment to this folder.")
    ] = None,
    reprocess: Annotated[
        bool,
        typer.Option("--reprocess", help="Bruker: process the FID even when pdata/1/1r exists."),
    ] = False,
    min_snr_c13: Annotated[float, typer.Option(help="13C peak threshold (S/N).")] = 8.0,
    min_snr_h1: Annotated[float, typer.Option(help="1H line threshold (S/N).")] = 8.0,
    reference: Annotated[
        str,
        typer.Option(
            help="Shift referencing: auto (TMS or a distinctive solvent pattern), tms, solvent "
            "(singlet residuals too), none (keep the instrument's axis)."
        ),
    ] = "auto",
) -> None:
    """Process raw 1D 13C/1H data into peak lists: one query-table row per sample.

    Samples are streamed from the folder walk; each finished batch of a file output is saved
    at once, so a killed run continues with [bold]--resume[/bold] (a sample whose files changed
    is processed again). DEPT-135/90 experiments label the 13C peaks C/CH/CH2/CH3 (the
    [bold]quality[/bold] column says when they could not). Experiments skipped (APT, 2D,
    other nuclei, duplicates) and failures
    are listed on stderr; failures also become rows with an [bold]error[/bold] (exit code 1),
    as does a sample with no usable experiment. Exit code 2 when no sample gave peaks.

    [bold]Examples[/bold]: nmrpeak peaks data/raw -o queries.parquet ·
    nmrpeak peaks data/raw -o part.parquet --shard $SLURM_ARRAY_TASK_ID/100 --jobs 0 --resume
    """
    from dataclasses import asdict

    from nmrpeak_cli.cli.common import stderr_console
    from nmrpeak_cli.io.raw.walk import iter_samples
    from nmrpeak_cli.outputs import record_key
    from nmrpeak_cli.processing.peaks import PeakBatch, input_state
    from nmrpeak_cli.processing.types import ProcessingOptions
    from nmrpeak_cli.schema import PEAKS_SCHEMA

    options = batch_options(batch, output=output, batch_size=batch_size)
    try:
        processing = ProcessingOptions(
            min_snr_c13=min_snr_c13, min_snr_h1=min_snr_h1, reference=reference
        )
        if plot is not None:
            plot.mkdir(parents=True, exist_ok=True)
    except (ValueError, OSError) as exc:
        raise fail(str(exc)) from None
    context = run_context(ctx)
    log = _SkipLog()
    summary = run_batch(
        context,
        iter_samples(raw, on_skip=log.skip),
        PeakBatch(processing, reprocess, None if plot is None else str(plot)),
        key=lambda sample: record_key(sample.id, input_state(sample)),
        schema=PEAKS_SCHEMA,
        options=options,
        digest={"processing": asdict(processing), "reprocess": reprocess, "schema": "peaks"},
        render=render_table,
        description="samples",
        failed=log,
    )
    if log.count and not context.quiet:
        stderr_console().print(f"{log.count} inputs or experiments skipped (listed above).")
    if summary.failed and not summary.skipped and not log.usable:
        raise fail("no usable 1D 13C/1H experiment found")
    exit_for(summary, "raw 1D experiments found")
