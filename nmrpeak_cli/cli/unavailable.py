"""Commands of DESIGN.md §3 that are not built yet: they say so and exit 2, never fake output."""

from __future__ import annotations

import typer

from nmrpeak_cli.cli.common import fail
from nmrpeak_cli.cli.groups import bench_app, train_app

_ISSUE = {"generate": 6, "elucidate": 6, "merge": 8}


def _stub(name: str, issue: int, summary: str):
    def command(ctx: typer.Context) -> None:
        raise fail(f"'nmrpeak {name}' is not available yet (planned in issue {issue}); {summary}")

    command.__doc__ = f"{summary} [dim](not available yet)[/dim]"
    return command


def register(app: typer.Typer) -> None:
    """Register placeholders for the commands that do not exist yet."""
    settings = {"context_settings": {"allow_extra_args": True, "ignore_unknown_options": True}}
    top = {
        "generate": "Generate candidate structures de novo from peaks (+ formula).",
        "elucidate": "Combine retrieval and generation into one ranked answer.",
        "merge": "Combine shard outputs, checking none is missing.",
    }
    for name, summary in top.items():
        app.command(name, **settings)(_stub(name, _ISSUE[name], summary))
    for name, issue in {"retriever": 5, "generator": 6}.items():
        train_app.command(name, **settings)(_stub(f"train {name}", issue, f"Train the {name}."))
    for name, issue in {"retrieve": 5, "generate": 6}.items():
        bench_app.command(name, **settings)(
            _stub(f"bench {name}", issue, f"Benchmark {name} on a held-out split.")
        )
