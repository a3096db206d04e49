"""Command groups shared by several command modules (each module adds its own subcommands)."""

from __future__ import annotations

import typer

library_app = typer.Typer(
    name="library",
    help="Build, merge and manage candidate libraries of predicted spectra.",
    no_args_is_help=True,
)
train_app = typer.Typer(
    name="train", help="Train the models shipped in models/.", no_args_is_help=True
)
bench_app = typer.Typer(
    name="bench",
    help="Reproduce the numbers in benchmarks/RESULTS.md on a held-out split or any query table.",
    no_args_is_help=True,
)
