"""NMRPipe 1D files: ``.fid`` (time domain) and ``.ft``/``.ft1`` (frequency domain).

Parameters come from the 2048-byte header (``FDF2OBS``, ``FDF2SW``, ``FDF2CAR``, ``FDF2LABEL``);
the ppm axis of a transformed file from nmrglue's unit converter. NMRPipe files carry no
solvent or temperature.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from nmrpeak_cli.io.raw import RawDataError, RawSpectrum, normalize_nucleus

SUFFIXES = (".fid", ".ft", ".ft1", ".ft2", ".pipe")
_HEADER_BYTES = 2048


def detect(path: Path) -> bool:
    """Whether ``path`` is a file with an NMRPipe suffix and a valid header."""
    if not path.is_file() or path.suffix.lower() not in SUFFIXES:
        return False
    with path.open("rb") as handle:
        header = handle.read(_HEADER_BYTES)
    if len(header) < _HEADER_BYTES:
        return False
    magic = np.frombuffer(header[8:12], dtype="<f4")[0], np.frombuffer(header[8:12], dtype=">f4")[0]
    return any(abs(m - 2.345) < 1e-3 for m in magic)  # FDFLTORDER


def read(path: Path, *, reprocess: bool = False) -> RawSpectrum:
    """Read an NMRPipe 1D file (``reprocess`` has no effect).

    Raises
    ------
    RawDataError
        Multidimensional or truncated files, unknown nucleus label.
    """
    import nmrglue as ng

    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dic, data = ng.pipe.read(str(path))
    except (OSError, ValueError, IndexError) as exc:
        raise RawDataError(f"{path}: unreadable NMRPipe file ({exc})") from exc
    if int(dic.get("FDDIMCOUNT", 1)) != 1:
        raise RawDataError(f"{path}: {int(dic['FDDIMCOUNT'])}D NMRPipe data; only 1D is supported")
    data = np.asarray(data)
    expected = int(dic.get("FDSIZE", data.size))
    if data.ndim != 1 or data.size < expected:
        raise RawDataError(f"{path}: truncated, {data.size} points but header says {expected}")
    label = str(dic.get("FDF2LABEL", "")).strip()
    nucleus = normalize_nucleus(label)
    if not any(c.isdigit() for c in nucleus):
        raise RawDataError(
            f"{path}: nucleus label {label!r} does not name a nucleus (e.g. 1H, 13C)"
        )
    observe = float(dic["FDF2OBS"])
    sweep = float(dic["FDF2SW"])
    if int(dic.get("FDF2FTFLAG", 0)) == 0:
        return RawSpectrum(
            data=data.astype(np.complex128),
            domain="time",
            nucleus=nucleus,
            observe_mhz=observe,
            sweep_hz=sweep,
            carrier_ppm=float(dic["FDF2CAR"]),
            source=str(path),
            sample=path.resolve().parent.name,
        )
    udic = ng.pipe.guess_udic(dic, data)
    first_ppm = float(ng.fileiobase.uc_from_udic(udic).ppm(0))
    return RawSpectrum(
        data=data.astype(np.complex128 if np.iscomplexobj(data) else np.float64),
        domain="frequency",
        nucleus=nucleus,
        observe_mhz=observe,
        sweep_hz=sweep,
        first_ppm=first_ppm,
        source=str(path),
        sample=path.resolve().parent.name,
    )
