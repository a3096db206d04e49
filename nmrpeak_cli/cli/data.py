"""``nmrpeak data prepare``: build the experimental dataset, splits and simulated corpora."""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from nmrpeak_cli.cli.common import command_context, fail, progress_bar, stderr_console
from nmrpeak_cli.cli.options import JobsOption
from nmrpeak_cli.errors import InputFileError

data_app = typer.Typer(
    name="data", help="Prepare datasets, splits and simulated corpora.", no_args_is_help=True
)

DEFAULT_SOURCE = Path("..") / "shared" / "data"


MosesTableOption = Annotated[
    Path | None,
    typer.Option(
        "--moses-table",
        help="MOSES table (default: DATA/simulated_molecules.parquet, else the molsets wheel).",
        dir_okay=False,
    ),
]
"""``--moses-table`` of the commands that sample MOSES molecules."""


def _default_source() -> Path:
    return Path(os.environ.get("NMRPEAK_SOURCE", DEFAULT_SOURCE))


@data_app.command("prepare")
def prepare_command(
    ctx: typer.Context,
    source: Annotated[
        Path | None,
        typer.Option(
            "--source",
            help="Folder with nmrshiftdb2/ and cascade-exp5k/ "
            "(default: $NMRPEAK_SOURCE, else ../shared/data).",
            file_okay=False,
        ),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder (DATADIR).", file_okay=False)
    ] = Path("data"),
    no_moses: Annotated[
        bool, typer.Option("--no-moses", help="Skip simulated_molecules.parquet (MOSES).")
    ] = False,
    moses_wheel: Annotated[
        Path | None,
        typer.Option(
            "--moses-wheel",
            help="Use this molsets wheel instead of downloading it into the cache.",
            dir_okay=False,
        ),
    ] = None,
    literature: Annotated[
        bool | None,
        typer.Option(
            "--literature/--no-literature",
            help="Write literature.parquet and queries/literature.parquet from "
            "SOURCE/literature-nmrbank/ (default: when that folder exists).",
            show_default=False,
        ),
    ] = None,
    report: Annotated[
        Path, typer.Option("--report", help="Markdown report to (re)write.", dir_okay=False)
    ] = Path("benchmarks") / "DATA.md",
    jobs: JobsOption = 1,
) -> None:
    """Clean NMRShiftDB2 + CASCADE into DATADIR/experimental.parquet with scaffold and random
    splits, query tables for valid/test, the curated literature records (literature.parquet,
    queries/literature.parquet), the MOSES corpus without leaks, a manifest and the report
    (benchmarks/DATA.md). Same inputs and seed give the same files.

    The split seed is the global --seed (the random split uses seed+1); it and -q/--quiet
    may follow the subcommand: nmrpeak data prepare -o data/ --seed 3 -q."""
    from nmrpeak_cli.data.prepare import PrepareOptions, prepare

    context = command_context(ctx, jobs=jobs)
    source = source if source is not None else _default_source()
    seed = context.seed
    command = ["nmrpeak", "data", "prepare", "--source", str(source), "-o", str(out)]
    command += ["--seed", str(seed)] + (["--no-moses"] if no_moses else [])
    if literature is not None:
        command.append("--literature" if literature else "--no-literature")
    options = PrepareOptions(
        source=source,
        out=out,
        seed=seed,
        moses=not no_moses,
        report=report,
        moses_wheel=moses_wheel,
        literature=literature,
        jobs=context.jobs,
        command=shlex.join(command),
    )
    try:
        summary = prepare(options, lambda text, total: progress_bar(context, text, total))
    except InputFileError as exc:
        raise fail(str(exc)) from None
    if context.quiet:
        return
    table = Table(title=f"nmrpeak data prepare → {out}", show_header=False)
    table.add_row("source molecules", str(summary.n_source))
    table.add_row("records written", str(summary.n_records))
    table.add_row("dropped", ", ".join(f"{k} {v}" for k, v in summary.dropped.items()) or "0")
    table.add_row("CASCADE mapped", str(summary.n_cascade))
    if summary.n_literature is not None:
        table.add_row(
            "literature records",
            f"{summary.n_literature} of {summary.n_literature_source} rows "
            f"({sum(summary.literature_dropped.values())} dropped)",
        )
    if summary.n_simulated is not None:
        table.add_row(
            "MOSES molecules",
            f"{summary.n_simulated} ({summary.n_simulated_excluded} excluded as valid/test leaks)",
        )
    table.add_row("files", "\n".join(str(path) for path in summary.files))
    stderr_console().print(table)


@data_app.command("crem-db")
def crem_db_command(
    ctx: typer.Context,
    data: Annotated[Path, typer.Option(help="Folder from `nmrpeak data prepare`.")] = Path("data"),
    split: Annotated[
        str, typer.Option("--split", help="Split scheme whose TRAINING molecules are used.")
    ] = "random",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Database to write (default: DATA/crem_SPLIT.db).", dir_okay=False
        ),
    ] = None,
    train: Annotated[
        int, typer.Option("--train", min=0, help="Training molecules sampled.")
    ] = 10000,
    moses: Annotated[
        int, typer.Option("--moses", min=0, help="MOSES molecules sampled (held-out ones dropped).")
    ] = 10000,
    moses_table: MosesTableOption = None,
    jobs: JobsOption = 1,
) -> None:
    """Build the CReM fragment database of the search's crem move (`generate --search
    --crem-db PATH`) from a seeded sample of the split's TRAINING molecules and of MOSES,
    never from validation/test molecules (checked), with a JSON card beside it (sha256,
    sources, split, command). The sample seed is the global --seed."""
    from nmrpeak_cli.errors import LeakageError, NotAvailableError
    from nmrpeak_cli.generate.crem_moves import build_crem_db, crem_db_molecules

    if split not in {"random", "scaffold"}:
        raise fail(f"--split must be random or scaffold, got {split!r}")
    context = command_context(ctx, jobs=jobs)
    out = out if out is not None else data / f"crem_{split}.db"
    command = [
        "nmrpeak",
        "--seed",
        str(context.seed),
        "data",
        "crem-db",
        "--data",
        str(data),
        "--split",
        split,
        "-o",
        str(out),
        "--train",
        str(train),
        "--moses",
        str(moses),
    ]
    if moses_table is not None:
        command += ["--moses-table", str(moses_table)]
    try:
        molecules = crem_db_molecules(data, split, train, moses, context.seed, moses=moses_table)
        card = build_crem_db(
            molecules,
            out,
            command=shlex.join(command),
            split=split,
            seed=context.seed,
            jobs=context.jobs,
        )
    except (InputFileError, LeakageError, NotAvailableError) as exc:
        raise fail(str(exc)) from None
    if not context.quiet:
        stderr_console().print(
            f"{out}: {card['molecules']} molecules, {card['bytes'] / 1e6:.1f} MB, "
            f"sha256 {card['sha256'][:12]}…"
        )


@data_app.command("library-input")
def library_input_command(
    ctx: typer.Context,
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="SMILES file to write (card: OUT.json).", dir_okay=False),
    ],
    data: Annotated[Path, typer.Option(help="Folder from `nmrpeak data prepare`.")] = Path("data"),
    split: Annotated[
        str, typer.Option("--split", help="Split scheme whose TRAINING molecules are used.")
    ] = "random",
    moses: Annotated[
        int, typer.Option("--moses", min=0, help="MOSES molecules drawn (held-out ones dropped).")
    ] = 20000,
    moses_table: MosesTableOption = None,
) -> None:
    """Write the molecules of a search-seed library (`nmrpeak library build OUT -o LIB`,
    then `generate --search -l LIB`): every TRAINING molecule of the split plus MOSES
    molecules drawn with the global --seed, never a validation/test molecule of the split
    (first InChIKey block; checked before writing). A JSON card (sha256, sources, seed,
    command) is written beside it.

    [bold]Example[/bold]: nmrpeak --seed 0 data library-input --split random --moses 18152 -o
    runs/seedlib_random.smi"""
    from nmrpeak_cli.data.library_input import library_input, write_library_input
    from nmrpeak_cli.errors import LeakageError, NotAvailableError

    context = command_context(ctx)
    command = ["nmrpeak", "--seed", str(context.seed), "data", "library-input", "--data",
               str(data), "--split", split, "--moses", str(moses), "-o", str(out)]  # fmt: skip
    if moses_table is not None:
        command += ["--moses-table", str(moses_table)]
    try:
        made = library_input(data, split, moses, context.seed, moses_table)
        card = write_library_input(
            made, out, split=split, seed=context.seed, command=shlex.join(command)
        )
    except (InputFileError, LeakageError, NotAvailableError) as exc:
        raise fail(str(exc)) from None
    if not context.quiet:
        counts = ", ".join(f"{s['path']}: {s['molecules']}" for s in card["sources"])
        stderr_console().print(
            f"{out}: {card['molecules']} molecules ({counts}), sha256 {card['sha256'][:12]}…",
            soft_wrap=True,
        )


def register(app: typer.Typer) -> None:
    """Add the ``data`` command group to ``app``."""
    app.add_typer(data_app)
