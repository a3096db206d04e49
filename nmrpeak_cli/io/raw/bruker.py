"""Bruker TopSpin/XWIN-NMR experiment folders (``<sample>/<expno>/``): ``fid`` + ``acqus``,
and the processed spectrum ``pdata/1/1r`` + ``procs`` when present.

The processed spectrum is preferred (it carries the operator's phase and referencing);
``reprocess=True`` returns the FID instead. The digital filter is left in the FID and its
group delay is returned in :attr:`RawSpectrum.group_delay` (removal is a processing step,
:func:`nmrpeak_cli.processing.remove_digital_filter`).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from nmrpeak_cli.io.raw import RawDataError, RawSpectrum, normalize_nucleus

_TWO_D_FILES = ("ser", "acqu2s", "acqu2")


def detect(path: Path) -> bool:
    """Whether ``path`` is a Bruker experiment folder (``acqus``, or a ``fid``/``ser`` without
    a Varian ``procpar``)."""
    if not path.is_dir() or path.suffix.lower() == ".fid" or (path / "procpar").exists():
        return False
    return any((path / name).is_file() for name in ("acqus", "fid", "ser"))


def read(path: Path, *, reprocess: bool = False) -> RawSpectrum:
    """Read a Bruker 1D experiment folder.

    Parameters
    ----------
    path
        The experiment folder (``<sample>/<expno>``).
    reprocess
        Ignore ``pdata/1/1r`` and return the raw FID.

    Raises
    ------
    RawDataError
        Missing ``acqus``, 2D data, a ``fid`` shorter than ``TD`` says, unreadable files.
    """
    import nmrglue as ng

    path = Path(path)
    if not (path / "acqus").is_file():
        raise RawDataError(f"{path}: missing acqus (acquisition parameters); cannot read the FID")
    if any((path / name).exists() for name in _TWO_D_FILES):
        raise RawDataError(f"{path}: 2D experiment (ser/acqu2s present); only 1D is supported")
    try:
        acqus = ng.bruker.read_jcamp(str(path / "acqus"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise RawDataError(f"{path}/acqus: unreadable ({exc})") from exc
    procs_dir = path / "pdata" / "1"
    procs = _read_procs(procs_dir)
    nucleus = normalize_nucleus(str(acqus.get("NUC1", "")))
    if not nucleus:
        raise RawDataError(f"{path}/acqus: no NUC1 (observed nucleus)")
    common = {
        "nucleus": nucleus,
        "solvent": _clean(acqus.get("SOLVENT")) or None,
        "temperature_k": _positive(acqus.get("TE")),
        "title": _title(procs_dir),
        "sample": path.resolve().parent.name,
        "experiment": _clean(acqus.get("PULPROG")),
        "source": str(path),
    }
    if not reprocess and procs is not None and (procs_dir / "1r").is_file():
        return _read_processed(procs_dir, procs, common)
    return _read_fid(path, acqus, procs, common)


def _read_fid(path: Path, acqus: dict, procs: dict | None, common: dict) -> RawSpectrum:
    import nmrglue as ng

    fid_file = path / "fid"
    if not fid_file.is_file():
        raise RawDataError(f"{path}: no fid file (and no processed pdata/1/1r)")
    td = int(acqus.get("TD", 0))
    if td < 16:
        raise RawDataError(f"{path}/acqus: TD={td}; expected at least 16 points")
    width = 8 if int(acqus.get("DTYPA", 0)) == 2 else 4
    size = fid_file.stat().st_size
    if size < td * width:
        raise RawDataError(
            f"{fid_file}: truncated, {size} bytes but TD={td} points need {td * width} bytes"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, data = ng.bruker.read(str(path), read_pulseprogram=False, read_procs=False)
    except (OSError, ValueError) as exc:
        raise RawDataError(f"{fid_file}: unreadable ({exc})") from exc
    data = np.asarray(data)
    if data.ndim != 1:
        raise RawDataError(f"{fid_file}: {data.ndim}D data; only 1D is supported")
    observe = float((procs or {}).get("SF") or acqus["BF1"])
    sfo1 = float(acqus.get("SFO1") or acqus["BF1"])
    return RawSpectrum(
        data=data.astype(np.complex128),
        domain="time",
        observe_mhz=observe,
        sweep_hz=float(acqus["SW_h"]),
        carrier_ppm=(sfo1 - observe) * 1e6 / observe,
        group_delay=group_delay(acqus),
        **common,
    )


def _read_processed(procs_dir: Path, procs: dict, common: dict) -> RawSpectrum:
    import nmrglue as ng

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, data = ng.bruker.read_pdata(str(procs_dir), read_acqus=False, scale_data=True)
    except (OSError, ValueError) as exc:
        raise RawDataError(f"{procs_dir}/1r: unreadable ({exc})") from exc
    data = np.asarray(data, dtype=np.float64)
    size = int(procs.get("SI", 0))
    if data.ndim != 1 or data.size != size:
        raise RawDataError(f"{procs_dir}/1r: expected {size} points (SI), got shape {data.shape}")
    return RawSpectrum(
        data=data,
        domain="frequency",
        observe_mhz=float(procs["SF"]),
        sweep_hz=float(procs["SW_p"]),
        first_ppm=float(procs["OFFSET"]),
        **common,
    )


def group_delay(acqus: dict) -> float:
    """Digital-filter group delay in points: ``GRPDLY`` when set, else nmrglue's DSPFVS/DECIM
    table (firmware before DSPFVS 14), else 0 (no digital filter)."""
    import nmrglue as ng

    grpdly = float(acqus.get("GRPDLY", -1) or -1)
    if grpdly > 0:
        return grpdly
    dspfvs = int(acqus.get("DSPFVS", 0) or 0)
    decim = acqus.get("DECIM", 1)
    table = ng.bruker.bruker_dsp_table.get(dspfvs, {})
    decim_key = int(decim) if float(decim).is_integer() else decim
    return float(table.get(decim_key, 0.0))


def _read_procs(procs_dir: Path) -> dict | None:
    import nmrglue as ng

    if not (procs_dir / "procs").is_file():
        return None
    try:
        return ng.bruker.read_jcamp(str(procs_dir / "procs"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def _title(procs_dir: Path) -> str:
    title = procs_dir / "title"
    if not title.is_file():
        return ""
    lines = title.read_text(encoding="latin-1", errors="replace").strip().splitlines()
    return lines[0].strip() if lines else ""


def _clean(value: object) -> str:
    return "" if value is None else str(value).strip().strip("<>").strip()


def _positive(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None
