"""The ``nmrpeak`` Typer application: global options and command registration.

Each command module exposes ``register(app)``; the shared groups ``library``, ``train`` and
``bench`` live in :mod:`nmrpeak_cli.cli.groups` and command modules add subcommands to them.
"""

from __future__ import annotations

import importlib
import sys
from typing import Annotated

import click
import typer
from typer.core import TyperGroup

from nmrpeak_cli import __version__
from nmrpeak_cli.cli.common import ExitCode, stderr_console
from nmrpeak_cli.cli.groups import bench_app, library_app, train_app
from nmrpeak_cli.context import RunContext
from nmrpeak_cli.errors import NmrpeakError

#: Command modules, in the order their commands appear in ``--help``.
COMMAND_MODULES: tuple[str, ...] = (
    "nmrpeak_cli.cli.predict",
    "nmrpeak_cli.cli.peaks",
    "nmrpeak_cli.cli.similarity",
    "nmrpeak_cli.cli.retrieve",
    "nmrpeak_cli.cli.generate",
    "nmrpeak_cli.cli.elucidate",
    "nmrpeak_cli.cli.data",
    "nmrpeak_cli.cli.merge",
    "nmrpeak_cli.cli.doctor",
)

HELP = """Turn 1D NMR data (13C and 1H peak lists, or raw instrument data) into ranked candidate structures.

[bold]Examples[/bold]

  nmrpeak similarity "170.1, 128.3, 77.0" "170.0, 128.5, 77.2"

  nmrpeak data prepare --source ../shared/data -o data/

Data goes to stdout, progress and messages to stderr. Exit codes: 0 all good, 1 some records failed (their rows carry an error), 2 usage error or unreadable input.
"""

#: Global flags (the root callback's) that may also follow the subcommand.
GLOBAL_FLAGS: frozenset[str] = frozenset({"-q", "--quiet", "-v", "--verbose"})
GLOBAL_VALUED: frozenset[str] = frozenset({"--seed"})


def hoist_global_options(args: list[str]) -> list[str]:
    """Move the global ``-q/--quiet``, ``-v/--verbose`` and ``--seed N`` to the front, so
    ``nmrpeak predict x.smi -q`` means ``nmrpeak -q predict x.smi``. Nothing after ``--`` moves."""
    front: list[str] = []
    rest: list[str] = []
    items = iter(args)
    for item in items:
        if item == "--":
            rest += [item, *items]
            break
        if item in GLOBAL_FLAGS or any(item.startswith(f"{o}=") for o in GLOBAL_VALUED):
            front.append(item)
        elif item in GLOBAL_VALUED:
            front += [item, *([value] if (value := next(items, None)) is not None else [])]
        else:
            rest.append(item)
    return front + rest


class _GlobalOptionsGroup(TyperGroup):
    """The root group: global options are accepted before or after the subcommand."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(list(args)))


app = typer.Typer(
    cls=_GlobalOptionsGroup,
    name="nmrpeak",
    help=HELP,
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"nmrpeak {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bars or info logs.")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Debug logs and tracebacks.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Random seed for anything stochastic.")] = 0,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Global options, shared by every command."""
    ctx.obj = RunContext(seed=seed, quiet=quiet, verbose=verbose)


def _register_all() -> None:
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(app)
    app.add_typer(library_app)
    app.add_typer(train_app)
    app.add_typer(bench_app)


_register_all()


def main() -> None:
    """Console-script entry point: map library errors to one line and an exit code."""
    verbose = "--verbose" in sys.argv or "-v" in sys.argv
    try:
        app()
    except NmrpeakError as exc:  # whole-input problems; per-record ones become error rows
        if verbose:
            raise
        stderr_console().print(f"[bold red]error:[/] {exc}", soft_wrap=True)
        sys.exit(int(ExitCode.USAGE))


if __name__ == "__main__":
    main()
