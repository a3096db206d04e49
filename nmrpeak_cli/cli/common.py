"""Helpers shared by the command modules: consoles, exit codes, progress, run context."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import IntEnum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from nmrpeak_cli.context import RunContext
from nmrpeak_cli.errors import NmrpeakError


class ExitCode(IntEnum):
    """Exit codes of every command (DESIGN.md §3)."""

    OK = 0
    PARTIAL = 1  #: some records failed; their rows carry ``error``
    USAGE = 2  #: usage error or unreadable input


def stderr_console() -> Console:
    """Console for logs and progress (stdout is for data)."""
    return Console(stderr=True, highlight=False)


def stdout_console() -> Console:
    """Console for tables rendered to a terminal."""
    return Console(highlight=False)


def run_context(ctx: typer.Context) -> RunContext:
    """The :class:`RunContext` the root callback stored (defaults when called directly)."""
    obj = ctx.find_root().obj
    return obj if isinstance(obj, RunContext) else RunContext()


def command_context(
    ctx: typer.Context, *, device: str | None = None, jobs: int | None = None
) -> RunContext:
    """The run context with this command's ``--device``/``--jobs`` resolved once (a concrete
    torch device, ``--jobs 0`` = every core); an unknown device is a usage error."""
    try:
        return run_context(ctx).with_options(device=device, jobs=jobs)
    except ValueError as exc:
        raise fail(str(exc)) from None


def fail(message: str, code: ExitCode = ExitCode.USAGE) -> typer.Exit:
    """Print a one-line error on stderr and return the :class:`typer.Exit` to raise."""
    stderr_console().print(f"[bold red]error:[/] {message}", soft_wrap=True)
    return typer.Exit(int(code))


def check_formula_policy(policy: str, policies: Sequence[str]) -> None:
    """A usage error (exit 2) unless ``--formula-policy`` is one of ``policies``."""
    if policy not in policies:
        raise fail(f"--formula-policy must be one of {', '.join(policies)}, got {policy!r}")


def forward_card(predictor_weights: Path | None) -> dict:
    """The forward model's card (``predictor_weights``, default: shipped); empty when it
    cannot be read: the run will say why."""
    from nmrpeak_cli.predict.weights import default_weights, read_card

    with contextlib.suppress(NmrpeakError):
        return read_card(predictor_weights or default_weights())
    return {}


def warn_split_leaks(split: str, cards: dict[str, dict]) -> list[str]:
    """Warn (stderr) about models trained on another split than the benchmark's ``split``:
    their training set may hold its test molecules. ``cards`` maps model names to cards;
    returns the warnings (also recorded in reports)."""
    if split not in {"scaffold", "random"}:
        return []
    warnings = []
    for name, card in cards.items():
        trained = card.get("split") or card.get("training", {}).get("split_column")
        if trained and trained.removeprefix("split_") != split:
            warnings.append(
                f"{name} was trained on {trained}: the {split}-split test molecules may be in "
                f"its training set (train one with --split {split} for a clean {split} benchmark)"
            )
    for warning in warnings:
        stderr_console().print(f"[yellow]warning:[/] {warning}", soft_wrap=True)
    return warnings


def show_progress(context: RunContext) -> bool:
    """Progress bars only on an interactive stderr and when not ``--quiet``."""
    return not context.quiet and sys.stderr.isatty()


class RateColumn(ProgressColumn):
    """Items per second (``12.3/s``)."""

    def render(self, task: Task) -> Text:
        """The task's current (or final) rate."""
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.1f}/s", style="progress.data.speed")


@contextmanager
def progress_bar(context: RunContext, description: str, total: int | None = None) -> Iterator:
    """A rich progress bar on stderr; yields ``advance(n)``. Silent when not shown."""
    if not show_progress(context):
        yield lambda n=1: None
        return
    progress = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr_console(),
        transient=False,
    )
    with progress:
        task = progress.add_task(description, total=total)
        yield lambda n=1: progress.advance(task, n)


def inline_query(
    c13: str | None,
    h1: str | None,
    formula: str | None,
    solvent: str | None,
    query_id: str = "query",
):
    """The :class:`~nmrpeak_cli.spectra.Spectrum` of ``--c13/--h1/--formula/--solvent``
    (blank peak options count as absent); raises :class:`~nmrpeak_cli.errors.SpectrumError`."""
    from nmrpeak_cli.io.text import parse_peaks
    from nmrpeak_cli.spectra import Nucleus, Spectrum

    return Spectrum(
        query_id,
        c13=parse_peaks(c13, Nucleus.C13) if c13 and c13.strip() else None,
        h1=parse_peaks(h1, Nucleus.H1) if h1 and h1.strip() else None,
        formula=formula,
        solvent=solvent,
    )


def report_dir(report: Path | None) -> Path | None:
    """The ``--report`` folder (created), or a usage error when reports cannot be drawn."""
    if report is None:
        return None
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise fail("--report needs matplotlib: pip install 'nmrpeak-cli[plot]'") from None
    try:
        report.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise fail(f"--report {report}: {exc}") from None
    return report.absolute()


def write_bench_report(report: Mapping[str, Any], markdown: str, output: Path | None) -> None:
    """Write a benchmark's report to ``output`` (:data:`~nmrpeak_cli.cli.options.BenchOutOption`),
    atomically: for ``.json`` the JSON report and its Markdown next to it (``.md``), for any
    other suffix the Markdown only; nothing without ``output`` (the caller prints it)."""
    from nmrpeak_cli.paths import write_json_atomic, write_text_atomic

    if output is None:
        return
    text = markdown if markdown.endswith("\n") else markdown + "\n"
    if output.suffix == ".json":
        write_json_atomic(output, report, default=str)
        write_text_atomic(output.with_suffix(".md"), text)
    else:
        write_text_atomic(output, text)


def score_bar(value: float | None, width: int = 5) -> str:
    """A score in [0, 1] as a bar and its value, e.g. ``███▌  0.754`` (blank for none)."""
    if value is None:
        return ""
    filled = max(0.0, min(1.0, float(value))) * width
    whole = int(filled)
    half = "▌" if filled - whole >= 0.5 and whole < width else ""
    return f"{'█' * whole}{half}".ljust(width) + f" {value:.3f}"


def render_ranked(rows: list[dict[str, Any]], columns: Sequence[tuple[str, str, str]]) -> None:
    """Ranked candidates (generate, elucidate) as a terminal table.

    Every table shows query, rank, smiles and a score bar, then ``columns`` — ``(header,
    row key, format spec)`` each, blank where the value is missing — then source and formula
    agreement. Rows without a structure, and the error of a query's first row, are printed
    as notes below the table.
    """
    from rich.table import Table

    table = Table(show_lines=False)
    headers = ("query", "#", "smiles", "score", *(c[0] for c in columns), "source", "formula")
    for header in headers:
        table.add_column(header, overflow="fold", min_width=9 if header == "smiles" else None)
    notes = []
    for row in rows:
        if row.get("smiles") is None:
            notes.append(f"[red]{row['query_id']}: {row.get('error')}[/red]")
            continue
        if row.get("error") and row.get("rank") == 1:
            notes.append(f"[yellow]{row['query_id']}: {row['error']}[/yellow]")
        table.add_row(
            row["query_id"],
            str(row.get("rank")),
            row["smiles"],
            score_bar(row.get("score")),
            *("" if row.get(key) is None else format(row[key], spec) for _, key, spec in columns),
            row.get("source") or "",
            {True: "match", False: "differs", None: ""}[row.get("formula_match")],
        )
    console = stdout_console()
    if table.rows:
        console.print(table)
    for note in notes:
        console.print(note)
