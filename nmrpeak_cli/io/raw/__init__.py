"""Raw 1D NMR instrument data: Bruker, Varian/Agilent, JCAMP-DX and NMRPipe, read via nmrglue.

Every format module (:mod:`.bruker`, :mod:`.varian`, :mod:`.jcamp`, :mod:`.pipe`) has the same
two functions, nmrglue style:

``detect(path) -> bool``
    Whether ``path`` (a file or a folder) is an experiment of this format.
``read(path, *, reprocess=False) -> RawSpectrum``
    Read one 1D experiment: the data (time-domain FID or frequency-domain spectrum) and the
    acquisition parameters the processing needs. Raises :class:`RawDataError` for anything
    that cannot be processed (missing parameter files, 2D data, truncated files...).

:data:`FORMATS` lists them in detection order; :func:`detect_format` and :func:`read_raw`
dispatch through it, so adding a vendor is one module plus one entry.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Literal

import numpy as np

from nmrpeak_cli.errors import InputFileError

#: Ratio of the 13C to the 1H Larmor frequency (TMS-referenced Xi scale, IUPAC 2001).
C13_PER_H1 = 0.25145020
Domain = Literal["time", "frequency"]


class RawDataError(InputFileError):
    """One experiment cannot be read or processed; the message says which file and why."""


@dataclass(frozen=True, slots=True)
class RawSpectrum:
    """One 1D experiment as read from disk, before processing.

    Attributes
    ----------
    data
        Time domain: the complex FID, digital filter still present (see ``group_delay``).
        Frequency domain: the spectrum (real, or complex real+imaginary), index 0 at the
        highest shift, as instruments store processed data.
    domain
        ``"time"`` or ``"frequency"``.
    nucleus
        Observed nucleus as written by the instrument, normalized to mass-number-first form
        (``"13C"``, ``"1H"``, ``"15N"``...).
    observe_mhz
        Reference frequency used for the ppm scale (Bruker ``SF``), MHz.
    sweep_hz
        Spectral width, Hz.
    carrier_ppm
        Time domain: shift of the carrier (the centre of the spectrum), ppm.
    first_ppm
        Frequency domain: shift of the first point (index 0), ppm.
    group_delay
        Bruker digital-filter group delay in points (0 when there is no filter).
    conjugate
        Time domain: the vendor stores the FID with the opposite frequency sign (a signal at
        +f Hz is ``exp(-2πi f t)``); processing conjugates it first.
    solvent
        Solvent as written in the parameters (normalize with
        :func:`~nmrpeak_cli.solvents.normalize_solvent`), or ``None``.
    temperature_k
        Sample temperature, K, or ``None``.
    title
        Title or comment text, ``""`` when absent.
    sample
        Sample name (folder or parameter), used to group 13C and 1H of one sample.
    experiment
        Pulse program / experiment name (``zgpg30``, ``dept135``...), ``""`` when unknown.
    source
        Path the experiment was read from.
    referenced
        Whether the file's ppm axis is referenced (Bruker ``SF`` with ``SR``, a JCAMP
        ``.SHIFT REFERENCE``); ``False`` for FIDs that give no reference (benchtop exports),
        whose shifts are only as good as the instrument's frequency unless TMS or the solvent
        is found.
    """

    data: np.ndarray
    domain: Domain
    nucleus: str
    observe_mhz: float
    sweep_hz: float
    carrier_ppm: float = 0.0
    first_ppm: float = 0.0
    group_delay: float = 0.0
    conjugate: bool = False
    solvent: str | None = None
    temperature_k: float | None = None
    title: str = ""
    sample: str = ""
    experiment: str = ""
    source: str = ""
    referenced: bool = True

    def __post_init__(self) -> None:
        data = np.asarray(self.data)
        if data.ndim != 1:
            raise RawDataError(f"{self.source}: expected 1D data, got shape {data.shape}")
        if data.size < 16:
            raise RawDataError(f"{self.source}: only {data.size} data points; file truncated?")
        if not np.all(np.isfinite(data)):
            raise RawDataError(f"{self.source}: data contain NaN or infinite values")
        data = data.copy()
        data.setflags(write=False)
        object.__setattr__(self, "data", data)
        for name in ("observe_mhz", "sweep_hz"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise RawDataError(f"{self.source}: {name} must be positive, got {value!r}")
        if self.domain not in ("time", "frequency"):
            raise RawDataError(f"{self.source}: domain must be 'time' or 'frequency'")

    @property
    def field_mhz(self) -> float:
        """1H spectrometer frequency, MHz (computed from the observe frequency for 13C)."""
        if self.nucleus == "13C":
            return self.observe_mhz / C13_PER_H1
        return self.observe_mhz

    @property
    def is_dept(self) -> bool:
        """Whether the pulse program is a DEPT/APT editing sequence (not a plain 13C spectrum)."""
        name = self.experiment.lower()
        return "dept" in name or "apt" in name or "jmod" in name


def normalize_nucleus(text: str) -> str:
    """``"<13C>"``, ``"^13C"``, ``"C13"``, ``"H1"`` → ``"13C"``/``"1H"``; other nuclei kept."""
    key = str(text).strip().strip("<>^").replace(" ", "")
    if not key:
        return ""
    digits = "".join(c for c in key if c.isdigit())
    letters = "".join(c for c in key if c.isalpha())
    return f"{digits}{letters.capitalize()}" if digits else letters.capitalize()


#: Names of the supported raw formats (modules of this package), in detection order.
FORMATS: tuple[str, ...] = ("bruker", "varian", "jcamp", "pipe")


def _format_modules() -> tuple[tuple[str, ModuleType], ...]:
    return tuple((name, importlib.import_module(f"{__name__}.{name}")) for name in FORMATS)


def detect_format(path: str | Path) -> str | None:
    """Name of the raw format ``path`` is in (see :data:`FORMATS`), ``None`` if none claims it."""
    for name, module in _format_modules():
        if module.detect(Path(path)):
            return name
    return None


def read_raw(path: str | Path, *, reprocess: bool = False) -> RawSpectrum:
    """Read one raw 1D experiment in any supported format.

    Parameters
    ----------
    path
        A Bruker experiment folder, a Varian ``.fid`` folder, a JCAMP-DX file or an NMRPipe file.
    reprocess
        Bruker: ignore the instrument's processed spectrum (``pdata/1/1r``) and return the FID.

    Raises
    ------
    RawDataError
        When no format claims ``path`` or the experiment cannot be read.
    """
    path = Path(path)
    if not path.exists():
        raise RawDataError(f"{path}: no such file or folder")
    for _, module in _format_modules():
        if module.detect(path):
            return module.read(path, reprocess=reprocess)
    raise RawDataError(
        f"{path}: not a recognised raw NMR format; expected a Bruker experiment folder (fid + "
        "acqus), a Varian .fid folder (fid + procpar), a JCAMP-DX file (.jdx/.dx) or an "
        "NMRPipe file (.ft/.fid)"
    )


__all__ = [
    "C13_PER_H1",
    "FORMATS",
    "RawDataError",
    "RawSpectrum",
    "detect_format",
    "normalize_nucleus",
    "read_raw",
]
