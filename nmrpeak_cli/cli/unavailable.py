"""Commands of DESIGN.md §3 that are not built yet: they say so and exit 2, never fake output."""

from __future__ import annotations

import typer

from nmrpeak_cli.cli.common import fail

_ISSUE = {"merge": 8}


def _stub(name: str, issue: int, summary: str):
    def command(ctx: typer.Context) -> None:
        raise fail(f"'nmrpeak {name}' is not available yet (planned in issue {issue}); {summary}")

    command.__doc__ = f"{summary} [dim](not available yet)[/dim]"
    return command


def register(app: typer.Typer) -> None:
    """Register placeholders for the commands that do not exist yet."""
    settings = {"context_settings": {"allow_extra_args": True, "ignore_unknown_options": True}}
    top = {
        "merge": "Combine shard outputs, checking none is missing.",
    }
    for name, summary in top.items():
        app.command(name, **settings)(_stub(name, _ISSUE[name], summary))
