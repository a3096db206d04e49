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
from nmrpeak_cli.errors import NmrpeakError
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
    """One row per JSON file in the models folder: a card naming its ``weights`` (present or
    missing), or a weightless card (fusion weights, a tokenizer)."""
    rows = []
    for card in sorted(models_dir.glob("*.json")):
        try:
            meta = json.loads(card.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            rows.append({"model": card.stem, "status": f"unreadable card: {exc}"})
            continue
        row: dict[str, object] = {
            "model": card.stem,
            "version": meta.get("version") or meta.get("model_version"),
        }
        if isinstance(meta.get("weights"), str):
            weights = models_dir / str(meta["weights"])
            present = weights.is_file()
            row["status"] = "ok" if present else f"weights missing ({weights.name})"
            row["size_mb"] = round(weights.stat().st_size / 1e6, 1) if present else None
        else:
            row["status"] = "ok (no weights)"
        rows.append(row)
    return rows


def _default_library() -> dict[str, object]:
    """Where the default library is and what it holds (``nmrpeak library default``)."""
    from nmrpeak_cli.retrieve.library import default_library_dir, read_manifest

    path = default_library_dir()
    if not path.is_dir():
        return {"path": str(path), "status": "not built (nmrpeak library default)"}
    try:
        manifest = read_manifest(path)
    except NmrpeakError as exc:
        return {"path": str(path), "status": f"unusable: {exc}"}
    return {
        "path": str(path),
        "status": "ok",
        "entries": manifest.get("counts", {}).get("entries"),
        "predictor": manifest.get("predictor", {}).get("sha256", "")[:12],
    }


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
        "default_library": _default_library(),
    }


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
    library = report["default_library"]
    entries = f", {library['entries']} entries" if library.get("entries") else ""  # type: ignore[union-attr]
    table.add_row("default library", f"{library['status']}{entries}: {library['path']}")  # type: ignore[index]
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``doctor`` to the app."""
    app.command("doctor")(doctor)
