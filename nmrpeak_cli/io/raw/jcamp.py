"""JCAMP-DX 1D NMR files (``.jdx``, ``.dx``, ``.jcamp``) read with :func:`nmrglue.jcampdx.read`.

Handled forms (all met in practice): ``XYDATA`` spectra with X in Hz or ppm (TopSpin,
MestReNova), ``NTUPLES`` real/imaginary spectra and FIDs (TopSpin export, benchtop
instruments with space-less labels), ``LINK`` files whose spectrum block is nested (nmrglue
merges it into the top level). nmrglue does not place the ppm axis, so it is computed here:

- XYDATA: ``FIRSTX``/``LASTX`` in Hz ÷ ``.OBSERVE FREQUENCY`` (or already in ppm);
- NTUPLES spectrum: Bruker ``$OFFSET`` (ppm of the first point) and the Hz span ÷ ``$SF``;
- FID: carrier = ``($SFO1 − $SF) / $SF · 10⁶``, sweep width ``$SW_h`` (or from the time axis),
  the Bruker digital filter from ``$GRPDLY`` or ``$DSPFVS``/``$DECIM``; a FID without
  ``.SHIFT REFERENCE`` is marked unreferenced (:attr:`RawSpectrum.referenced`);
- peak-table-only files (``NMR PEAK TABLE``): rendered as a noiseless spectrum of their lines.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from nmrpeak_cli.io.raw import RawDataError, RawSpectrum, normalize_nucleus
from nmrpeak_cli.io.raw.bruker import group_delay

SUFFIXES = (".jdx", ".dx", ".jcamp", ".jcm")
#: Vendors whose JCAMP FIDs have the opposite frequency sign to Bruker's (checked on an
#: Oxford Instruments X-Pulse benchtop FID of ethyl crotonate: unconjugated, it is mirrored).
_CONJUGATE_VENDORS = ("oxfordinstruments",)


def detect(path: Path) -> bool:
    """Whether ``path`` is a file with a JCAMP-DX suffix."""
    return path.is_file() and path.suffix.lower() in SUFFIXES


def read(path: Path, *, reprocess: bool = False) -> RawSpectrum:
    """Read a 1D NMR spectrum or FID from a JCAMP-DX file (``reprocess`` has no effect).

    Raises
    ------
    RawDataError
        No NMR data block (e.g. a peak table only, a 2D ``NDNMR`` file), unknown units, no
        observe frequency.
    """
    import nmrglue as ng

    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dic, data = ng.jcampdx.read(str(path))
    except Exception as exc:  # nmrglue raises bare Exception for unknown content
        raise RawDataError(f"{path}: not a readable JCAMP-DX 1D NMR file ({exc})") from exc
    if data is None and dic.get("_datatype_NMRPEAKTABLE"):
        return _peak_table(path, dic["_datatype_NMRPEAKTABLE"][0])
    if data is None:
        raise RawDataError(
            f"{path}: no 1D data block (XYDATA, NTUPLES or PEAK TABLE); 2D (NDNMR) and "
            "structure-only files are not supported"
        )
    kind = _first(dic, "DATATYPE").upper()
    if "NMR" not in kind or ("SPECTRUM" not in kind and "FID" not in kind):
        raise RawDataError(f"{path}: DATA TYPE {kind!r}; expected 'NMR SPECTRUM' or 'NMR FID'")
    if isinstance(data, list):
        if len(data) != 2:
            raise RawDataError(f"{path}: {len(data)} NTUPLES pages; expected real and imaginary")
        values = np.asarray(data[0], dtype=np.float64) + 1j * np.asarray(data[1], dtype=np.float64)
    else:
        values = np.asarray(data, dtype=np.float64)
    if values.size == 0:
        raise RawDataError(f"{path}: no data points")
    common = _common(path, dic)
    if "FID" in kind:
        return _fid(path, dic, values, common)
    return _spectrum(path, dic, values, common)


def _common(path: Path, dic: dict) -> dict:
    """Parameters every RawSpectrum built from ``dic`` shares."""
    observe = _number(dic, "$SF") or _number(dic, ".OBSERVEFREQUENCY")
    if not observe:
        raise RawDataError(f"{path}: no observe frequency (.OBSERVE FREQUENCY or $SF)")
    return {
        "nucleus": normalize_nucleus(_first(dic, ".OBSERVENUCLEUS") or _first(dic, "$NUC1")),
        "observe_mhz": observe,
        "solvent": (_first(dic, ".SOLVENTNAME") or _first(dic, "$SOLVENT").strip("<>")) or None,
        "temperature_k": _number(dic, "$TE") or _number(dic, ".TEMPERATURE"),
        "title": _first(dic, "TITLE").splitlines()[0].strip() if _first(dic, "TITLE") else "",
        "sample": path.resolve().parent.name,
        "experiment": _first(dic, "$PULPROG").strip("<>") or _first(dic, ".PULSESEQUENCE"),
        "source": str(path),
    }


def _peak_table(path: Path, dic: dict) -> RawSpectrum:
    """A peak-table-only file (``##PEAK TABLE=(XY..XY)`` or ``(XYW..XYW)``) rendered as a
    noiseless spectrum of Lorentzian lines (width W, else 1 Hz), so the same picking and
    multiplet analysis apply."""
    common = _common(path, dic)
    observe = common["observe_mhz"]
    text = _first(dic, "PEAKTABLE")
    form, _, body = text.partition("\n")
    per_peak = 3 if "W" in form.upper() else 2
    numbers = [float(v) for v in re.split(r"[,;\s]+", body.strip()) if v]
    if not numbers or len(numbers) % per_peak:
        raise RawDataError(f"{path}: PEAK TABLE {form.strip()} has {len(numbers)} numbers")
    table = np.array(numbers).reshape(-1, per_peak)
    scale = 1.0 if _first(dic, "XUNITS").upper() != "HZ" else 1.0 / observe
    ppm = table[:, 0] * scale
    width_ppm = table[:, 2] * scale if per_peak == 3 else np.full(ppm.size, 1.0 / observe)
    width_ppm = np.where(width_ppm > 0, width_ppm, 1.0 / observe)
    step = min(float(width_ppm.min()) / 8, 0.05)
    first, last = float(ppm.max()) + 1.0, float(ppm.min()) - 1.0
    size = int(min(2**18, np.ceil((first - last) / step)))
    axis = first - np.arange(size) * (first - last) / size
    values = np.zeros(size)
    for centre, height, width in zip(ppm, table[:, 1], width_ppm, strict=True):
        values += height / (1.0 + ((axis - centre) / (width / 2)) ** 2)
    return RawSpectrum(
        data=values,
        domain="frequency",
        sweep_hz=(first - last) * observe,
        first_ppm=first,
        **{**common, "experiment": common["experiment"] or "peak table"},
    )


def _fid(path: Path, dic: dict, values: np.ndarray, common: dict) -> RawSpectrum:
    observe = common["observe_mhz"]
    sweep = _number(dic, "$SW_h")
    if not sweep:
        first, last = _columns(dic, "FIRST")[0], _columns(dic, "LAST")[0]
        if first is None or last is None or last <= first:
            raise RawDataError(f"{path}: no sweep width ($SW_h) and no time axis (FIRST/LAST)")
        sweep = (values.size - 1) / (last - first)
    sfo1 = _number(dic, "$SFO1") or _number(dic, ".OBSERVEFREQUENCY")
    acqus = {
        key: _number(dic, f"${key}") for key in ("GRPDLY", "DSPFVS", "DECIM") if f"${key}" in dic
    }
    return RawSpectrum(
        data=values.astype(np.complex128),
        domain="time",
        sweep_hz=sweep,
        carrier_ppm=(sfo1 - observe) * 1e6 / observe,
        group_delay=group_delay(acqus) if acqus else 0.0,
        conjugate=_vendor(dic) in _CONJUGATE_VENDORS,
        referenced=bool(_first(dic, ".SHIFTREFERENCE")),
        **common,
    )


def _spectrum(path: Path, dic: dict, values: np.ndarray, common: dict) -> RawSpectrum:
    observe = common["observe_mhz"]
    if "FIRSTX" in dic:
        first, last = _number(dic, "FIRSTX"), _number(dic, "LASTX")
        units = _first(dic, "XUNITS").upper()
    else:
        first, last = _columns(dic, "FIRST")[0], _columns(dic, "LAST")[0]
        units = _first(dic, "UNITS").split(",")[0].strip().upper()
    if first is None or last is None or first == last:
        raise RawDataError(f"{path}: no x axis (FIRSTX/LASTX or FIRST/LAST)")
    if units not in {"HZ", "PPM"}:
        raise RawDataError(f"{path}: x units {units!r}; expected HZ or PPM")
    span_hz = abs(first - last) * (observe if units == "PPM" else 1.0)
    if first < last:
        values = values[::-1]
        first, last = last, first
    first_ppm = first if units == "PPM" else first / observe
    offset = _number(dic, "$OFFSET")
    if units == "HZ" and "FIRSTX" not in dic and offset is not None:
        first_ppm = offset  # Bruker NTUPLES export: frequencies relative to the last point
    return RawSpectrum(
        data=values,
        domain="frequency",
        sweep_hz=span_hz * values.size / (values.size - 1),
        first_ppm=first_ppm,
        **common,
    )


def _vendor(dic: dict) -> str:
    """Lower-case, space-less vendor text: the ``##ORIGIN`` and the ``##JCAMP-DX`` comment."""
    text = " ".join([_first(dic, "ORIGIN"), *(str(c) for c in dic.get("_comments", [])[:1])])
    key = "".join(text.lower().split())
    return next((vendor for vendor in _CONJUGATE_VENDORS if vendor in key), key)


def _first(dic: dict, key: str) -> str:
    value = dic.get(key)
    if isinstance(value, list):
        value = value[0] if value else ""
    return "" if value is None else str(value).strip()


def _number(dic: dict, key: str) -> float | None:
    try:
        return float(_first(dic, key).split()[0])
    except (ValueError, IndexError):
        return None


def _columns(dic: dict, key: str) -> list[float | None]:
    out: list[float | None] = []
    for part in _first(dic, key).split(","):
        try:
            out.append(float(part))
        except ValueError:
            out.append(None)
    return out or [None]
