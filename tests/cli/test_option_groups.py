"""cli/options.option_groups: a group parameter is listed as its options and rebuilt on call."""

from __future__ import annotations

import inspect

import typer
from typer.testing import CliRunner

from nmrpeak_cli.cli.options import BatchFlags, InlineQuery, option_groups


@option_groups
def _command(
    name: str = "x",
    inline: InlineQuery = InlineQuery(formula="C2H6O"),
    batch: BatchFlags = BatchFlags(),
) -> tuple[str, InlineQuery, BatchFlags]:
    return name, inline, batch


def test_group_fields_are_listed_in_place_with_the_instance_defaults() -> None:
    params = inspect.signature(_command).parameters
    assert list(params) == [
        "name", "c13", "h1", "formula", "solvent", "jobs", "shard", "resume", "backend",
        "scheduler",
    ]  # fmt: skip
    assert params["formula"].default == "C2H6O"
    assert params["jobs"].default == 1


def test_the_command_receives_the_groups() -> None:
    name, inline, batch = _command(
        name="y", c13="1.0", h1=None, formula=None, solvent="CDCl3", jobs=3, shard=None,
        resume=True, backend="local", scheduler=None,
    )  # fmt: skip
    assert name == "y"
    assert inline == InlineQuery(c13="1.0", solvent="CDCl3")
    assert batch == BatchFlags(jobs=3, resume=True)


def test_typer_parses_the_group_options() -> None:
    seen = {}
    app = typer.Typer()

    @app.command()
    @option_groups
    def run(inline: InlineQuery = InlineQuery(), batch: BatchFlags = BatchFlags()) -> None:
        seen.update(inline=inline, batch=batch)

    result = CliRunner().invoke(app, ["--c13", "77.0", "--jobs", "2", "--resume"])
    assert result.exit_code == 0, result.output
    assert seen == {
        "inline": InlineQuery(c13="77.0"),
        "batch": BatchFlags(jobs=2, resume=True),
    }
