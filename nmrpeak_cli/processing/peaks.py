"""Folders of raw experiments → query-table rows (DESIGN.md §4), one row per sample.

Each experiment is read and processed independently (in parallel through
:func:`nmrpeak_cli.batch.parallel_map`); only its peaks travel back, so memory stays bounded
by the number of experiments in flight. Then the 13C and 1H experiments of one sample are
merged into one row.

What is not used is reported, never silently dropped:

- deliberate skips (DEPT/APT, 2D, nuclei other than 13C/1H, a second 13C or 1H experiment of
  the same sample) go to :attr:`PeaksReport.skipped` only;
- failures (unreadable, truncated, missing parameter files, no signal) also become rows whose
  ``error`` column says why (id ``<sample>/<experiment>``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from nmrpeak_cli.batch import Shard, parallel_map
from nmrpeak_cli.io.raw import RawDataError, read_raw
from nmrpeak_cli.io.raw.walk import Experiment, Skipped, find_experiments
from nmrpeak_cli.processing.pipeline import ExperimentPeaks, ProcessingOptions, peaks_from_raw
from nmrpeak_cli.schema import error_row, spectrum_to_row
from nmrpeak_cli.spectra import Spectrum

#: Reasons that are deliberate skips rather than failures (matched in the error text).
_DELIBERATE = ("2D", "DEPT", "only 13C and 1H", "ni > 1", "traces (arrayed")


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one experiment: its peaks, or why there are none."""

    experiment: Experiment
    peaks: ExperimentPeaks | None = None
    error: str | None = None

    @property
    def deliberate(self) -> bool:
        """Whether the experiment was skipped on purpose (not a failure)."""
        return self.error is not None and any(word in self.error for word in _DELIBERATE)


@dataclass(frozen=True, slots=True)
class PeaksReport:
    """Rows for the query table, and what was skipped.

    Attributes
    ----------
    rows
        Query-table rows (``QUERY_SCHEMA`` columns), samples first, then failure rows.
    skipped
        Every experiment or input not used in a row, with the reason.
    outcomes
        Per-experiment results (peaks with their labelled exclusions and processing steps).
    """

    rows: list[dict[str, Any]]
    skipped: list[Skipped] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def failed(self) -> int:
        """Number of rows carrying an error."""
        return sum(1 for row in self.rows if row.get("error"))


@dataclass(frozen=True, slots=True)
class _Task:
    experiment: Experiment
    options: ProcessingOptions
    reprocess: bool
    plot_dir: str | None


def process_experiment(task: _Task) -> Outcome:
    """Read, process and pick one experiment (worker function; never raises for bad data)."""
    try:
        raw = read_raw(task.experiment.path, reprocess=task.reprocess)
        peaks = peaks_from_raw(raw, task.options)
    except (RawDataError, ValueError, OSError) as exc:
        return Outcome(task.experiment, error=str(exc))
    if task.plot_dir is not None:
        from nmrpeak_cli.processing.plot import plot_experiment

        name = f"{task.experiment.sample}_{task.experiment.path.name}".replace("/", "_")
        plot_experiment(peaks, Path(task.plot_dir) / f"{name}_{peaks.nucleus}.png")
    # the processed arrays are not needed any more: keep the returned object small
    return Outcome(task.experiment, peaks=_without_arrays(peaks))


def peaks_from_folders(
    roots: Iterable[str | os.PathLike[str]],
    options: ProcessingOptions | None = None,
    *,
    reprocess: bool = False,
    jobs: int = 1,
    plot_dir: str | os.PathLike[str] | None = None,
    shard: Shard | None = None,
    on_result: Callable[[int], None] | None = None,
) -> PeaksReport:
    """Process every raw 1D experiment below ``roots`` into query rows.

    Parameters
    ----------
    roots
        Folders (walked recursively) or single experiments/files.
    options
        Processing and picking parameters (defaults: :class:`ProcessingOptions`).
    reprocess
        Bruker: process the FID even when the instrument's processed spectrum exists.
    jobs
        Worker processes.
    plot_dir
        Write one PNG per experiment there (needs matplotlib).
    shard
        Process only this shard of the samples (a sample's experiments stay together).
    on_result
        Called after each processed experiment (progress).
    """
    options = options or ProcessingOptions()
    experiments, skipped = find_experiments(roots)
    if shard is not None:
        groups = set(shard.select(dict.fromkeys(e.group for e in experiments)))
        experiments = [e for e in experiments if e.group in groups]
    if plot_dir is not None:
        Path(plot_dir).mkdir(parents=True, exist_ok=True)
    tasks = (
        _Task(e, options, reprocess, None if plot_dir is None else str(plot_dir))
        for e in experiments
    )
    outcomes = list(
        parallel_map(process_experiment, tasks, jobs=jobs, chunk_size=4, on_result=on_result)
    )
    rows, grouped_skips = rows_from_outcomes(outcomes)
    return PeaksReport(rows, skipped + grouped_skips, outcomes)


def rows_from_outcomes(outcomes: list[Outcome]) -> tuple[list[dict[str, Any]], list[Skipped]]:
    """Merge per-experiment outcomes into one query row per sample (plus failure rows)."""
    groups: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        groups.setdefault(outcome.experiment.group, []).append(outcome)
    ids = _unique_ids(groups)
    rows: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    skipped: list[Skipped] = []
    for key, members in groups.items():
        chosen: dict[str, ExperimentPeaks] = {}
        for outcome in members:
            source = str(outcome.experiment.path)
            if outcome.peaks is None:
                skipped.append(Skipped(source, outcome.error or "unknown error"))
                if not outcome.deliberate:
                    failures.append(
                        error_row(f"{ids[key]}/{outcome.experiment.path.name}", outcome.error or "")
                    )
                continue
            nucleus = outcome.peaks.nucleus
            if nucleus in chosen:
                skipped.append(
                    Skipped(
                        source,
                        f"another {nucleus} experiment of this sample was used ({chosen[nucleus].source})",
                    )
                )
                continue
            chosen[nucleus] = outcome.peaks
        if not chosen:
            continue
        first = next(iter(chosen.values()))
        h1 = chosen.get("1H")
        spectrum = Spectrum(
            id=ids[key],
            c13=chosen["13C"].peak_list() if "13C" in chosen else None,
            h1=h1.peak_list() if h1 is not None else None,
            solvent=next((p.solvent for p in chosen.values() if p.solvent), None),
            field_mhz=h1.field_mhz if h1 is not None else first.field_mhz,
        )
        rows.append(spectrum_to_row(spectrum))
    return rows + failures, skipped


def _unique_ids(groups: dict[str, list[Outcome]]) -> dict[str, str]:
    names: dict[str, str] = {}
    seen: dict[str, int] = {}
    for key, members in groups.items():
        name = members[0].experiment.sample
        seen[name] = seen.get(name, 0) + 1
        names[key] = name if seen[name] == 1 else f"{name}~{seen[name]}"
    return names


def _without_arrays(peaks: ExperimentPeaks) -> ExperimentPeaks:
    empty = np.zeros(0)
    return replace(peaks, spectrum=replace(peaks.spectrum, ppm=empty, intensity=empty))
