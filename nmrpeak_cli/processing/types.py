"""The value types of raw-data processing: options, processed spectrum, signals, peaks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

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
