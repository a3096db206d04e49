"""nmrpeak: 1D NMR peak lists to molecular structures.

The public data model lives in :mod:`nmrpeak_cli.spectra`; readers and writers in
:mod:`nmrpeak_cli.io`; the peak-aware similarity in :mod:`nmrpeak_cli.similarity`.
Heavy dependencies (torch, faiss, RDKit) are imported lazily by the modules that need them.

Layers, lowest first. A module imports only from its own layer or a lower one, and nothing
below ``cli`` imports ``cli`` (``tests/test_layers.py`` checks every import against this list;
a new top-level module or subpackage must be added to it):

1. ``errors`` ``paths`` ``solvents`` ``context`` — foundations: exceptions, locations, run settings
2. ``spectra`` ``chem`` ``artifacts`` ``similarity`` ``consistency`` ``tokenizer`` ``calibration`` — value types, model files and pure numerics
3. ``io`` ``schema`` — readers, writers and the file schemas they share
4. ``batch`` ``outputs`` ``processing`` ``data`` — batch running, raw-data processing, dataset preparation
5. ``predict`` ``report`` — the forward model, and the reports that overlay its spectra
6. ``retrieve`` ``generate`` — library search and de novo generation
7. ``elucidate`` ``elucidate_bench`` — both pooled into one ranked list
8. ``cli`` — the Typer application
"""

__version__ = "0.1.0"

from nmrpeak_cli.spectra import Nucleus, Peak, PeakList, Spectrum

__all__ = ["Nucleus", "Peak", "PeakList", "Spectrum", "__version__", "predict_spectra"]

_LAZY = {"predict_spectra": "nmrpeak_cli.predict.infer"}


def __getattr__(name: str):
    """Lazily import the heavy public functions (``predict_spectra``...) on first access."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nmrpeak_cli' has no attribute {name!r}")
