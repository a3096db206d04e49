"""``nmrpeak merge``: combine the outputs of a job array's shards."""

from __future__ import annotations

from typing import Annotated

import typer

from nmrpeak_cli.cli.common import fail, stderr_console


def merge(
    outputs: Annotated[list[str], typer.Argument(help="Shard outputs of one run.")],
    output: Annotated[str, typer.Option("--output", "-o", help="Merged output file.")],
) -> None:
    """Combine shard outputs into one file, checking that no shard is missing.

    Every shard 0..N-1 written with [bold]--shard I/N[/bold] must be present and finished.

    [bold]Example[/bold]: nmrpeak merge preds.shard*.parquet -o preds.parquet
    """
    from nmrpeak_cli.errors import InputFileError
    from nmrpeak_cli.outputs import merge_outputs

    try:
        count = merge_outputs(outputs, output)
    except InputFileError as exc:
        raise fail(str(exc)) from None
    stderr_console().print(f"merged {len(outputs)} outputs ({count} records) into {output}")


def register(app: typer.Typer) -> None:
    """Add ``merge`` to the app."""
    app.command("merge")(merge)
