"""What the generator reads: canonical spectra, input configurations, augmentation, batches.

Training and inference pass every spectrum through :func:`canonical_input` so the model sees
the same form either way: 13C as a list of distinct signals (shifts within
:data:`C13_MERGE_PPM` merged, integration dropped, because query tables list 13C signals
once), 1H peaks as given. The six input configurations of DESIGN.md §7 are views of one
spectrum (:func:`apply_configuration`); training draws them at random so one model serves
them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from nmrpeak_cli.spectra import Nucleus, Peak, PeakList, Spectrum

C13_MERGE_PPM = 0.05
"""13C shifts closer than this are one signal."""


@dataclass(frozen=True, slots=True)
class Configuration:
    """Which parts of a query the model sees."""

    name: str
    """Short label (``C+H+formula``)."""
    c13: bool
    """Use the 13C peaks."""
    h1: bool
    """Use the 1H peaks."""
    formula: bool
    """Use the molecular formula."""


CONFIGURATIONS: dict[str, Configuration] = {
    c.name: c
    for c in (
        Configuration("C", True, False, False),
        Configuration("H", False, True, False),
        Configuration("C+H", True, True, False),
        Configuration("C+formula", True, False, True),
        Configuration("H+formula", False, True, True),
        Configuration("C+H+formula", True, True, True),
    )
}
"""The six input configurations, by name."""


def configuration(name: str) -> Configuration:
    """Look up a configuration; the error lists the allowed names."""
    if name not in CONFIGURATIONS:
        raise ValueError(
            f"unknown input configuration {name!r}; expected one of {list(CONFIGURATIONS)}"
        )
    return CONFIGURATIONS[name]


def canonical_input(spectrum: Spectrum) -> Spectrum:
    """The spectrum as the generator reads it (13C signals merged, truth removed). A merged
    13C signal keeps the attached-H label (``n_h``, DEPT) its peaks agree on (a tokenizer
    with label tokens reads it, older ones ignore it; the similarity of the rerank and the
    search use it)."""
    c13 = spectrum.c13
    if c13:
        shifts = c13.shifts
        starts = np.flatnonzero(np.r_[True, np.abs(np.diff(shifts)) >= C13_MERGE_PPM])
        ends = np.r_[starts[1:], len(shifts)]
        merged = []
        for start, end in zip(starts, ends, strict=True):
            labels = {p.n_h for p in c13.peaks[start:end]}
            n_h = labels.pop() if len(labels) == 1 else None
            merged.append(Peak(float(shifts[start]), n_h=n_h))
        c13 = PeakList(Nucleus.C13, tuple(merged))
    return replace(spectrum, c13=c13 or None, h1=spectrum.h1 or None, smiles=None)


def apply_configuration(spectrum: Spectrum, config: Configuration) -> Spectrum:
    """Drop the parts of ``spectrum`` that ``config`` does not use."""
    return replace(
        spectrum,
        c13=spectrum.c13 if config.c13 else None,
        h1=spectrum.h1 if config.h1 else None,
        formula=spectrum.formula if config.formula else None,
    )


def available_configuration(spectrum: Spectrum) -> str:
    """Name of the configuration a spectrum's own content amounts to (``""`` when empty)."""
    parts = [p for p, present in (("C", bool(spectrum.c13)), ("H", bool(spectrum.h1))) if present]
    if not parts:
        return ""
    return "+".join(parts) + ("+formula" if spectrum.formula else "")


@dataclass(frozen=True, slots=True)
class Augmentation:
    """Random perturbations that make a model trained on clean spectra tolerate real ones."""

    c13_jitter_ppm: float = 0.8
    """Standard deviation of Gaussian 13C shift noise (one offset per spectrum plus per peak)."""
    h1_jitter_ppm: float = 0.05
    """Standard deviation of Gaussian 1H shift noise."""
    drop_peak: float = 0.05
    """Probability of dropping each peak."""
    duplicate_peak: float = 0.02
    """Probability of duplicating each peak (a split or an impurity)."""
    integration_noise: float = 0.1
    """Probability of changing a 1H integration by ±1."""
    drop_multiplicity: float = 0.3
    """Probability of removing every 1H multiplicity of a spectrum."""
    p_c13_only: float = 0.2
    """Probability of hiding the 1H block (when both are present)."""
    p_h1_only: float = 0.2
    """Probability of hiding the 13C block (when both are present)."""
    p_no_formula: float = 0.4
    """Probability of hiding the formula."""
    p_labels: float = 0.5
    """Probability that a spectrum whose 13C peaks carry attached-H labels (DEPT) keeps
    them (label dropout: one model serves labelled and unlabelled queries). Spectra without
    labels draw nothing for it, so their augmentation is as before."""
    drop_label: float = 0.1
    """Probability of removing each kept label (a DEPT line lost in noise or overlap)."""


def augment(spectrum: Spectrum, rng: np.random.Generator, aug: Augmentation) -> Spectrum:
    """A randomly perturbed view of a canonical training spectrum (input configuration too)."""
    c13, h1 = spectrum.c13, spectrum.h1
    if c13 and h1:
        draw = rng.random()
        if draw < aug.p_c13_only:
            h1 = None
        elif draw < aug.p_c13_only + aug.p_h1_only:
            c13 = None
    c13 = _perturb(c13, rng, aug.c13_jitter_ppm, aug) if c13 else None
    h1 = _perturb(h1, rng, aug.h1_jitter_ppm, aug) if h1 else None
    formula = spectrum.formula if rng.random() >= aug.p_no_formula else None
    if not c13 and not h1:  # never train on an empty input
        c13, h1 = spectrum.c13, spectrum.h1
    if c13 and any(p.n_h is not None for p in c13):
        c13 = _label_dropout(c13, rng, aug)
    return replace(spectrum, c13=c13 or None, h1=h1 or None, formula=formula)


def _label_dropout(peaks: PeakList, rng: np.random.Generator, aug: Augmentation) -> PeakList:
    """``peaks`` with every label removed (probability ``1 - p_labels``), else each label
    removed with probability ``drop_label``."""
    keep_all = rng.random() < aug.p_labels
    drop = rng.random(len(peaks)) < aug.drop_label
    return PeakList(
        peaks.nucleus,
        tuple(
            p if keep_all and not gone else replace(p, n_h=None)
            for p, gone in zip(peaks, drop, strict=True)
        ),
    )


def _perturb(
    peaks: PeakList, rng: np.random.Generator, jitter: float, aug: Augmentation
) -> PeakList | None:
    low, high = peaks.nucleus.shift_range
    offset = rng.normal(0.0, jitter / 2)
    no_multiplicity = rng.random() < aug.drop_multiplicity
    out: list[Peak] = []
    for peak in peaks:
        if rng.random() < aug.drop_peak:
            continue
        shift = float(np.clip(peak.shift + offset + rng.normal(0.0, jitter / 2), low, high))
        integration = peak.integration
        if integration is not None and rng.random() < aug.integration_noise:
            integration = max(1.0, integration + rng.choice((-1.0, 1.0)))
        multiplicity = None if no_multiplicity else peak.multiplicity
        new = Peak(shift, integration=integration, multiplicity=multiplicity, n_h=peak.n_h)
        out.append(new)
        if rng.random() < aug.duplicate_peak:
            out.append(
                Peak(
                    float(np.clip(shift + rng.normal(0, jitter), low, high)),
                    integration=integration,
                    multiplicity=multiplicity,
                    n_h=peak.n_h,
                )
            )
    return PeakList(peaks.nucleus, tuple(out)) if out else None


def pad_batch(sequences: Sequence[Sequence[int]], pad: int = 0) -> np.ndarray:
    """Right-padded ``(len(sequences), longest)`` int64 array."""
    width = max((len(s) for s in sequences), default=0)
    out = np.full((len(sequences), max(width, 1)), pad, dtype=np.int64)
    for i, seq in enumerate(sequences):
        out[i, : len(seq)] = seq
    return out
