"""DEPT-135/90 → attached-H labels (C, CH, CH2, CH3) of the 13C peaks of the same sample.

A DEPT-135 spectrum shows CH and CH3 carbons positive and CH2 negative; a DEPT-90 shows CH
only; quaternary carbons are missing from both. :func:`dept_lines` processes one DEPT
experiment and picks its lines with their sign; :func:`attached_h` labels 13C peaks from
them:

- no DEPT-135 line → C (0); a negative one → CH2 (2);
- a positive one → CH (1) when DEPT-90 shows it, CH3 (3) when a DEPT-90 was recorded and does
  not; without DEPT-90, CH above 65 ppm (no methyl carbon resonates there) and unknown below.

The sign of a line is the whole point, and automatic phasing of a DEPT FID fixes its phase
only up to 180° (its lines may be negative). The sample's 13C FID is phased first (all its
lines are positive, so its phase is absolute); the DEPT's phase is then the branch closest to
the 13C's phase at the DEPT's lines (:class:`PhaseReference`): the two experiments share the
receiver and the delays, so they differ by a few tens of degrees, never by 180°. Without a
13C FID a DEPT-90 (all lines CH, positive) orients itself and a DEPT-135 from the lines it
shares with it; a DEPT-135 FID with neither gives no labels.

Problems give a message and no labels (the 13C peaks are kept): DEPT lines that do not match
the 13C lines (another sample), a phase-inverted DEPT (DEPT-90 lines negative, or most
DEPT-135 lines above 100 ppm negative), a DEPT FID whose sign cannot be fixed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from nmrpeak_cli.io.raw import RawDataError, RawSpectrum
from nmrpeak_cli.processing import baseline as baseline_
from nmrpeak_cli.processing import phase, transform
from nmrpeak_cli.processing.picking import pick_lines
from nmrpeak_cli.processing.types import ProcessedSpectrum
from nmrpeak_cli.spectra import PeakList

#: 13C lines and DEPT lines closer than this are the same carbon, ppm (after the offset).
MATCH_PPM = 0.1
#: A DEPT-90 line is CH when its height relative to DEPT-135 reaches this share of the largest
#: such ratio (methyl lines leak into imperfect DEPT-90 spectra at a few per cent).
CH_RATIO = 0.4
#: Shift above which a positive DEPT-135 line is taken as CH without a DEPT-90, ppm.
CH_ONLY_ABOVE_PPM = 65.0
#: A DEPT FID's phase further than this from the 13C's at its lines (after choosing the
#: nearer 180° branch) leaves the sign in doubt, degrees.
MAX_PHASE_DIFFERENCE_DEG = 60.0


@dataclass(frozen=True, slots=True)
class DeptLines:
    """Signed lines of one DEPT experiment.

    Attributes
    ----------
    kind
        ``"DEPT-135"`` or ``"DEPT-90"``.
    source
        Path of the experiment.
    sample
        Sample name of the experiment.
    ppm
        Line positions, ppm.
    height
        Signed heights (noise units): the sign is the DEPT phase of the line.
    orientation
        What fixed the sign: ``"spectrum"`` (an instrument spectrum, phased by its operator),
        ``"13C phase"`` (a FID phased here, oriented by the sample's 13C phase), or ``None``
        (a FID with nothing to orient it: the signs are right up to one common flip, which
        :func:`attached_h` settles from a DEPT-90 or refuses).
    """

    kind: str
    source: str
    sample: str
    ppm: np.ndarray
    height: np.ndarray
    orientation: str | None = "spectrum"


@dataclass(frozen=True, slots=True)
class PhaseReference:
    """The phase correction of the sample's 13C FID as a function of shift: the anchor that
    fixes the 180° left open by phasing a DEPT FID.

    Attributes
    ----------
    p0_deg, p1_deg
        The 13C's zero- and first-order phase (:func:`~nmrpeak_cli.processing.phase.apply_phase`
        convention: pivot at the centre of the spectrum).
    first_ppm
        Shift of the first point of the 13C spectrum.
    span_ppm
        Its points times the shift step (the sweep width in ppm).
    observe_mhz
        Its spectrometer frequency: a DEPT recorded on another spectrometer shares no
        receiver phase with it and is not oriented by it.
    """

    p0_deg: float
    p1_deg: float
    first_ppm: float
    span_ppm: float
    observe_mhz: float = 0.0

    def applies_to(self, observe_mhz: float) -> bool:
        """Whether a DEPT at ``observe_mhz`` was recorded on the same spectrometer (within
        0.1 %, as the observe frequency moves with the carrier)."""
        return abs(observe_mhz - self.observe_mhz) <= 1e-3 * self.observe_mhz

    def at(self, ppm: np.ndarray) -> np.ndarray:
        """The 13C's phase correction at these shifts, degrees."""
        x = (self.first_ppm - np.asarray(ppm, dtype=np.float64)) / self.span_ppm
        return self.p0_deg + self.p1_deg * (x - 0.5)

    def p1_over(self, span_ppm: float) -> float:
        """The same phase slope as a first-order phase over a spectrum ``span_ppm`` wide."""
        return self.p1_deg * span_ppm / self.span_ppm


def phase_reference(spectrum: ProcessedSpectrum) -> PhaseReference | None:
    """The :class:`PhaseReference` of a processed 13C spectrum, ``None`` when it was not
    phased here (an instrument spectrum)."""
    steps = dict(spectrum.steps)
    if "phase" not in steps or spectrum.ppm.size < 2:
        return None
    step = float(spectrum.ppm[0] - spectrum.ppm[1])
    return PhaseReference(
        float(steps["phase"]["p0_deg"]),
        float(steps["phase"]["p1_deg"]),
        float(spectrum.ppm[0]),
        step * spectrum.ppm.size,
        float(spectrum.observe_mhz),
    )


def dept_kind(raw: RawSpectrum) -> str | None:
    """``"DEPT-135"``, ``"DEPT-90"`` or ``None`` (not a DEPT, or DEPT-45/APT) from the pulse
    program (``dept135``, ``deptsp135``, ``dept90``, ``deptqgpsp``...; a bare ``dept`` is the
    usual 135° variant)."""
    name = raw.experiment.lower()
    if raw.nucleus != "13C" or "dept" not in name:
        return None
    if "90" in name:
        return "DEPT-90"
    if "45" in name:
        return None
    return "DEPT-135"


def dept_lines(
    raw: RawSpectrum,
    *,
    min_snr: float = 8.0,
    lb_hz: float = 1.0,
    reference: PhaseReference | None = None,
) -> DeptLines:
    """Process a DEPT experiment and pick its positive and negative lines.

    Time-domain data are phased sign-free
    (:func:`~nmrpeak_cli.processing.phase.autophase_signed`) and oriented by ``reference``,
    the phase of the sample's 13C FID: of the two phases 180° apart that fit, the one nearer
    the 13C's at the DEPT's lines. Without a reference (or with one from another
    spectrometer) the lines keep an open sign (``orientation`` ``None``). An instrument
    spectrum keeps the operator's phase.

    Raises
    ------
    RawDataError
        Not a DEPT-135/90 experiment, no line above ``min_snr``, or a FID whose phase differs
        from the 13C's by about 90° at its lines (its sign cannot be told).
    """
    kind = dept_kind(raw)
    if kind is None:
        raise RawDataError(f"{raw.source}: {raw.experiment or '?'} is not a DEPT-135/90 experiment")
    orientation: str | None = "spectrum"
    if raw.domain == "time":
        fid = np.conj(raw.data) if raw.conjugate else raw.data
        data = transform.exponential(
            transform.remove_digital_filter(fid, raw.group_delay), lb_hz, raw.sweep_hz
        )
        size = transform.default_size(data.size)
        spectrum = transform.fourier_transform(transform.zero_fill(data, size))
        ppm = transform.frequency_axis_ppm(size, raw.sweep_hz, raw.observe_mhz, raw.carrier_ppm)
        span = float(ppm[0] - ppm[1]) * size
        if reference is not None and not reference.applies_to(raw.observe_mhz):
            reference = None  # another spectrometer's 13C: its phase says nothing here
        p1_hint = None if reference is None else reference.p1_over(span)
        p0, p1 = phase.autophase_signed(spectrum, p1_deg=p1_hint)
        orientation = None
        if reference is not None:
            p0 = _orient(spectrum, ppm, p0, p1, reference, raw.source, kind)
            orientation = "13C phase"
        real = phase.apply_phase(spectrum, p0, p1).real
    else:
        real = np.real(raw.data).astype(np.float64)
        ppm = raw.first_ppm - np.arange(real.size) * raw.sweep_hz / raw.observe_mhz / real.size
    real = real - np.median(real)
    noise = baseline_.estimate_noise(real)
    up = pick_lines(ppm, real, noise, raw.observe_mhz, min_snr=min_snr)
    down = pick_lines(ppm, -real, noise, raw.observe_mhz, min_snr=min_snr)
    positions = np.concatenate([up.ppm, down.ppm])
    heights = np.concatenate([up.snr, -down.snr])
    if positions.size == 0:
        raise RawDataError(f"{raw.source}: no {kind} line above S/N {min_snr:g}")
    order = np.argsort(-positions)
    return DeptLines(kind, raw.source, raw.sample, positions[order], heights[order], orientation)


def _orient(
    spectrum: np.ndarray,
    ppm: np.ndarray,
    p0: float,
    p1: float,
    reference: PhaseReference,
    source: str,
    kind: str,
) -> float:
    """``p0`` or ``p0 + 180``: the branch nearer the 13C's phase at the DEPT's lines."""
    peaks = phase.magnitude_peaks(spectrum)
    if peaks.size == 0:
        return p0
    x = peaks / spectrum.shape[-1] - 0.5
    difference = np.deg2rad(p0 + p1 * x - reference.at(ppm[peaks]))
    mean = np.angle((np.abs(spectrum[peaks]) * np.exp(1j * difference)).sum())
    if abs(mean) > np.pi / 2:
        p0 += 180.0
        mean = np.angle(-np.exp(1j * mean))
    if np.rad2deg(abs(mean)) > MAX_PHASE_DIFFERENCE_DEG:
        raise RawDataError(
            f"{source}: the {kind} FID's phase is {np.rad2deg(abs(mean)):.0f}° from the 13C's "
            "at its lines: the sign of its lines cannot be told; attached-H labels not used"
        )
    return p0


@dataclass(frozen=True, slots=True)
class Labelled:
    """13C peaks with attached-H labels, or unchanged with the reason none were given.

    Attributes
    ----------
    c13
        The 13C peaks (``n_h`` set where known); ``None`` when the sample has no 13C.
    message
        Why the DEPT data were not used, or not all of them (``None`` when they were).
    """

    c13: PeakList | None
    message: str | None = None


def attached_h(c13: PeakList, depts: list[DeptLines]) -> Labelled:
    """Label the 13C peaks C/CH/CH2/CH3 from the sample's DEPT-135 (and DEPT-90) lines.

    Returns the peaks unchanged with a message when there is no DEPT-135, when fewer than
    half of the DEPT lines lie on a 13C line (another sample?), when a DEPT FID's sign could
    not be fixed (``orientation`` ``None``, no DEPT-90 to fix it from), or when the DEPT phase
    is inverted.
    """
    by_kind = {d.kind: d for d in depts}
    d135, d90 = by_kind.get("DEPT-135"), by_kind.get("DEPT-90")
    if d135 is None:
        return Labelled(c13, "a DEPT-90 without a DEPT-135 cannot tell CH2 from C; not used")
    shifts = c13.shifts
    offset = _offset(shifts, d135.ppm, d135.height)
    matched = [_nearest(shifts, p + offset) for p in d135.ppm]
    on_c13 = sum(m is not None for m in matched)
    if on_c13 < max(1, len(d135.ppm) / 2):
        return Labelled(
            c13,
            f"{d135.kind} lines do not match the 13C lines ({on_c13} of {len(d135.ppm)} within "
            f"{MATCH_PPM} ppm): another sample? Attached-H labels not used",
        )
    if d90 is not None and d90.orientation is None:  # CH lines only: positive
        d90 = replace(
            d90,
            height=d90.height * np.sign(d90.height.sum() or 1.0),
            orientation="positive majority",
        )
    if d135.orientation is None:
        d135 = _orient_by_dept90(d135, d90)
        if d135 is None:
            return Labelled(
                c13,
                "the sign of the DEPT-135 FID's lines cannot be fixed without the sample's 13C "
                "FID or a DEPT-90 (both phase-sensitive); attached-H labels not used",
            )
    high = d135.height[d135.ppm + offset > 100.0]
    inverted = high.size > 0 and (high < 0).sum() > high.size / 2
    if d90 is not None:
        inverted = inverted or (d90.height < 0).sum() > len(d90.height) / 2
    if inverted:
        return Labelled(
            c13,
            f"{d135.kind} looks phase-inverted (CH lines negative); attached-H labels not used",
        )
    sign: dict[int, float] = {}
    for index, height in zip(matched, d135.height, strict=True):
        if index is not None and abs(height) > abs(sign.get(index, 0.0)):
            sign[index] = float(height)
    ch_90: set[int] = set()
    if d90 is not None:
        # DEPT-90 height relative to DEPT-135: CH lines share one ratio; CH3 leak through
        # imperfect 90° editing at a small fraction of it
        offset90 = _offset(shifts, d90.ppm, d90.height)
        ratio: dict[int, float] = {}
        for ppm, height in zip(d90.ppm, d90.height, strict=True):
            index = _nearest(shifts, ppm + offset90)
            if index is not None and height > 0 and sign.get(index, 0.0) > 0:
                ratio[index] = max(ratio.get(index, 0.0), height / sign[index])
        if ratio:
            top = max(ratio.values())
            ch_90 = {i for i, r in ratio.items() if r >= CH_RATIO * top}
    peaks = []
    for i, peak in enumerate(c13):
        if i not in sign:
            n_h: int | None = 0
        elif sign[i] < 0:
            n_h = 2
        elif i in ch_90:
            n_h = 1
        elif d90 is not None:
            n_h = 3
        else:
            n_h = 1 if peak.shift > CH_ONLY_ABOVE_PPM else None
        peaks.append(replace(peak, n_h=n_h))
    return Labelled(PeakList(c13.nucleus, tuple(peaks)))


def _orient_by_dept90(d135: DeptLines, d90: DeptLines | None) -> DeptLines | None:
    """A DEPT-135 whose sign is open, flipped so that the lines it shares with the DEPT-90's
    CH lines are positive; ``None`` without a DEPT-90 or shared lines."""
    if d90 is None or not (d90.height > 0).any():
        return None
    ch = d90.ppm[d90.height >= CH_RATIO * d90.height.max()]
    offset = _offset(d135.ppm, ch)
    shared = [i for p in ch if (i := _nearest(d135.ppm, p + offset)) is not None]
    total = float(d135.height[shared].sum()) if shared else 0.0
    if total == 0.0:
        return None
    return replace(d135, height=d135.height * np.sign(total), orientation="DEPT-90")


def _offset(shifts: np.ndarray, lines: np.ndarray, heights: np.ndarray | None = None) -> float:
    """Median shift difference of DEPT lines within 0.5 ppm of a 13C line (the two spectra
    may be referenced differently: the DEPT shows no solvent), weighted by the lines' heights
    when given (a weak artefact beside a strong line must not move it)."""
    if shifts.size == 0 or lines.size == 0:
        return 0.0
    diff = shifts[None, :] - lines[:, None]
    nearest = diff[np.arange(lines.size), np.argmin(np.abs(diff), axis=1)]
    close = np.abs(nearest) <= 0.5
    if not close.any():
        return 0.0
    weights = np.ones(lines.size) if heights is None else np.abs(heights)
    values, weights = nearest[close], weights[close]
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, cumulative[-1] / 2)])


def _nearest(shifts: np.ndarray, ppm: float) -> int | None:
    if shifts.size == 0:
        return None
    index = int(np.argmin(np.abs(shifts - ppm)))
    return index if abs(shifts[index] - ppm) <= MATCH_PPM else None
