"""Where nmrpeak finds shipped models and keeps its cache (overridable by environment)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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


def verify_sha256(path: str | os.PathLike[str], expected: object) -> str:
    """SHA-256 of ``path``, checked against the ``expected`` value of its model card.

    Raises :class:`~nmrpeak_cli.errors.NotAvailableError` naming both digests on a mismatch.
    """
    from nmrpeak_cli.errors import NotAvailableError

    actual = file_sha256(path)
    if actual != expected:
        raise NotAvailableError(
            f"{path} is corrupt or does not belong to its card "
            f"(sha256 {actual[:12]}…, card says {str(expected)[:12]}…)"
        )
    return actual


def publish(temporary: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Give a finished temporary file the usual mode (0666 less the umask; ``mkstemp`` made it
    0600) and rename it onto ``target`` atomically."""
    mask = os.umask(0o022)
    os.umask(mask)
    os.chmod(temporary, 0o666 & ~mask)
    os.replace(temporary, target)


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """A unique temporary path next to ``target`` to write to; renamed onto ``target`` (with
    :func:`publish`) when the block ends without an error, removed otherwise.

    The one atomic-write helper: a concurrent reader never sees a partial file, and an
    interrupted write leaves the old ``target`` in place.
    """
    import tempfile

    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(descriptor)
    temporary = Path(name)
    try:
        yield temporary
        publish(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def write_text_atomic(target: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``target`` atomically (see :func:`atomic_path`); return the path."""
    with atomic_path(target) as temporary:
        temporary.write_text(text)
    return Path(target)


def write_json_atomic(
    target: str | os.PathLike[str],
    data: object,
    *,
    sort_keys: bool = False,
    default: Callable[[Any], Any] | None = None,
) -> Path:
    """Write ``data`` as JSON (indented by 2, final newline) to ``target`` atomically; return
    the path. ``default`` converts what JSON cannot hold (``str`` for paths and the like)."""
    text = json.dumps(data, indent=2, sort_keys=sort_keys, default=default)
    return write_text_atomic(target, text + "\n")
