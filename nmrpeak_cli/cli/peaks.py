"""``nmrpeak peaks RAW... [-o OUT]``: raw instrument data → query table."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from nmrpeak_cli.cli.common import (
    ExitCode,
    JobsOption,
    OutOption,
    ShardOption,
    fail,
    progress_bar,
    run_context,
)


def _render_table(rows: list[dict]) -> None:
    """Rows as a terminal table: peaks in journal style."""
    from rich.table import Table

    from nmrpeak_cli.cli.common import stdout_console
    from nmrpeak_cli.io import format_peaks
    from nmrpeak_cli.schema import row_to_spectrum

    table = Table(show_lines=True)
    for column in ("id", "solvent", "MHz", "13C", "1H"):
        table.add_column(column, overflow="fold")
    for row in rows:
        if row["error"]:
            table.add_row(row["id"], "", "", f"[red]{row['error']}[/red]", "")
            continue
        spectrum = row_to_spectrum(row)
        table.add_row(
            spectrum.id,
            spectrum.solvent or "",
            f"{spectrum.field_mhz:.0f}" if spectrum.field_mhz else "",
            ", ".join(f"{s:.1f}" for s in spectrum.c13.shifts) if spectrum.c13 else "",
            format_peaks(spectrum.h1) if spectrum.h1 else "",
        )
    stdout_console().print(table)


def register(app: typer.Typer) -> None:
    """Add the ``peaks`` command to ``app``."""
    app.command("peaks")(peaks)


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
    jobs: JobsOption = 1,
    shard: ShardOption = None,
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

    Experiments skipped (DEPT, 2D, other nuclei, duplicates) and failures are listed on
    stderr; failures also become rows with an [bold]error[/bold]. Exit code 1 when any failed.
    """
    from dataclasses import replace

    from rich.markup import escape

    from nmrpeak_cli.cli.common import stderr_console
    from nmrpeak_cli.io import write_table
    from nmrpeak_cli.processing.peaks import peaks_from_folders
    from nmrpeak_cli.processing.pipeline import ProcessingOptions
    from nmrpeak_cli.schema import QUERY_SCHEMA, rows_to_table

    context = replace(run_context(ctx), jobs=jobs)
    from nmrpeak_cli.batch import resolve_shard

    try:
        selected = resolve_shard(shard)
        options = ProcessingOptions(
            min_snr_c13=min_snr_c13, min_snr_h1=min_snr_h1, reference=reference
        )
    except ValueError as exc:
        raise fail(str(exc)) from None
    with progress_bar(context, "experiments") as advance:
        report = peaks_from_folders(
            raw,
            options,
            reprocess=reprocess,
            jobs=context.jobs,
            plot_dir=plot,
            shard=selected,
            on_result=advance,
        )
    console = stderr_console()
    for item in report.skipped:
        text = item.reason if item.reason.startswith(item.path) else f"{item.path}: {item.reason}"
        console.print(f"[yellow]skipped[/] {escape(text)}", soft_wrap=True)
    if not report.rows:
        console.print("[bold red]error:[/] no usable 1D 13C/1H experiment found")
        raise typer.Exit(int(ExitCode.USAGE))
    if output is None and sys.stdout.isatty():
        _render_table(report.rows)
    else:
        write_table(rows_to_table(report.rows, QUERY_SCHEMA), output or "-", QUERY_SCHEMA)
    if not context.quiet:
        console.print(
            f"{len(report.rows) - report.failed} samples, {report.failed} failed, "
            f"{len(report.skipped)} experiments skipped"
        )
    if report.failed:
        raise typer.Exit(int(ExitCode.PARTIAL))
