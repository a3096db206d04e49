"""Raw instrument data in the registry: experiment folders and raw files become query spectra.

Reading belongs to :mod:`nmrpeak_cli.io.raw` and processing to this package; this module
only plugs them into :func:`~nmrpeak_cli.io.read_spectra` (it lives here, not in ``io``, so
that ``io`` never imports ``processing``). A folder is claimed
when it is a raw experiment itself (a Bruker ``<expno>``, a Varian ``.fid``) or directly
holds experiments (a Bruker sample folder with ``1/``, ``2/``…, a folder of JCAMP-DX
files), so the 13C and 1H experiments of one sample end up in one spectrum (other files in
such a folder, e.g. a CSV next to ``1/`` and ``2/``, are not read). Experiments that
fail become :class:`~nmrpeak_cli.io.records.RecordError` results (id
``<sample>/<experiment>``); deliberate skips (DEPT, 2D, other nuclei) yield nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from nmrpeak_cli.io.raw.jcamp import SUFFIXES as JCAMP_SUFFIXES
from nmrpeak_cli.io.raw.pipe import SUFFIXES as PIPE_SUFFIXES
from nmrpeak_cli.io.records import ReadResult, batched, spectrum_result
from nmrpeak_cli.io.registry import Format, Source, register_format


def claims_directory(path: Path) -> bool:
    """Whether ``path`` is a raw experiment or directly holds raw experiments."""
    from nmrpeak_cli.io.raw import detect_format

    if detect_format(path) is not None:
        return True
    try:
        children = [c for c in path.iterdir() if not c.name.startswith(".")]
    except OSError:
        return False
    return any(detect_format(child) is not None for child in children)


def _read_spectra(source: Source, batch_size: int) -> Iterator[list[ReadResult]]:
    from nmrpeak_cli.processing.peaks import peaks_from_folders

    report = peaks_from_folders([source.path])
    results = (
        spectrum_result(row, number, source.name) for number, row in enumerate(report.rows, start=1)
    )
    yield from batched(results, batch_size)


register_format(
    Format(
        "raw",
        tuple(sorted({*JCAMP_SUFFIXES, *PIPE_SUFFIXES})),
        read_spectra=_read_spectra,
        claims_directory=claims_directory,
    )
)
