"""Varian/Agilent VnmrJ experiment folders (``<name>.fid/`` with ``fid`` + ``procpar``).

The ppm scale comes from ``reffrq`` (the frequency of 0 ppm, set by referencing in VnmrJ):
carrier ppm = ``(sfrq - reffrq) / reffrq · 10⁶``; without it, from ``rfl``/``rfp``. Arrayed
or 2D acquisitions (``ni`` > 1, several traces) are rejected.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from nmrpeak_cli.io.raw import RawDataError, RawSpectrum, normalize_nucleus


def detect(path: Path) -> bool:
    """Whether ``path`` is a Varian experiment folder (``procpar``, or a ``.fid`` folder)."""
    if not path.is_dir():
        return False
    return (path / "procpar").is_file() or (
        path.suffix.lower() == ".fid" and (path / "fid").exists()
    )


def read(path: Path, *, reprocess: bool = False) -> RawSpectrum:
    """Read a Varian 1D FID (``reprocess`` has no effect: only the FID is read).

    Raises
    ------
    RawDataError
        Missing ``procpar`` or ``fid``, 2D/arrayed data, truncated or unreadable files.
    """
    import nmrglue as ng

    path = Path(path)
    if not (path / "procpar").is_file():
        raise RawDataError(f"{path}: missing procpar (acquisition parameters); cannot read the FID")
    if not (path / "fid").is_file():
        raise RawDataError(f"{path}: no fid file")
    try:
        procpar = ng.varian.read_procpar(str(path / "procpar"))
    except (OSError, ValueError, IndexError, UnicodeDecodeError) as exc:
        raise RawDataError(f"{path}/procpar: unreadable ({exc})") from exc
    value = _getter(procpar)
    if (value("ni", 1.0) or 1.0) > 1 or (value("ni2", 1.0) or 1.0) > 1:
        raise RawDataError(f"{path}: 2D/3D experiment (ni > 1); only 1D is supported")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, data = ng.varian.read(str(path))
    except (OSError, ValueError, IndexError) as exc:
        raise RawDataError(f"{path}/fid: unreadable or truncated ({exc})") from exc
    data = np.asarray(data)
    if data.ndim == 2 and data.shape[0] == 1:
        data = data[0]
    if data.ndim != 1:
        raise RawDataError(f"{path}/fid: {data.shape[0]} traces (arrayed experiment); expected 1")
    np_points = value("np", 0.0) or 0.0
    if np_points and data.size < np_points / 2:
        raise RawDataError(
            f"{path}/fid: truncated, {data.size} complex points but np={np_points:g}"
        )
    sfrq = value("sfrq")
    sweep = value("sw")
    if sfrq is None or sweep is None:
        raise RawDataError(f"{path}/procpar: sfrq and sw are required")
    return RawSpectrum(
        data=data.astype(np.complex128),
        domain="time",
        nucleus=normalize_nucleus(_text(procpar, "tn")),
        observe_mhz=value("reffrq") or sfrq,
        sweep_hz=sweep,
        carrier_ppm=_carrier_ppm(value, sfrq, sweep),
        solvent=_text(procpar, "solvent") or None,
        temperature_k=_kelvin(value("temp")),
        title=_text(procpar, "comment") or _text(procpar, "samplename"),
        sample=_text(procpar, "samplename") or path.resolve().parent.name,
        experiment=_text(procpar, "seqfil"),
        source=str(path),
    )


def _carrier_ppm(value, sfrq: float, sweep: float) -> float:
    reffrq = value("reffrq")
    if reffrq:
        return (sfrq - reffrq) * 1e6 / reffrq
    rfl, rfp = value("rfl"), value("rfp")
    if rfl is not None and rfp is not None:
        # rfl: position of the reference line from the right edge (Hz); rfp: its shift (Hz).
        return (sweep / 2 - rfl + rfp) / sfrq
    return 0.0


def _getter(procpar: dict):
    def value(name: str, default: float | None = None) -> float | None:
        try:
            return float(procpar[name]["values"][0])
        except (KeyError, IndexError, TypeError, ValueError):
            return default

    return value


def _text(procpar: dict, name: str) -> str:
    try:
        return str(procpar[name]["values"][0]).strip()
    except (KeyError, IndexError, TypeError):
        return ""


def _kelvin(celsius: float | None) -> float | None:
    return None if celsius is None else celsius + 273.15
