"""nmrpeak: 1D NMR peak lists to molecular structures.

The public data model lives in :mod:`nmrpeak_cli.spectra`; readers and writers in
:mod:`nmrpeak_cli.io`; the peak-aware similarity in :mod:`nmrpeak_cli.similarity`.
Heavy dependencies (torch, faiss, RDKit) are imported lazily by the modules that need them.
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
