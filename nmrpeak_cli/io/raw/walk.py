"""Find raw 1D experiments below folders and group the experiments of one sample.

Grouping (one query row per group):

- Bruker: ``<sample>/<expno>/`` → the sample folder;
- Varian ``.fid`` folders, JCAMP-DX and NMRPipe files → the containing folder, plus the file
  stem once nucleus/processing/editing words are removed (``1h.jdx``, ``13c.fid.jdx``,
  ``dept135.jdx`` and ``cytisine_C13.fid`` group together; ``a.jdx`` and ``b.jdx`` do not).

The members of a group are always entries of one folder, so :func:`iter_samples` walks lazily,
one folder listing at a time.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from nmrpeak_cli.io.raw import detect_format

#: Words dropped from file stems when grouping (nucleus names, processing states).
_STEM_NOISE = re.compile(
    r"(?<![a-z0-9])(1h|h1|13c|c13|proton|carbon|cdec|fid|ft|ft1|spectrum|spec|molecule|"
    r"processed|raw|dept[ -]?(?:45|90|135)?|apt|jmod)(?![a-z0-9])"
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
        Display name of the sample.
    """

    path: Path
    format: str
    group: str
    sample: str


@dataclass(frozen=True, slots=True)
class Sample:
    """The experiments of one sample (one query row).

    Attributes
    ----------
    id
        Query ``id``: the sample name, ``name~2``, ``name~3``… for later samples of the same name.
    experiments
        Its experiments, in walk order.
    """

    id: str
    experiments: tuple[Experiment, ...]


@dataclass(frozen=True, slots=True)
class Skipped:
    """Something that was not used, and why."""

    path: str
    reason: str


def iter_samples(
    roots: Iterable[str | os.PathLike[str]], on_skip: Callable[[Skipped], None]
) -> Iterator[Sample]:
    """Every sample at or below ``roots``, lazily, in sorted walk order.

    Experiments given directly as roots are grouped with each other (``s/1 s/2`` is one
    sample). A root inside a Bruker experiment (``s/1/pdata/1``, ``s/1/fid``...) stands for
    the experiment (its ``pdata/1`` is the processed spectrum that is read). ``on_skip`` is told about inputs that are not used: a root that does not exist,
    a file no raw format claims, a root given twice or inside another root, an unreadable
    folder or file. Files of unknown type met while walking a folder are ignored silently.
    """
    paths = [_experiment_folder(Path(root)) for root in roots]
    resolved = [path.resolve() for path in paths]
    given = set(resolved)
    counts: dict[str, int] = {}

    def sample(members: list[Experiment]) -> Sample:
        name = members[0].sample
        counts[name] = count = counts.get(name, 0) + 1
        return Sample(name if count == 1 else f"{name}~{count}", tuple(members))

    seen: set[Path] = set()
    entries: list[tuple[Path, Experiment | None]] = []
    for path, real in zip(paths, resolved, strict=True):
        container = next((p for p in real.parents if p in given), None)
        if not path.exists():
            on_skip(Skipped(str(path), "no such file or folder"))
        elif real in seen or container is not None:
            reason = f"inside {container}, also given" if container else "given twice"
            on_skip(Skipped(str(path), f"{reason}; used once"))
        else:
            seen.add(real)
            fmt = _detect(path, on_skip)
            if fmt is None and path.is_file():
                on_skip(Skipped(str(path), "not a recognised raw NMR format"))
            elif fmt is not None or path.is_dir():
                entries.append((path, None if fmt is None else _experiment(path, fmt)))
    for members in _grouped(entries, lambda folder: _walk(folder, on_skip)):
        yield sample(members)


#: Files of a Bruker experiment folder or of its ``pdata/<procno>`` folders.
_BRUKER_FILES = frozenset(
    {"fid", "ser", "acqu", "acqus", "pulseprogram", "1r", "1i", "procs", "proc", "title"}
)


def _experiment_folder(path: Path) -> Path:
    """The Bruker experiment folder when ``path`` is inside one (``pdata``, ``pdata/1``, one
    of its files), else ``path``."""
    from nmrpeak_cli.io.raw import bruker

    candidates = [path]
    if path.is_file() and path.name in _BRUKER_FILES:
        candidates.append(path.parent)
    for candidate in list(candidates):
        parents = [candidate, *candidate.parents][:3]
        candidates += [p.parent for p in parents if p.name == "pdata"]
    for candidate in candidates[1:]:
        if bruker.detect(candidate):
            return candidate
    return path


def _grouped(
    entries: list[tuple[Path, Experiment | None]],
    walk: Callable[[Path], Iterator[list[Experiment]]],
) -> Iterator[list[Experiment]]:
    """Groups of ``entries`` in order of their first member; folders (``None``) are walked."""
    groups: dict[str, list[Experiment]] = {}
    for _, experiment in entries:
        if experiment is not None:
            groups.setdefault(experiment.group, []).append(experiment)
    for path, experiment in entries:
        if experiment is None:
            yield from walk(path)
        elif experiment.group in groups:
            yield groups.pop(experiment.group)


def _walk(folder: Path, on_skip: Callable[[Skipped], None]) -> Iterator[list[Experiment]]:
    try:
        children = sorted(folder.iterdir(), key=_natural)
    except OSError as exc:
        on_skip(Skipped(str(folder), f"unreadable folder ({exc.strerror or exc})"))
        return
    entries: list[tuple[Path, Experiment | None]] = []
    for child in children:
        if child.name.startswith(".") or child.name in _SKIP_DIRS:
            continue
        fmt = _detect(child, on_skip)
        if fmt is not None:
            entries.append((child, _experiment(child, fmt)))
        elif child.is_dir():
            entries.append((child, None))
    yield from _grouped(entries, lambda sub: _walk(sub, on_skip))


def _detect(path: Path, on_skip: Callable[[Skipped], None]) -> str | None:
    try:
        return detect_format(path)
    except OSError as exc:
        on_skip(Skipped(str(path), f"unreadable ({exc.strerror or exc})"))
        return None


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
