"""Synthetic FIDs with exactly known answers, for tests and ``benchmarks/bench_peaks.py``.

A signal is a first-order multiplet (binomial stick pattern of its couplings) of Lorentzian
lines; the FID is their sum with complex Gaussian noise, optional phase errors, a baseline
roll (very broad components) and a Bruker-style digital-filter delay. :func:`dept_signals`
turns 13C signals with known attached-H counts into the signed signals of a DEPT-135 or
DEPT-90 spectrum. Writers put a FID into a Bruker experiment folder or an NMRPipe file with
nmrglue, for end-to-end reader tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from nmrpeak_cli.paths import write_text_atomic
from nmrpeak_cli.processing.phase import apply_phase
from nmrpeak_cli.processing.transform import fourier_transform


@dataclass(frozen=True, slots=True)
class SyntheticSignal:
    """One signal with known answers.

    Attributes
    ----------
    shift
        Centre, ppm.
    n_nuclei
        Number of equivalent nuclei (1H integration; 13C peak intensity scale).
    couplings_hz
        Every coupling, repeated per coupled partner (``(7.0, 7.0)`` is a triplet), Hz.
    width_hz
        Natural line width (FWHM), Hz.
    """

    shift: float
    n_nuclei: float = 1.0
    couplings_hz: tuple[float, ...] = ()
    width_hz: float = 1.0

    @property
    def multiplicity(self) -> str:
        """First-order code (``s``, ``d``, ``dt``...), largest coupling first."""
        if not self.couplings_hz:
            return "s"
        letters = {1: "d", 2: "t", 3: "q", 4: "p", 5: "h", 6: "hept"}
        values = sorted(self.couplings_hz, reverse=True)
        groups: list[int] = []
        for i, j in enumerate(values):
            if i and abs(values[i - 1] - j) < 1e-9:
                groups[-1] += 1
            else:
                groups.append(1)
        return "".join(letters[g] for g in groups)


DEPT_SIGN: dict[str, tuple[float, float, float, float]] = {
    "DEPT-135": (0.0, 1.0, -1.0, 1.0),
    "DEPT-90": (0.0, 1.0, 0.0, 0.0),
}
"""Relative signed intensity of C, CH, CH2 and CH3 carbons in ideal DEPT spectra."""


def dept_signals(
    carbons: Sequence[tuple[SyntheticSignal, int]], kind: str
) -> tuple[SyntheticSignal, ...]:
    """Signed signals of an ideal ``kind`` (``"DEPT-135"`` or ``"DEPT-90"``) spectrum of 13C
    ``carbons`` given as ``(signal, attached H count)``: DEPT-135 shows CH and CH3 positive
    and CH2 negative, DEPT-90 only CH; quaternary carbons are absent from both."""
    if kind not in DEPT_SIGN:
        raise ValueError(f"unknown DEPT kind {kind!r}; expected one of {', '.join(DEPT_SIGN)}")
    signed = []
    for signal, n_h in carbons:
        if not 0 <= n_h <= 3:
            raise ValueError(f"attached-H count must be 0–3, got {n_h!r} at {signal.shift} ppm")
        sign = DEPT_SIGN[kind][n_h]
        if sign:
            signed.append(replace(signal, n_nuclei=sign * signal.n_nuclei))
    return tuple(signed)


def stick_pattern(couplings_hz: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Line offsets from the centre (Hz) and relative intensities (sum 1) of a multiplet."""
    offsets, weights = np.zeros(1), np.ones(1)
    for j in couplings_hz:
        offsets = np.concatenate([offsets - j / 2, offsets + j / 2])
        weights = np.concatenate([weights, weights]) / 2
    order = np.argsort(offsets)
    return offsets[order], weights[order]


def synthetic_fid(
    signals: tuple[SyntheticSignal, ...],
    *,
    observe_mhz: float,
    sweep_hz: float,
    carrier_ppm: float,
    points: int,
    amplitude: float = 1.0,
    noise: float = 0.0,
    phase_deg: tuple[float, float] = (0.0, 0.0),
    baseline_roll: float = 0.0,
    group_delay: float = 0.0,
    seed: int = 0,
) -> np.ndarray:
    """Complex FID (``exp(+2πi f t)`` convention) of ``signals``.

    Parameters
    ----------
    signals
        The signals; a signal's lines sum to ``amplitude · n_nuclei``.
    observe_mhz, sweep_hz, carrier_ppm, points
        Acquisition: spectrometer frequency, spectral width, carrier shift, complex points.
    noise
        Standard deviation of the complex Gaussian noise per point (real and imaginary parts).
    phase_deg
        Zero- and first-order phase error (degrees, the inverse of what
        :func:`~nmrpeak_cli.processing.phase.apply_phase` with these values corrects).
    baseline_roll
        Amplitude of two very broad components (widths of a tenth of the sweep) that roll the
        baseline.
    group_delay
        Delay (points) mimicking the Bruker digital filter.
    seed
        Seed of the noise generator.
    """
    rng = np.random.default_rng(seed)
    t = (np.arange(points) - group_delay) / sweep_hz
    fid = np.zeros(points, dtype=np.complex128)
    for sig in signals:
        offsets, weights = stick_pattern(sig.couplings_hz)
        centre_hz = (sig.shift - carrier_ppm) * observe_mhz
        decay = amplitude * sig.n_nuclei * np.exp(-np.pi * sig.width_hz * t)
        for offset, weight in zip(offsets, weights, strict=True):
            fid += weight * decay * np.exp(2j * np.pi * (centre_hz + offset) * t)
    if baseline_roll:
        for offset_hz in (-0.2 * sweep_hz, 0.25 * sweep_hz):
            broad = np.exp((2j * np.pi * offset_hz - np.pi * 0.1 * sweep_hz) * np.maximum(t, 0))
            fid += baseline_roll * np.where(t >= 0, broad, 0)
    if phase_deg != (0.0, 0.0):
        spectrum = fourier_transform(fid)
        spectrum = apply_phase(spectrum, -phase_deg[0], -phase_deg[1])
        fid = np.fft.ifft(np.fft.ifftshift(spectrum[::-1]))
        fid[0] *= 2.0
    if noise:
        fid = fid + noise * (rng.standard_normal(points) + 1j * rng.standard_normal(points))
    return fid


@dataclass(frozen=True, slots=True)
class Acquisition:
    """How a FID was acquired, as the Bruker and JCAMP-DX writers record it (their keyword
    arguments).

    Attributes
    ----------
    nucleus
        ``1H`` or ``13C``.
    observe_mhz
        Spectrometer frequency of 0 ppm (``SF``, ``BF1``), MHz.
    sweep_hz
        Spectral width, Hz.
    carrier_ppm
        Carrier position (``SFO1``), ppm.
    group_delay
        Bruker digital-filter delay in points (``GRPDLY``); 0: none (written as -1).
    solvent
        Solvent name.
    pulse_program
        Pulse program (``zg30``, ``dept135``...).
    """

    nucleus: str
    observe_mhz: float
    sweep_hz: float
    carrier_ppm: float
    group_delay: float = 0.0
    solvent: str = "CDCl3"
    pulse_program: str = "zg30"

    @property
    def sfo1(self) -> float:
        """Carrier frequency, MHz."""
        return self.observe_mhz * (1 + self.carrier_ppm * 1e-6)

    @property
    def grpdly(self) -> float:
        """``GRPDLY`` as written: the delay, or -1 without one."""
        return self.group_delay if self.group_delay > 0 else -1


def _integer_scale(fid: np.ndarray) -> float:
    """The factor that puts ``fid`` in the int32 range (a largest magnitude of 2e8)."""
    return 2.0e8 / max(float(np.abs(fid).max()), 1e-300)


def write_bruker(folder: str | Path, fid: np.ndarray, **acquisition: Any) -> Path:
    """Write ``fid`` as a Bruker experiment folder (``fid`` int32 + ``acqus``) with nmrglue;
    ``acquisition``: the :class:`Acquisition` fields.

    The FID is scaled to use the int32 range. ``SF`` = ``BF1`` = ``observe_mhz`` (0 ppm) and
    ``SFO1`` sits at ``carrier_ppm``.
    """
    import nmrglue as ng

    acq = Acquisition(**acquisition)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    acqus = {
        "NUC1": acq.nucleus,
        "BF1": acq.observe_mhz,
        "SFO1": acq.sfo1,
        "O1": acq.carrier_ppm * acq.observe_mhz,
        "SW_h": acq.sweep_hz,
        "SW": acq.sweep_hz / acq.sfo1,
        "TD": 2 * fid.size,
        "SOLVENT": acq.solvent,
        "PULPROG": acq.pulse_program,
        "TE": 298.0,
        "GRPDLY": acq.grpdly,
        "DECIM": 1,
        "DSPFVS": 20,
        "BYTORDA": 0,
        "DTYPA": 0,
        "AQ_mod": 3,
    }
    data = np.round(fid * _integer_scale(fid))
    dic = {"acqus": {**acqus, "_coreheader": [], "_comments": []}}
    ng.bruker.write(
        str(folder), dic, data.astype(np.complex128), overwrite=True, big=False, write_prog=False
    )
    return folder


def write_jcamp(
    path: str | Path, fid: np.ndarray, *, referenced: bool = True, **acquisition: Any
) -> Path:
    """Write ``fid`` as a JCAMP-DX ``NMR FID`` (``NTUPLES``, real and imaginary pages, AFFN
    integers) with the Bruker ``$`` parameters a TopSpin export carries (``$SF``, ``$SFO1``,
    ``$SW_h``, ``$GRPDLY``, ``$PULPROG``); ``acquisition``: the :class:`Acquisition` fields.
    ``referenced`` writes a ``.SHIFT REFERENCE`` (0 ppm at ``$SF``, as TopSpin does)."""
    acq = Acquisition(**acquisition)
    nucleus, observe_mhz, solvent = acq.nucleus, acq.observe_mhz, acq.solvent
    pulse_program, sfo1 = acq.pulse_program, acq.sfo1
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    scale = _integer_scale(fid)
    pages = {"R": np.round(fid.real * scale), "I": np.round(fid.imag * scale)}
    n, dwell = fid.size, 1.0 / acq.sweep_hz
    label = "^" + nucleus
    lines = [
        f"##TITLE= synthetic {nucleus} {pulse_program}",
        "##JCAMP-DX= 6.0         $$ Bruker NMR JCAMP-DX V2.0",
        "##DATA TYPE= NMR FID",
        "##DATA CLASS= NTUPLES",
        "##ORIGIN= Bruker BioSpin GmbH",
        "##OWNER= nmrpeak synthetic",
        f"##.OBSERVE FREQUENCY= {sfo1:.8f}",
        f"##.OBSERVE NUCLEUS= {label}",
        f"##.PULSE SEQUENCE= {pulse_program}",
        f"##.SOLVENT NAME= {solvent}",
        *([f"##.SHIFT REFERENCE= INTERNAL, {solvent}, 1, 0.0"] if referenced else []),
        f"##$SF= {observe_mhz:.8f}",
        f"##$SFO1= {sfo1:.8f}",
        f"##$BF1= {observe_mhz:.8f}",
        f"##$SW_h= {acq.sweep_hz:.6f}",
        f"##$TD= {2 * n}",
        f"##$GRPDLY= {acq.grpdly}",
        "##$DECIM= 1",
        "##$DSPFVS= 20",
        f"##$PULPROG= <{pulse_program}>",
        f"##$NUC1= <{nucleus}>",
        f"##$SOLVENT= <{solvent}>",
        "##$TE= 298",
        "##NTUPLES= NMR FID",
        "##VAR_NAME=  TIME,          FID/REAL,        FID/IMAG",
        "##SYMBOL=    X,             R,               I",
        "##VAR_TYPE=  INDEPENDENT,   DEPENDENT,       DEPENDENT",
        "##VAR_FORM=  AFFN,          AFFN,            AFFN",
        f"##VAR_DIM=   {n},        {n},          {n}",
        "##UNITS=     SECONDS,       ARBITRARY UNITS, ARBITRARY UNITS",
        f"##FACTOR=    {dwell:.12e}, 1,       1",
        f"##FIRST=     0,             {pages['R'][0]:.0f},               {pages['I'][0]:.0f}",
        f"##LAST=      {(n - 1) * dwell:.12e}, {pages['R'][-1]:.0f},       {pages['I'][-1]:.0f}",
    ]
    for number, (symbol, values) in enumerate(pages.items(), start=1):
        lines += [f"##PAGE= N={number}", f"##DATA TABLE= (X++({symbol}..{symbol})), XYDATA"]
        for start in range(0, n, 8):
            row = " ".join(f"{v:.0f}" for v in values[start : start + 8])
            lines.append(f"{start} {row}")
    lines += ["##END NTUPLES=NMR FID", "##END="]
    return write_text_atomic(path, "\n".join(lines) + "\n")


def write_pipe(
    path: str | Path,
    fid: np.ndarray,
    *,
    nucleus: str,
    observe_mhz: float,
    sweep_hz: float,
    carrier_ppm: float,
) -> Path:
    """Write ``fid`` as an NMRPipe 1D time-domain file with nmrglue."""
    import nmrglue as ng

    udic = ng.fileiobase.create_blank_udic(1)
    udic[0].update(
        size=fid.size,
        complex=True,
        encoding="direct",
        sw=sweep_hz,
        obs=observe_mhz,
        car=carrier_ppm * observe_mhz,
        label=nucleus,
        time=True,
        freq=False,
    )
    dic = ng.pipe.create_dic(udic)
    path = Path(path)
    ng.pipe.write(str(path), dic, fid.astype(np.complex64), overwrite=True)
    return path


def write_varian(
    folder: str | Path,
    fid: np.ndarray,
    *,
    nucleus: str,
    observe_mhz: float,
    sweep_hz: float,
    carrier_ppm: float,
    solvent: str = "CDCl3",
) -> Path:
    """Write ``fid`` as a Varian ``.fid`` folder (``fid`` + ``procpar``) with nmrglue.

    ``reffrq`` (the frequency of 0 ppm) is ``observe_mhz`` and ``sfrq`` sits at ``carrier_ppm``.
    """
    import nmrglue as ng

    udic = ng.fileiobase.create_blank_udic(1)
    udic[0].update(size=fid.size, complex=True, sw=sweep_hz, obs=observe_mhz, label=nucleus)
    dic = ng.varian.create_dic(udic)
    varian_name = {"1H": "H1", "13C": "C13"}.get(nucleus, nucleus)
    values = {
        "tn": varian_name,
        "sfrq": f"{observe_mhz * (1 + carrier_ppm * 1e-6):.9f}",
        "reffrq": f"{observe_mhz:.9f}",
        "sw": f"{sweep_hz:.6f}",
        "solvent": solvent,
        "temp": "25",
        "seqfil": "s2pul",
        "samplename": Path(folder).stem,
    }
    for name, value in values.items():
        dic["procpar"][name] = ng.varian.create_pdic_param(name, [value])
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ng.varian.write(str(folder), dic, fid.astype(np.complex64), overwrite=True)
    return folder
