"""1H signals: picked lines → multiplets with integrals, couplings and exclusion labels.

:func:`h1_signals` is the 1H half of :func:`~nmrpeak_cli.processing.pipeline.peaks_from_raw`
after lines are picked and referenced.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from nmrpeak_cli.processing import multiplets, reference
from nmrpeak_cli.processing.picking import Lines
from nmrpeak_cli.processing.types import ProcessedSpectrum, ProcessingOptions, Signal


def h1_signals(
    processed: ProcessedSpectrum,
    lines: Lines,
    solvent: str | None,
    options: ProcessingOptions,
    h_count: int | None,
) -> tuple[Signal, ...]:
    """1H multiplets from the picked, referenced ``lines`` of ``processed``: grouped and
    analysed (:mod:`~nmrpeak_cli.processing.multiplets`), integrated, scaled to ``h_count``
    protons when given, and labelled (solvent, water, TMS, grease, 13C satellites, baseline
    humps, minor signals); highest shift first."""
    residual = _residual_singlet(lines, solvent)
    residual_lines, lines = lines.take(residual), lines.take(~residual)
    lines = lines.take(_locally_significant(lines, processed.observe_mhz, options.max_gap_hz))
    if len(lines) == 0:
        return ()
    mhz = processed.observe_mhz
    x_hz = processed.ppm * mhz
    y = processed.intensity
    fwhm = float(np.median(lines.width_hz))
    found: list[tuple[np.ndarray, multiplets.MultipletShape]] = []
    for group in multiplets.group_lines(lines.ppm * mhz, options.max_gap_hz):
        positions = lines.ppm[group] * mhz
        window = (x_hz >= positions.min() - 3 * fwhm) & (x_hz <= positions.max() + 3 * fwhm)
        amplitudes = multiplets.line_amplitudes(x_hz[window], y[window], positions, fwhm)
        for part in multiplets.segment_lines(positions, amplitudes):
            shape = multiplets.analyse(positions[part], amplitudes[part])
            found.append((group[part], shape))
    found.sort(key=lambda item: -lines.ppm[item[0]].mean())
    integrals = _integrals(
        processed, lines, [members for members, _ in found], fwhm, residual_lines
    )
    signals = []
    for (members, shape), integral in zip(found, integrals, strict=True):
        signals.append(_h1_signal(lines.take(members), shape, integral, fwhm, solvent))
    for ppm, height, snr, width in zip(*_columns(residual_lines), strict=True):
        area = np.pi / 2 * height * width
        signals.append(
            Signal(
                ppm,
                height=height,
                snr=snr,
                integration=area,
                multiplicity="s",
                width_hz=width,
                label="solvent",
            )
        )
    signals.sort(key=lambda s: -s.shift)
    return _normalized(signals, h_count, processed.observe_mhz)


def _columns(lines: Lines) -> tuple[list[float], ...]:
    return tuple(
        [float(v) for v in column]
        for column in (lines.ppm, lines.height, lines.snr, lines.width_hz)
    )


def _locally_significant(
    lines: Lines, observe_mhz: float, window_hz: float, fraction: float = 0.015
) -> np.ndarray:
    """Lines at least ``fraction`` of the tallest line within ``window_hz``: weaker ones
    (13C satellites, truncation wiggles) would bridge separate multiplets. First-order outer
    lines are at least 1/64 of their multiplet's tallest line up to five couplings."""
    hz = lines.ppm * observe_mhz
    keep = np.ones(len(lines), dtype=bool)
    for start in range(0, len(lines), 1024):
        block = slice(start, start + 1024)
        near = np.abs(hz[block, None] - hz[None, :]) <= window_hz
        local_max = np.where(near, lines.height[None, :], 0.0).max(axis=1)
        keep[block] = lines.height[block] >= fraction * local_max
    return keep


def _residual_singlet(lines: Lines, solvent: str | None) -> np.ndarray:
    """Lines that are a singlet solvent residual (CHCl3 7.26...): the tallest line within
    0.015 ppm of the table shift, removed before multiplet analysis so it cannot spoil a
    neighbouring multiplet."""
    mask = np.zeros(len(lines), dtype=bool)
    for residual in reference.solvent_signals(solvent, "1H"):
        if residual.lines != 1:
            continue
        near = np.flatnonzero(np.abs(lines.ppm - residual.shift) <= 0.015)
        if near.size:
            mask[near[np.argmax(lines.height[near])]] = True
    return mask


def _h1_signal(
    lines: Lines,
    shape: multiplets.MultipletShape,
    integral: float,
    fwhm: float,
    solvent: str | None,
) -> Signal:
    lo, hi = float(lines.ppm.min()), float(lines.ppm.max())
    strong = lines.ppm[lines.height >= 0.35 * lines.height.max()]  # symmetric about the centre
    centre = (float(strong.min()) + float(strong.max())) / 2
    code = shape.multiplicity
    if code == "s" and float(lines.width_hz.max()) > 4 * fwhm:
        code = "br s"
    is_range = code == "m" and hi - lo > 0.0
    if code == "m":
        centre = float(np.average(lines.ppm, weights=lines.height))
    signal = Signal(
        centre,
        shift_lo=lo if is_range else None,
        shift_hi=hi if is_range else None,
        height=float(lines.height.max()),
        snr=float(lines.snr.max()),
        integration=integral,
        multiplicity=code,
        j_hz=shape.j_hz,
        width_hz=float(lines.width_hz.max()),
    )
    return replace(signal, label=_h1_label(signal, solvent, fwhm))


def _h1_label(signal: Signal, solvent: str | None, fwhm: float) -> str | None:
    singlet = signal.multiplicity in {"s", "br s"}
    if singlet and abs(signal.shift) <= 0.05:
        return "TMS"
    if signal.multiplicity == "br s" and signal.width_hz > max(20.0, 40 * fwhm):
        return "baseline"
    for residual in reference.solvent_signals(solvent, "1H"):
        # singlet residuals are removed line by line before grouping (_residual_singlet)
        if residual.lines > 1 and abs(signal.shift - residual.shift) <= 0.03:
            return "solvent"
    water = reference.WATER_H1.get(solvent or "")
    if water is not None and singlet and abs(signal.shift - water) <= 0.1:
        return "water"
    return None


def _integrals(
    processed: ProcessedSpectrum,
    lines: Lines,
    members: list[np.ndarray],
    fwhm: float,
    excluded: Lines,
) -> list[float]:
    """Sum of the spectrum over each multiplet ± 15 line widths (its widest line, at least the
    median width), split midway between neighbours, less the Lorentzian area (π/2 · height · width) of ``excluded`` lines inside."""
    mhz = processed.observe_mhz
    margins = [15 * max(fwhm, float(lines.width_hz[m].max())) / mhz for m in members]
    highs = [float(lines.ppm[m].max()) + g for m, g in zip(members, margins, strict=True)]
    lows = [float(lines.ppm[m].min()) - g for m, g in zip(members, margins, strict=True)]
    for i in range(len(members) - 1):  # members sorted by decreasing shift
        if lows[i] < highs[i + 1]:
            middle = (
                float(lines.ppm[members[i]].min()) + float(lines.ppm[members[i + 1]].max())
            ) / 2
            lows[i] = highs[i + 1] = middle
    ppm = processed.ppm
    step = abs(float(ppm[0] - ppm[1])) * mhz
    out = []
    for lo, hi in zip(lows, highs, strict=True):
        window = (ppm >= lo) & (ppm < hi)
        inside = (excluded.ppm >= lo) & (excluded.ppm < hi)
        overlap = float(np.sum(np.pi / 2 * excluded.height[inside] * excluded.width_hz[inside]))
        out.append(float(processed.intensity[window].sum()) * step - overlap)
    return out


def _normalized(
    signals: list[Signal], h_count: int | None, observe_mhz: float, min_protons: float = 0.25
) -> tuple[Signal, ...]:
    """Scale integrals to protons (:func:`_scaled`), then label signals below ``min_protons``
    (13C satellites, impurities) ``minor`` and scale again without them."""
    signals = [_with_grease_label(s, signals) for s in signals]
    signals = [_with_satellite_label(s, signals, observe_mhz) for s in signals]
    scaled = _scaled(signals, h_count)
    signals = [
        replace(s, label="minor") if t.label is None and (t.integration or 0.0) < min_protons else s
        for s, t in zip(signals, scaled, strict=True)
    ]
    return _scaled(signals, h_count)


#: Without a formula, 1H integrals further than this from whole proton counts on average
#: (sample signals) are flagged: vendor spectra and good FIDs stay under 0.2 H, FIDs with a
#: rolling baseline or distorted lines (aspirin's and ethyl crotonate's JCAMP FIDs) above.
MAX_COUNT_DEVIATION = 0.22


def count_flags(signals: tuple[Signal, ...] | list[Signal]) -> tuple[str, ...]:
    """Why the proton counts of ``signals`` (scaled without a formula) are unreliable: their
    integrals sit far from whole numbers on average (:data:`MAX_COUNT_DEVIATION`)."""
    counts = np.array([s.integration or 0.0 for s in signals if s.label is None])
    if counts.size < 2:
        return ()
    deviation = float(np.abs(counts - np.rint(counts)).mean())
    if deviation <= MAX_COUNT_DEVIATION:
        return ()
    return (
        f"proton counts unreliable: the integrals sit {deviation:.2f} H from whole numbers "
        "on average (no formula to scale them to; baseline or line-shape distortion)",
    )


def _scaled(signals: list[Signal], h_count: int | None) -> tuple[Signal, ...]:
    """Scale integrals to protons: the formula H count when known, else the scale that makes
    one signal 1, 2 or 3 H and the rest closest to whole numbers, none of them (among those
    above 8 % of the largest) under 0.75 H."""
    sample = [s.integration or 0.0 for s in signals if s.label is None]
    total = sum(v for v in sample if v > 0)
    if total <= 0:
        return tuple(signals)
    if h_count:
        scale = h_count / total
    else:
        values = np.array([v for v in sample if v >= 0.08 * max(sample)])
        ks = np.repeat([1, 2, 3], values.size)
        scales = ks / np.tile(values, 3)
        protons = np.outer(scales, values)
        error = (
            np.abs(protons - np.rint(protons)).mean(axis=1)
            + (protons < 0.75).mean(axis=1)
            + 0.15 * (ks - 1)
        )
        scale = float(scales[int(np.argmin(error))])
    return tuple(replace(s, integration=max(0.0, (s.integration or 0.0) * scale)) for s in signals)


def _with_satellite_label(signal: Signal, signals: list[Signal], observe_mhz: float) -> Signal:
    """Label ``satellite`` a weak signal (< 2 % of the height) with the same multiplicity and
    couplings as a signal 55–115 Hz away (half a one-bond 13C–1H coupling of 110–230 Hz)."""
    if signal.label is not None:
        return signal
    for parent in signals:
        distance_hz = abs(parent.shift - signal.shift) * observe_mhz
        if (
            55.0 <= distance_hz <= 115.0
            and signal.height < 0.02 * parent.height
            and signal.multiplicity == parent.multiplicity
            and np.allclose(signal.j_hz, parent.j_hz, atol=0.5)
        ):
            return replace(signal, label="satellite")
    return signal


def _with_grease_label(signal: Signal, signals: list[Signal]) -> Signal:
    if signal.label is not None or not any(
        abs(signal.shift - g) <= 0.02 for g in reference.GREASE_H1
    ):
        return signal
    sample = [s.integration or 0.0 for s in signals if s.label is None]
    if (signal.integration or 0.0) < 0.15 * float(np.median(sample)):
        return replace(signal, label="grease")
    return signal
