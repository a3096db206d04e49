"""Find raw 1D experiments below folders and group the experiments of one sample.

Grouping (one query row per group):

- Bruker: ``<sample>/<expno>/`` → the sample folder;
- Varian ``.fid`` folders, JCAMP-DX and NMRPipe files → the containing folder, plus the file
  stem once nucleus/processing words are removed (``1h.jdx``, ``13c.fid.jdx`` and
  ``cytisine_C13.fid`` group together; ``a.jdx`` and ``b.jdx`` do not).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from nmrpeak_cli.io.raw import detect_format

#: Words dropped from file stems when grouping (nucleus names, processing states).
_STEM_NOISE = re.compile(
    r"(?<![a-z0-9])(1h|h1|13c|c13|proton|carbon|cdec|fid|ft|ft1|spectrum|spec|molecule|"
    r"processed|raw)(?![a-z0-9])"
)
_SKIP_DIRS = frozenset({"pdata", "__pycache__"})


@dataclass(frozen=True, slots=True)
class Experiment:
    """One raw experiment to process.

    Attributes
    ----------
    path
        Experiment folder or file.
    format
        Raw format name (:data:`nmrpeak_cli.io.raw.FORMATS`).
    group
        Key of the sample it belongs to.
    sample
        Display name of the sample (becomes the query ``id``).
    """

    path: Path
    format: str
    group: str
    sample: str


@dataclass(frozen=True, slots=True)
class Skipped:
    """Something that was not used, and why."""

    path: str
    reason: str


def find_experiments(
    roots: Iterable[str | os.PathLike[str]],
) -> tuple[list[Experiment], list[Skipped]]:
    """Every raw experiment at or below ``roots``, in sorted order, and inputs that are not.

    A root that does not exist, or a file no raw format claims, is reported in the skipped
    list; files of unknown type met while walking a folder are ignored silently.
    """
    found: list[Experiment] = []
    skipped: list[Skipped] = []
    for root in roots:
        path = Path(root)
        if not path.exists():
            skipped.append(Skipped(str(path), "no such file or folder"))
        elif path.is_file() and detect_format(path) is None:
            skipped.append(Skipped(str(path), "not a recognised raw NMR format"))
        else:
            found.extend(_walk(path))
    return found, skipped


def _walk(path: Path) -> list[Experiment]:
    fmt = detect_format(path)
    if fmt is not None:
        return [_experiment(path, fmt)]
    if not path.is_dir():
        return []
    out: list[Experiment] = []
    try:
        children = sorted(path.iterdir(), key=_natural)
    except OSError:
        return out
    for child in children:
        if child.name.startswith(".") or child.name in _SKIP_DIRS:
            continue
        out.extend(_walk(child))
    return out


def _experiment(path: Path, fmt: str) -> Experiment:
    resolved = path.resolve()
    if fmt == "bruker":
        return Experiment(path, fmt, str(resolved.parent), resolved.parent.name)
    stem = resolved.name.lower()
    for suffix in reversed(resolved.suffixes):
        stem = stem.removesuffix(suffix.lower())
    stem = re.sub(r"[\s._-]+", " ", _STEM_NOISE.sub(" ", stem.replace("_", " "))).strip()
    sample = resolved.parent.name if not stem else f"{resolved.parent.name}/{stem}"
    return Experiment(path, fmt, f"{resolved.parent}/{stem}", sample)


def _natural(path: Path) -> tuple:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name))
