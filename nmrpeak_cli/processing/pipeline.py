"""Raw experiment → processed spectrum → 13C peaks or 1H multiplets, every parameter recorded."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from nmrpeak_cli.io.raw import RawDataError, RawSpectrum
from nmrpeak_cli.processing import baseline as baseline_
from nmrpeak_cli.processing import multiplets, phase, reference, transform
from nmrpeak_cli.processing.picking import Lines, pick_lines
from nmrpeak_cli.solvents import normalize_solvent
from nmrpeak_cli.spectra import Nucleus, Peak, PeakList

ReferenceMode = Literal["auto", "tms", "solvent", "none"]


@dataclass(frozen=True, slots=True)
class ProcessingOptions:
    """How raw data become peaks.

    Attributes
    ----------
    lb_c13_hz, lb_h1_hz
        Exponential line broadening, Hz.
    min_snr_c13, min_snr_h1
        Minimum line height (and prominence) in noise standard deviations.
    min_relative_c13
        13C lines lower than this fraction of the tallest sample line are labelled ``minor``
        (impurities, spinning sidebands) and not reported.
    baseline_order
        Chebyshev order of the baseline.
    reference
        ``auto``: a lone TMS line within 0.03 ppm of 0 (1H), else the solvent multiplet (13C
        triplet/quintet/septet within 0.5 ppm, 1H quintet/septet within 0.05 ppm) when its
        whole line pattern is found; ``tms``/``solvent``: only that one, singlets included;
        ``none``: keep the instrument's axis (already referenced for TopSpin/VnmrJ data).
    max_gap_hz
        1H lines further apart than this never belong to one multiplet.
    """

    lb_c13_hz: float = 1.0
    lb_h1_hz: float = 0.3
    min_snr_c13: float = 8.0
    min_snr_h1: float = 8.0
    min_relative_c13: float = 0.05
    baseline_order: int = 5
    reference: ReferenceMode = "auto"
    max_gap_hz: float = 20.0

    def __post_init__(self) -> None:
        if self.reference not in {"auto", "tms", "solvent", "none"}:
            raise ValueError(
                f"reference: got {self.reference!r}; expected 'auto', 'tms', 'solvent' or 'none'"
            )
        for name in ("lb_c13_hz", "lb_h1_hz", "min_snr_c13", "min_snr_h1", "min_relative_c13"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: got {getattr(self, name)!r}; expected a value >= 0")
        if self.max_gap_hz <= 0 or self.baseline_order < 0:
            raise ValueError(
                f"max_gap_hz must be > 0 and baseline_order >= 0; got {self.max_gap_hz!r}, "
                f"{self.baseline_order!r}"
            )


@dataclass(frozen=True, slots=True)
class ProcessedSpectrum:
    """A phased, baseline-corrected real spectrum and how it was made.

    Attributes
    ----------
    ppm
        Shift of each point, decreasing, ppm.
    intensity
        Real spectrum, baseline removed.
    nucleus
        ``"13C"`` or ``"1H"``.
    observe_mhz
        Spectrometer frequency of the nucleus, MHz.
    noise
        Noise standard deviation, intensity units.
    steps
        ``(step name, parameters)`` in the order applied.
    """

    ppm: np.ndarray
    intensity: np.ndarray
    nucleus: str
    observe_mhz: float
    noise: float
    steps: tuple[tuple[str, dict], ...] = ()


@dataclass(frozen=True, slots=True)
class Signal:
    """One picked 13C line or 1H multiplet, reported or excluded.

    Attributes
    ----------
    shift
        Centre, ppm.
    shift_lo, shift_hi
        Outer lines of a 1H ``m`` multiplet, ppm (``None`` otherwise).
    height
        Tallest line, intensity units.
    snr
        ``height / noise``.
    integration
        1H: protons (normalized); 13C: ``None``.
    multiplicity
        1H multiplicity code; 13C: ``None``.
    j_hz
        1H couplings, Hz, largest first.
    width_hz
        Width at half height of the widest line, Hz.
    label
        Why it is excluded: ``solvent``, ``water``, ``TMS``, ``grease``, ``satellite`` (1H 13C
        satellite), ``baseline`` (1H hump over 40 line widths wide), ``minor`` (1H signal
        under 0.25 H, 13C line under 5 % of the tallest: impurities); ``None`` for a sample
        signal.
    """

    shift: float
    shift_lo: float | None = None
    shift_hi: float | None = None
    height: float = 0.0
    snr: float = 0.0
    integration: float | None = None
    multiplicity: str | None = None
    j_hz: tuple[float, ...] = ()
    width_hz: float = 0.0
    label: str | None = None

    def to_peak(self) -> Peak:
        """As a :class:`~nmrpeak_cli.spectra.Peak` (shift, range, integration, multiplicity, J)."""
        return Peak(
            round(self.shift, 4),
            shift_lo=None if self.shift_lo is None else round(self.shift_lo, 4),
            shift_hi=None if self.shift_hi is None else round(self.shift_hi, 4),
            integration=None if self.integration is None else round(self.integration, 2),
            multiplicity=self.multiplicity,
            j_hz=self.j_hz,
        )


@dataclass(frozen=True, slots=True)
class ExperimentPeaks:
    """Peaks of one experiment with the metadata needed to build a query row.

    Attributes
    ----------
    source, sample, title
        Where it came from (path, sample name, title text).
    nucleus
        ``"13C"`` or ``"1H"``.
    solvent
        Canonical solvent name or ``None``.
    field_mhz
        1H spectrometer frequency, MHz.
    temperature_k
        Sample temperature, K, or ``None``.
    spectrum
        The processed spectrum (with its recorded steps).
    signals
        Every picked signal, reported and excluded, highest shift first.
    quality
        Why the peaks may be unreliable (unreferenced axis, distorted line shape); empty
        when nothing was noticed.
    """

    source: str
    sample: str
    title: str
    nucleus: str
    solvent: str | None
    field_mhz: float
    temperature_k: float | None
    spectrum: ProcessedSpectrum
    signals: tuple[Signal, ...] = field(default_factory=tuple)
    quality: tuple[str, ...] = ()

    def peak_list(self) -> PeakList:
        """The sample's peaks (excluded signals left out)."""
        peaks = tuple(s.to_peak() for s in self.signals if s.label is None)
        return PeakList(Nucleus.parse(self.nucleus), peaks)

    @property
    def excluded(self) -> tuple[Signal, ...]:
        """Signals left out of :meth:`peak_list` (solvent, water, TMS, grease)."""
        return tuple(s for s in self.signals if s.label is not None)


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
        quality=quality_flags(raw, processed),
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
    residual = _residual_singlet(lines, solvent)
    residual_lines, lines = lines.take(residual), lines.take(~residual)
    lines = lines.take(_locally_significant(lines, processed.observe_mhz, options.max_gap_hz))
    if len(lines) == 0:
        return processed, ()
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
    return processed, _normalized(signals, h_count, processed.observe_mhz)


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
