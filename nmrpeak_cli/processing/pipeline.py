"""Raw experiment → processed spectrum → 13C peaks or 1H multiplets, every parameter recorded."""

from __future__ import annotations

import numpy as np

from nmrpeak_cli.io.raw import RawDataError, RawSpectrum
from nmrpeak_cli.processing import baseline as baseline_
from nmrpeak_cli.processing import h1, phase, reference, transform
from nmrpeak_cli.processing.picking import Lines, pick_lines
from nmrpeak_cli.processing.types import (
    ExperimentPeaks,
    ProcessedSpectrum,
    ProcessingOptions,
    ReferenceMode,
    Signal,
)
from nmrpeak_cli.solvents import normalize_solvent
from nmrpeak_cli.spectra import Nucleus

__all__ = [
    "ExperimentPeaks",
    "ProcessedSpectrum",
    "ProcessingOptions",
    "ReferenceMode",
    "Signal",
    "peaks_from_raw",
    "process",
    "quality_flags",
]


# --------------------------------------------------------------------------------------------
# Processing
# --------------------------------------------------------------------------------------------


def process(
    raw: RawSpectrum, options: ProcessingOptions = ProcessingOptions()
) -> ProcessedSpectrum:
    """FID or instrument spectrum → phased, baseline-corrected real spectrum on a ppm axis.

    Time-domain data: digital-filter removal, exponential apodization, zero-filling to twice
    the next power of two, Fourier transform, automatic phase correction. Frequency-domain
    data (already phased by the instrument): the real part. Both: baseline correction and
    noise estimation.
    """
    steps: list[tuple[str, dict]] = []
    if raw.domain == "time":
        lb = options.lb_c13_hz if raw.nucleus == "13C" else options.lb_h1_hz
        fid = np.conj(raw.data) if raw.conjugate else raw.data
        delays = [raw.group_delay] if raw.group_delay else [0.0, transform.estimate_delay(fid)]
        size = transform.default_size(fid.size)
        candidates = [
            (0, *_phased(fid, delay, lb, raw.sweep_hz, size)) for delay in sorted(set(delays))
        ]
        if not raw.group_delay:
            # no digital filter, but a first-order phase of whole dwell times: the FID was
            # acquired late; rebuild its first points rather than phase a rolling baseline.
            # Two estimates of the delay: the fitted first-order phase, the peak-phase ramp.
            estimates = {
                round(candidates[0][2][1] / 360.0),
                phase.whole_point_delay(_spectrum(fid, lb, raw, size)),
            }
            for late in sorted(k for k in estimates if k > 0):
                rebuilt = transform.backward_predict(fid, late)
                candidates.append((late, *_phased(rebuilt, 0.0, lb, raw.sweep_hz, size)))
        late, delay, (p0, p1), real = min(candidates, key=lambda c: _negativity(c[3]))
        if late:
            steps.append(("backward_prediction", {"points": late}))
        steps += [
            ("remove_digital_filter", {"group_delay": delay, "conjugate": raw.conjugate}),
            ("exponential", {"lb_hz": lb}),
            ("zero_fill", {"size": size}),
            ("fourier_transform", {}),
            ("phase", {"p0_deg": round(p0, 2), "p1_deg": round(p1, 2)}),
        ]
        ppm = transform.frequency_axis_ppm(size, raw.sweep_hz, raw.observe_mhz, raw.carrier_ppm)
    else:
        real = np.real(raw.data).astype(np.float64)
        size = real.size
        ppm = raw.first_ppm - np.arange(size) * raw.sweep_hz / raw.observe_mhz / size
        steps.append(("instrument_spectrum", {"first_ppm": raw.first_ppm, "size": size}))
    noise = baseline_.estimate_noise(real)
    real = real - baseline_.baseline(real, noise, order=options.baseline_order)
    steps.append(("baseline", {"order": options.baseline_order}))
    noise = baseline_.estimate_noise(real)
    steps.append(("noise", {"std": float(noise)}))
    return ProcessedSpectrum(ppm, real, raw.nucleus, raw.observe_mhz, noise, tuple(steps))


def _phased(
    fid: np.ndarray, delay: float, lb_hz: float, sweep_hz: float, size: int
) -> tuple[float, tuple[float, float], np.ndarray]:
    """Filter removal, apodization, zero-fill, FT and automatic phasing with one delay."""
    data = transform.exponential(transform.remove_digital_filter(fid, delay), lb_hz, sweep_hz)
    spectrum = transform.fourier_transform(transform.zero_fill(data, size))
    p0, p1 = phase.autophase(spectrum)
    return delay, (p0, p1), phase.apply_phase(spectrum, p0, p1).real


def _spectrum(fid: np.ndarray, lb_hz: float, raw: RawSpectrum, size: int) -> np.ndarray:
    """Unphased complex spectrum of ``fid`` (apodized, zero-filled)."""
    data = transform.exponential(fid, lb_hz, raw.sweep_hz)
    return transform.fourier_transform(transform.zero_fill(data, size))


def _negativity(real: np.ndarray) -> float:
    """Share of the spectrum's power below zero (dispersive, badly phased spectra score high)."""
    return float(np.sum(np.minimum(real, 0.0) ** 2) / (np.sum(real**2) + 1e-300))


def peaks_from_raw(
    raw: RawSpectrum,
    options: ProcessingOptions = ProcessingOptions(),
    *,
    h_count: int | None = None,
) -> ExperimentPeaks:
    """Process one raw experiment and pick its peaks.

    Parameters
    ----------
    raw
        A 1D 13C or 1H experiment.
    options
        Processing and picking parameters.
    h_count
        1H: number of protons the integrals are normalized to (the formula's H count).

    Raises
    ------
    RawDataError
        Other nuclei, DEPT/APT experiments, no signal above the noise.
    """
    if raw.nucleus not in {"13C", "1H"}:
        raise RawDataError(
            f"{raw.source}: nucleus {raw.nucleus or '?'}; only 13C and 1H are supported"
        )
    if raw.is_dept:
        raise RawDataError(
            f"{raw.source}: {raw.experiment} is an edited 13C experiment (DEPT/APT); "
            "not used as a 13C peak list"
        )
    solvent = _solvent(raw.solvent)
    processed = process(raw, options)
    if raw.nucleus == "13C":
        processed, signals, solvent = _c13_signals(processed, solvent, options)
    else:
        processed, signals = _h1_signals(processed, solvent, options, h_count)
    if not any(s.label is None for s in signals):
        threshold = options.min_snr_c13 if raw.nucleus == "13C" else options.min_snr_h1
        raise RawDataError(f"{raw.source}: no {raw.nucleus} signal above S/N {threshold:g}")
    return ExperimentPeaks(
        source=raw.source,
        sample=raw.sample,
        title=raw.title,
        nucleus=raw.nucleus,
        solvent=solvent,
        field_mhz=round(raw.field_mhz, 2),
        temperature_k=raw.temperature_k,
        spectrum=processed,
        signals=signals,
        quality=quality_flags(raw, processed)
        + (h1.count_flags(signals) if raw.nucleus == "1H" and not h_count else ()),
    )


#: 1H spectra whose deepest dip below the baseline exceeds this share of the tallest line are
#: flagged (well-phased spectra, vendor-processed or FIDs, stay under 0.2 %).
MAX_H1_DIP = 0.005


def quality_flags(raw: RawSpectrum, processed: ProcessedSpectrum) -> tuple[str, ...]:
    """Reasons the peaks of ``processed`` may be unreliable.

    - an unreferenced FID (:attr:`RawSpectrum.referenced` false) where neither TMS nor a
      solvent pattern was found: shifts follow the instrument's frequency;
    - 1H: dips below the baseline deeper than :data:`MAX_H1_DIP` of the tallest line
      (residual phase error or a distorted line shape): integrals and multiplets suffer.
    """
    flags = []
    referenced = any(name == "reference" for name, _ in processed.steps)
    if raw.domain == "time" and not raw.referenced and not referenced:
        flags.append(
            "not referenced: the file gives no shift reference and no TMS line (within 0.03 "
            "ppm of 0) or solvent pattern was found; shifts may be off by 0.1 ppm or more"
        )
    tallest = float(processed.intensity.max())
    dip = -float(processed.intensity.min()) / tallest if tallest > 0 else 0.0
    if processed.nucleus == "1H" and dip > MAX_H1_DIP:
        flags.append(
            f"distorted line shape: dips below the baseline reach {100 * dip:.1f} % of the "
            "tallest line (phase or shimming); integrals and multiplicities are unreliable"
        )
    return tuple(flags)


def _solvent(text: str | None) -> str | None:
    solvent = normalize_solvent(text)
    if solvent == "other" and text:
        solvent = normalize_solvent(str(text).split()[0])
    return None if solvent == "other" else solvent


# --------------------------------------------------------------------------------------------
# Referencing
# --------------------------------------------------------------------------------------------


def _reference_offset(
    lines: Lines, nucleus: str, solvent: str | None, observe_mhz: float, mode: ReferenceMode
) -> tuple[float, str | None]:
    """ppm to add to the axis, and what it was referenced to."""
    if mode == "none" or len(lines) == 0:
        return 0.0, None
    if mode in {"auto", "tms"} and nucleus == "1H":
        near = np.abs(lines.ppm) <= (0.03 if mode == "auto" else 0.3)
        if near.any():
            tallest = int(np.argmax(np.where(near, lines.height, -np.inf)))
            others = near.copy()
            others[tallest] = False
            if not (lines.height[others] > 0.05 * lines.height[tallest]).any():
                return -float(lines.ppm[tallest]), "TMS"
    if mode == "tms":
        return 0.0, None
    for signal in reference.solvent_signals(solvent, nucleus)[:1]:
        if mode == "auto" and (signal.lines == 1 or (nucleus == "1H" and signal.lines < 5)):
            # a singlet (or a barely split 1H triplet) near the table shift may be the
            # sample's own signal: only distinctive patterns are trusted automatically
            return 0.0, None
        window, tolerance = (0.5, 1.5) if nucleus == "13C" else (0.05, 0.3)
        centre = reference.find_pattern(
            lines.ppm, lines.height, signal, observe_mhz, window_ppm=window, tolerance_hz=tolerance
        )
        if centre is not None:
            return signal.shift - centre, f"{solvent} {signal.shift:g} ppm"
    return 0.0, None


def _referenced(
    processed: ProcessedSpectrum, lines: Lines, solvent: str | None, mode: ReferenceMode
) -> tuple[ProcessedSpectrum, Lines]:
    offset, target = _reference_offset(
        lines, processed.nucleus, solvent, processed.observe_mhz, mode
    )
    if target is None:
        return processed, lines
    step = ("reference", {"to": target, "offset_ppm": round(offset, 4)})
    shifted = ProcessedSpectrum(
        processed.ppm + offset,
        processed.intensity,
        processed.nucleus,
        processed.observe_mhz,
        processed.noise,
        (*processed.steps, step),
    )
    moved = Lines(lines.ppm + offset, lines.height, lines.snr, lines.width_hz)
    return shifted, moved


def _in_range(lines: Lines, nucleus: str) -> Lines:
    """Lines inside the plausible shift range of ``nucleus`` (edge artifacts, folded peaks out)."""
    low, high = Nucleus.parse(nucleus).shift_range
    return lines.take((lines.ppm >= low) & (lines.ppm <= high))


# --------------------------------------------------------------------------------------------
# 13C
# --------------------------------------------------------------------------------------------


def _c13_signals(
    processed: ProcessedSpectrum, solvent: str | None, options: ProcessingOptions
) -> tuple[ProcessedSpectrum, tuple[Signal, ...], str | None]:
    """13C lines, solvent lines labelled; the solvent is recognised from its 13C multiplet
    when the parameters do not name it (returned with the signals)."""
    lines = pick_lines(
        processed.ppm,
        processed.intensity,
        processed.noise,
        processed.observe_mhz,
        min_snr=options.min_snr_c13,
    )
    solvent = solvent or _c13_solvent(lines, processed.observe_mhz)
    processed, lines = _referenced(processed, lines, solvent, options.reference)
    lines = _in_range(lines, "13C")
    labels = np.full(len(lines), None, dtype=object)
    for signal in reference.solvent_signals(solvent, "13C"):
        labels[_solvent_lines(lines, signal, processed.observe_mhz)] = "solvent"
    sample = labels == None  # noqa: E711 (element-wise on an object array)
    if sample.any():
        tallest = float(lines.height[sample].max())
        labels[sample & (lines.height < options.min_relative_c13 * tallest)] = "minor"
    signals = tuple(
        Signal(float(p), height=float(h), snr=float(s), width_hz=float(w), label=label)
        for p, h, s, w, label in zip(
            lines.ppm, lines.height, lines.snr, lines.width_hz, labels, strict=True
        )
    )
    return processed, signals, solvent


def _solvent_lines(lines: Lines, signal: reference.SolventSignal, observe_mhz: float) -> np.ndarray:
    """Lines of the solvent multiplet ``signal``: the line nearest each pattern position
    (within 1.5 Hz plus its width) around the centre found near the table shift, so sample
    lines between or beside the solvent lines (CH2N carbons beside the CD2Cl2 quintet) stay
    sample lines."""
    centre = reference.find_pattern(
        lines.ppm, lines.height, signal, observe_mhz, window_ppm=0.5, tolerance_hz=1.5
    )
    if centre is None:
        centre = signal.shift
    offsets = (np.arange(signal.lines) - (signal.lines - 1) / 2) * signal.j_hz / observe_mhz
    mask = np.zeros(len(lines), dtype=bool)
    if len(lines) == 0:
        return mask
    for position in centre + offsets:
        distance_hz = np.abs(lines.ppm - position) * observe_mhz
        nearest = int(np.argmin(distance_hz))
        mask[nearest] |= bool(distance_hz[nearest] <= 1.5 + lines.width_hz[nearest])
    return mask


def _c13_solvent(lines: Lines, observe_mhz: float) -> str | None:
    """The deuterated solvent whose 13C multiplet (triplet, quintet or septet) is found
    within 0.5 ppm of its table shift with the largest summed height, or ``None``."""
    best, best_height = None, 0.0
    for name, signals in reference.SOLVENT_C13.items():
        pattern = signals[0]
        if pattern.lines < 3:
            continue
        centre = reference.find_pattern(
            lines.ppm, lines.height, pattern, observe_mhz, window_ppm=0.5, tolerance_hz=1.5
        )
        if centre is None:
            continue
        height = float(lines.height[np.abs(lines.ppm - centre) < 0.02].max())
        if height > best_height:
            best, best_height = name, height
    return best


# --------------------------------------------------------------------------------------------
# 1H
# --------------------------------------------------------------------------------------------


def _h1_signals(
    processed: ProcessedSpectrum,
    solvent: str | None,
    options: ProcessingOptions,
    h_count: int | None,
) -> tuple[ProcessedSpectrum, tuple[Signal, ...]]:
    """1H lines picked and referenced here, turned into signals by :func:`h1.h1_signals`."""
    lines = pick_lines(
        processed.ppm,
        processed.intensity,
        processed.noise,
        processed.observe_mhz,
        min_snr=options.min_snr_h1,
        min_relative=0.002,
    )
    processed, lines = _referenced(processed, lines, solvent, options.reference)
    lines = _in_range(lines, "1H")
    return processed, h1.h1_signals(processed, lines, solvent, options, h_count)
