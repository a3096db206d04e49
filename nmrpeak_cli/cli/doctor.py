"""``nmrpeak doctor``: report versions, models, accelerators and data locations."""

from __future__ import annotations

import importlib.metadata
import json
import platform
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from nmrpeak_cli import __version__
from nmrpeak_cli.cli.common import stdout_console
from nmrpeak_cli.paths import cache_dir, models_dir

PACKAGES = (
    "numpy",
    "pyarrow",
    "rdkit",
    "torch",
    "faiss-cpu",
    "faiss-gpu",
    "nmrglue",
    "typer",
    "rich",
)


def _package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _accelerators() -> dict[str, object]:
    info: dict[str, object] = {"cuda": False, "faiss_gpus": 0}
    try:
        import torch

        info["cuda"] = bool(torch.cuda.is_available())
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        info["cuda"] = None
    try:
        import faiss

        info["faiss_gpus"] = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
    except ImportError:
        info["faiss_gpus"] = None
    return info


def _models(models_dir: Path) -> list[dict[str, object]]:
    rows = []
    for card in sorted(models_dir.glob("*.json")):
        weights = card.with_suffix(".safetensors")
        try:
            meta = json.loads(card.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            rows.append({"model": card.stem, "status": f"unreadable card: {exc}"})
            continue
        rows.append(
            {
                "model": card.stem,
                "status": "ok" if weights.exists() else "weights missing",
                "size_mb": round(weights.stat().st_size / 1e6, 1) if weights.exists() else None,
                "version": meta.get("version") or meta.get("model_version"),
            }
        )
    return rows


def doctor_report(models: Path) -> dict[str, object]:
    """Everything ``doctor`` prints, as a plain dict (also its ``--json`` output)."""
    return {
        "nmrpeak": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": _package_versions(),
        "accelerators": _accelerators(),
        "models_dir": str(models),
        "models": _models(models),
        "cache_dir": str(cache_dir()),
    }


def register(app: typer.Typer) -> None:
    """Add ``doctor`` to the app."""

    @app.command("doctor")
    def doctor(
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    ) -> None:
        """Report versions, installed models, GPU/faiss availability.

        [bold]Example[/bold]: nmrpeak doctor --json | jq .accelerators
        """
        report = doctor_report(models_dir())
        if as_json:
            typer.echo(json.dumps(report, indent=2))
            return
        console = stdout_console()
        table = Table(title=f"nmrpeak {__version__} (Python {report['python']})", show_header=False)
        for name, version in report["packages"].items():  # type: ignore[union-attr]
            table.add_row(name, version or "[dim]not installed[/dim]")
        for key, value in report["accelerators"].items():  # type: ignore[union-attr]
            table.add_row(key, str(value))
        models = report["models"] or [
            {"model": "(none)", "status": f"no models in {report['models_dir']}"}
        ]
        for row in models:  # type: ignore[union-attr]
            table.add_row(f"model {row['model']}", str(row["status"]))
        console.print(table)
