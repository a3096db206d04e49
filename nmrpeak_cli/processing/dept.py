"""DEPT-135/90 → attached-H labels (C, CH, CH2, CH3) of the 13C peaks of the same sample.

A DEPT-135 spectrum shows CH and CH3 carbons positive and CH2 negative; a DEPT-90 shows CH
only; quaternary carbons are missing from both. :func:`dept_lines` processes one DEPT
experiment and picks its lines with their sign; :func:`attached_h` labels 13C peaks from
them:

- no DEPT-135 line → C (0); a negative one → CH2 (2);
- a positive one → CH (1) when DEPT-90 shows it, CH3 (3) when a DEPT-90 was recorded and does
  not; without DEPT-90, CH above 65 ppm (no methyl carbon resonates there) and unknown below.

Problems give a message and no labels (the 13C peaks are kept): DEPT lines that do not match
the 13C lines (another sample), a phase-inverted DEPT (DEPT-90 lines negative, or most
DEPT-135 lines above 100 ppm negative).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from nmrpeak_cli.io.raw import RawDataError, RawSpectrum
from nmrpeak_cli.processing import baseline as baseline_
from nmrpeak_cli.processing import phase, transform
from nmrpeak_cli.processing.picking import pick_lines
from nmrpeak_cli.spectra import PeakList

#: 13C lines and DEPT lines closer than this are the same carbon, ppm (after the offset).
MATCH_PPM = 0.1
#: A DEPT-90 line is CH when its height relative to DEPT-135 reaches this share of the largest
#: such ratio (methyl lines leak into imperfect DEPT-90 spectra at a few per cent).
CH_RATIO = 0.4
#: Shift above which a positive DEPT-135 line is taken as CH without a DEPT-90, ppm.
CH_ONLY_ABOVE_PPM = 65.0


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
    """

    kind: str
    source: str
    sample: str
    ppm: np.ndarray
    height: np.ndarray


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


def dept_lines(raw: RawSpectrum, *, min_snr: float = 8.0, lb_hz: float = 1.0) -> DeptLines:
    """Process a DEPT experiment and pick its positive and negative lines.

    Time-domain data are phased sign-free (:func:`~nmrpeak_cli.processing.phase.autophase`
    on the squared spectrum is not usable with negative lines) and oriented so that the
    lines' summed signed height is positive; an instrument spectrum keeps the operator's
    phase.

    Raises
    ------
    RawDataError
        Not a DEPT-135/90 experiment, or no line above ``min_snr``.
    """
    kind = dept_kind(raw)
    if kind is None:
        raise RawDataError(f"{raw.source}: {raw.experiment or '?'} is not a DEPT-135/90 experiment")
    if raw.domain == "time":
        fid = np.conj(raw.data) if raw.conjugate else raw.data
        data = transform.exponential(
            transform.remove_digital_filter(fid, raw.group_delay), lb_hz, raw.sweep_hz
        )
        size = transform.default_size(data.size)
        spectrum = transform.fourier_transform(transform.zero_fill(data, size))
        p0, p1 = phase.autophase_signed(spectrum)
        real = phase.apply_phase(spectrum, p0, p1).real
        ppm = transform.frequency_axis_ppm(size, raw.sweep_hz, raw.observe_mhz, raw.carrier_ppm)
    else:
        real = np.real(raw.data).astype(np.float64)
        ppm = raw.first_ppm - np.arange(real.size) * raw.sweep_hz / raw.observe_mhz / real.size
    noise = baseline_.estimate_noise(real)
    real = real - np.median(real)
    noise = baseline_.estimate_noise(real)
    up = pick_lines(ppm, real, noise, raw.observe_mhz, min_snr=min_snr)
    down = pick_lines(ppm, -real, noise, raw.observe_mhz, min_snr=min_snr)
    positions = np.concatenate([up.ppm, down.ppm])
    heights = np.concatenate([up.snr, -down.snr])
    if positions.size == 0:
        raise RawDataError(f"{raw.source}: no {kind} line above S/N {min_snr:g}")
    if raw.domain == "time" and heights.sum() < 0:
        heights = -heights  # sign-free phasing: CH + CH3 usually outweigh CH2
    order = np.argsort(-positions)
    return DeptLines(kind, raw.source, raw.sample, positions[order], heights[order])


@dataclass(frozen=True, slots=True)
class Labelled:
    """13C peaks with attached-H labels, or unchanged with the reason none were given.

    Attributes
    ----------
    c13
        The 13C peaks (``n_h`` set where known).
    message
        Why the DEPT data were not used (``None`` when they were).
    """

    c13: PeakList
    message: str | None = None


def attached_h(c13: PeakList, depts: list[DeptLines]) -> Labelled:
    """Label the 13C peaks C/CH/CH2/CH3 from the sample's DEPT-135 (and DEPT-90) lines.

    Returns the peaks unchanged with a message when there is no DEPT-135, when fewer than
    half of the DEPT lines lie on a 13C line (another sample?), or when the DEPT phase is
    inverted.
    """
    by_kind = {d.kind: d for d in depts}
    d135, d90 = by_kind.get("DEPT-135"), by_kind.get("DEPT-90")
    if d135 is None:
        return Labelled(c13, "a DEPT-90 without a DEPT-135 cannot tell CH2 from C; not used")
    shifts = c13.shifts
    offset = _offset(shifts, d135.ppm)
    matched = [_nearest(shifts, p + offset) for p in d135.ppm]
    on_c13 = sum(m is not None for m in matched)
    if on_c13 < max(1, len(d135.ppm) / 2):
        return Labelled(
            c13,
            f"{d135.kind} lines do not match the 13C lines ({on_c13} of {len(d135.ppm)} within "
            f"{MATCH_PPM} ppm): another sample? Attached-H labels not used",
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
        offset90 = _offset(shifts, d90.ppm)
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


def _offset(shifts: np.ndarray, lines: np.ndarray) -> float:
    """Median shift difference of DEPT lines within 0.5 ppm of a 13C line (the two spectra
    may be referenced differently: the DEPT shows no solvent)."""
    if shifts.size == 0 or lines.size == 0:
        return 0.0
    diff = shifts[None, :] - lines[:, None]
    nearest = diff[np.arange(lines.size), np.argmin(np.abs(diff), axis=1)]
    close = nearest[np.abs(nearest) <= 0.5]
    return float(np.median(close)) if close.size else 0.0


def _nearest(shifts: np.ndarray, ppm: float) -> int | None:
    if shifts.size == 0:
        return None
    index = int(np.argmin(np.abs(shifts - ppm)))
    return index if abs(shifts[index] - ppm) <= MATCH_PPM else None
