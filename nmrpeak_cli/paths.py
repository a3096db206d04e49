"""Where nmrpeak finds shipped models and keeps its cache (overridable by environment)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def models_dir() -> Path:
    """Shipped weights: ``$NMRPEAK_MODELS`` or the repository's ``models/`` folder."""
    return Path(os.environ.get("NMRPEAK_MODELS", REPO_ROOT / "models"))


def cache_dir() -> Path:
    """Downloaded registry files and built default libraries: ``$NMRPEAK_CACHE`` or
    ``~/.cache/nmrpeak``."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "nmrpeak"
    return Path(os.environ.get("NMRPEAK_CACHE", default))


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks (weights, libraries, data sources)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
