"""Samples of raw experiments → query-table rows (docs/schemas.md), one row per sample.

A sample (the 13C and 1H experiments of one compound, found by
:func:`nmrpeak_cli.io.raw.walk.iter_samples`) is read, processed and merged into one row in one
call, so samples are the records of ``nmrpeak peaks`` (:class:`PeakBatch`, run by the shared
batch runner) and of :func:`peaks_from_folders`. Only rows travel back from worker processes.

What is not used is reported, never silently dropped:

- DEPT-135/90 experiments label the sample's 13C peaks C/CH/CH2/CH3
  (:mod:`~nmrpeak_cli.processing.dept`; a DEPT FID is processed after the 13C, whose phase
  fixes the sign of its lines); when they cannot (no 13C, another sample, inverted phase, a
  DEPT FID whose sign cannot be fixed) the row's ``quality`` says why and the peaks carry no
  labels;
- deliberate skips (APT, DEPT without 13C, 2D, nuclei other than 13C/1H, a second 13C or 1H
  experiment of the same sample) are listed as :class:`~nmrpeak_cli.io.raw.walk.Skipped` only;
- failures (unreadable, truncated, missing parameter files, no signal) are listed too and
  become rows whose ``error`` column says why (id ``<sample>/<experiment>``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from nmrpeak_cli.batch import Shard, parallel_map
from nmrpeak_cli.io.raw import RawDataError, RawSpectrum, read_raw
from nmrpeak_cli.io.raw.walk import Experiment, Sample, Skipped, iter_samples
from nmrpeak_cli.processing.dept import (
    DeptLines,
    Labelled,
    PhaseReference,
    attached_h,
    dept_kind,
    dept_lines,
    phase_reference,
)
from nmrpeak_cli.processing.pipeline import peaks_from_raw, process
from nmrpeak_cli.processing.types import ExperimentPeaks, ProcessingOptions
from nmrpeak_cli.schema import c13_peak_to_struct, error_row, spectrum_to_row
from nmrpeak_cli.spectra import Spectrum

#: Reasons that are deliberate skips rather than failures (matched in the error text).
_DELIBERATE = ("2D", "DEPT", "only 13C and 1H", "ni > 1", "traces (arrayed")

SKIPPED_KEY = "_skipped"
"""Row key (not a table column; writers drop it) under which :class:`PeakBatch` returns the
sample's :class:`~nmrpeak_cli.io.raw.walk.Skipped` experiments to the parent process."""


@dataclass(frozen=True, slots=True)
class SampleResult:
    """Rows of one sample and the experiments it did not use.

    Attributes
    ----------
    rows
        The sample's query row (when any experiment was usable), then one error row per
        failed experiment.
    skipped
        Experiments not used in the row, with the reason (failures included).
    """

    rows: list[dict[str, Any]]
    skipped: list[Skipped]


@dataclass(frozen=True, slots=True)
class PeakBatch:
    """Picklable batch body for :func:`nmrpeak_cli.batch.run_records`: rows per sample.

    Every sample gets at least one row: its query row, error rows for failed experiments, or
    one error row when all its experiments were skipped on purpose (DEPT only, 2D only...).
    The first row carries the skipped experiments under :data:`SKIPPED_KEY`.

    Attributes
    ----------
    options
        Processing and picking parameters.
    reprocess
        Bruker: process the FID even when the instrument's processed spectrum exists.
    plot_dir
        Write one PNG per experiment there (needs matplotlib; the folder must exist).
    """

    options: ProcessingOptions = field(default_factory=ProcessingOptions)
    reprocess: bool = False
    plot_dir: str | None = None

    def __call__(self, batch: list[Sample]) -> list[list[dict[str, Any]]]:
        """Rows of each sample of the batch, in order."""
        results = []
        for sample in batch:
            result = self.sample(sample)
            rows = result.rows or [
                error_row(
                    sample.id,
                    "no usable 1D 13C/1H experiment: "
                    + "; ".join(_short(item) for item in result.skipped),
                )
            ]
            if result.skipped:
                rows[0] = {**rows[0], SKIPPED_KEY: result.skipped}
            results.append(rows)
        return results

    def sample(self, sample: Sample) -> SampleResult:
        """Read, process and merge the experiments of one sample (never raises for bad data)."""
        chosen: dict[str, ExperimentPeaks] = {}
        failures: list[dict[str, Any]] = []
        skipped: list[Skipped] = []
        dept_raws: list[RawSpectrum] = []
        for experiment in sample.experiments:
            source = str(experiment.path)
            try:
                raw = read_raw(experiment.path, reprocess=self.reprocess)
                if dept_kind(raw) is not None:
                    dept_raws.append(raw)  # after the 13C, whose phase orients a DEPT FID
                    continue
                peaks = self._peaks(raw, experiment)
            except (RawDataError, ValueError, OSError) as exc:
                skipped.append(Skipped(source, str(exc)))
                if not any(word in str(exc) for word in _DELIBERATE):
                    failures.append(error_row(f"{sample.id}/{experiment.path.name}", str(exc)))
                continue
            if peaks.nucleus in chosen:
                used = chosen[peaks.nucleus].source
                reason = f"another {peaks.nucleus} experiment of this sample was used ({used})"
                skipped.append(Skipped(source, reason))
                continue
            chosen[peaks.nucleus] = peaks
        labelled = self._labels(chosen.get("13C"), dept_raws, skipped)
        rows = [] if not chosen else [_row(sample.id, chosen, labelled)]
        return SampleResult(rows + failures, skipped)

    def _labels(
        self, c13: ExperimentPeaks | None, raws: list[RawSpectrum], skipped: list[Skipped]
    ) -> Labelled | None:
        """The 13C peaks labelled from the sample's DEPT experiments; ``None`` without DEPT.

        Every DEPT not used is added to ``skipped``; the reason also reaches the row's
        ``quality`` through the returned message (the query then runs without labels).
        """
        if not raws:
            return None
        if c13 is None:
            reasons = [
                f"{dept_kind(r)} without a 13C spectrum of this sample; not used" for r in raws
            ]
            skipped += [Skipped(r.source, reason) for r, reason in zip(raws, reasons, strict=True)]
            return Labelled(None, "; ".join(dict.fromkeys(reasons)))
        reference = phase_reference(c13.spectrum)
        if reference is None and any(r.domain == "time" for r in raws):
            reference = self._fid_phase(c13.source)
        depts: list[DeptLines] = []
        problems: list[str] = []
        for raw in raws:
            try:
                depts.append(dept_lines(raw, min_snr=self.options.min_snr_c13, reference=reference))
            except (RawDataError, ValueError) as exc:
                skipped.append(Skipped(raw.source, str(exc)))
                problems.append(str(exc).removeprefix(f"{raw.source}: "))
        if not problems:
            return attached_h(c13.peak_list(), depts)
        if not depts:
            return Labelled(c13.peak_list(), "; ".join(problems))
        labelled = attached_h(c13.peak_list(), depts)
        if labelled.message is None:  # the other DEPT labelled the peaks on its own
            note = f"{'; '.join(problems)} (labels from {depts[0].kind} alone)"
            return replace(labelled, message=note)
        return Labelled(c13.peak_list(), "; ".join([*problems, labelled.message]))

    def _fid_phase(self, source: str) -> PhaseReference | None:
        """The phase of the 13C's FID when its peaks came from the instrument's spectrum (a
        DEPT FID without a processed spectrum is oriented by it); ``None`` when it has none."""
        try:
            raw = read_raw(source, reprocess=True)
            if raw.domain != "time":
                return None
            return phase_reference(process(raw, self.options))
        except (RawDataError, ValueError, OSError):
            return None

    def _peaks(self, raw: RawSpectrum, experiment: Experiment) -> ExperimentPeaks:
        peaks = peaks_from_raw(raw, self.options)
        if self.plot_dir is not None:
            from nmrpeak_cli.processing.plot import plot_experiment

            name = f"{experiment.sample}_{experiment.path.name}".replace("/", "_")
            plot_experiment(peaks, Path(self.plot_dir) / f"{name}_{peaks.nucleus}.png")
        return peaks


@dataclass(frozen=True, slots=True)
class PeaksReport:
    """Rows for the query table, and what was skipped.

    Attributes
    ----------
    rows
        Query-table rows (``PEAKS_SCHEMA`` columns): per sample, its row then its failure rows.
    skipped
        Every experiment or input not used in a row, with the reason.
    """

    rows: list[dict[str, Any]]
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def failed(self) -> int:
        """Number of rows carrying an error."""
        return sum(1 for row in self.rows if row.get("error"))


def peaks_from_folders(
    roots: Iterable[str | os.PathLike[str]],
    options: ProcessingOptions | None = None,
    *,
    reprocess: bool = False,
    jobs: int = 1,
    plot_dir: str | os.PathLike[str] | None = None,
    shard: Shard | None = None,
) -> PeaksReport:
    """Process every raw 1D experiment below ``roots`` into query rows, in memory.

    Samples whose experiments were all skipped on purpose give no row (``nmrpeak peaks``,
    which streams through :class:`PeakBatch`, gives them an error row).

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
    """
    if plot_dir is not None:
        Path(plot_dir).mkdir(parents=True, exist_ok=True)
    body = PeakBatch(
        options or ProcessingOptions(), reprocess, None if plot_dir is None else str(plot_dir)
    )
    skipped: list[Skipped] = []
    samples = iter_samples(roots, on_skip=skipped.append)
    if shard is not None:
        samples = shard.select(samples)
    rows: list[dict[str, Any]] = []
    for result in parallel_map(body.sample, samples, jobs=jobs, chunk_size=4):
        rows.extend(result.rows)
        skipped.extend(result.skipped)
    return PeaksReport(rows, skipped)


def input_state(sample: Sample) -> list[Any]:
    """Paths, sizes and modification times of every file of the sample's experiments.

    Part of the record key of ``nmrpeak peaks --resume``: a changed, added or removed file
    makes the sample be processed again. Files that vanish or cannot be read count as
    ``None`` (the sample's processing then reports them).
    """
    state: list[Any] = []
    for experiment in sample.experiments:
        path = experiment.path
        files = (
            sorted(Path(folder) / name for folder, _, names in os.walk(path) for name in names)
            if path.is_dir()
            else [path]
        )
        entries = []
        for file in files:
            try:
                stat = file.stat()
                size, mtime = stat.st_size, stat.st_mtime_ns
            except OSError:
                size = mtime = None
            entries.append([str(file.relative_to(path)), size, mtime])
        state.append([str(path.resolve()), entries])
    return state


def _row(
    sample_id: str, chosen: dict[str, ExperimentPeaks], labelled: Labelled | None = None
) -> dict[str, Any]:
    """The sample's ``PEAKS_SCHEMA`` row: 13C as structs (DEPT labels from ``labelled``),
    ``quality`` from every experiment and the reason DEPT labels were not used."""
    first = next(iter(chosen.values()))
    h1 = chosen.get("1H")
    c13 = chosen["13C"].peak_list() if "13C" in chosen else None
    spectrum = Spectrum(
        id=sample_id,
        c13=labelled.c13 if labelled is not None and labelled.c13 is not None else c13,
        h1=h1.peak_list() if h1 is not None else None,
        solvent=next((p.solvent for p in chosen.values() if p.solvent), None),
        field_mhz=h1.field_mhz if h1 is not None else first.field_mhz,
    )
    row = spectrum_to_row(spectrum)
    if spectrum.c13 is not None:
        row["c13"] = [c13_peak_to_struct(p) for p in spectrum.c13]
    flags = [f"{p.nucleus}: {flag}" for p in chosen.values() for flag in p.quality]
    if labelled is not None and labelled.message:
        flags.append(f"DEPT: {labelled.message}")
    row["quality"] = "; ".join(flags) or None
    return row


def _short(item: Skipped) -> str:
    """``<experiment>: <reason>`` without the full path the readers put in front."""
    reason = item.reason.removeprefix(f"{item.path}: ").removeprefix(f"{item.path}/")
    return f"{Path(item.path).name}: {reason}"
