"""nmrpeak: 1D NMR peak lists to molecular structures.

The public data model lives in :mod:`nmrpeak_cli.spectra`; readers and writers in
:mod:`nmrpeak_cli.io`; the peak-aware similarity in :mod:`nmrpeak_cli.similarity`.
Heavy dependencies (torch, faiss, RDKit) are imported lazily by the modules that need them.
"""

__version__ = "0.1.0"

from nmrpeak_cli.spectra import Nucleus, Peak, PeakList, Spectrum

__all__ = ["Nucleus", "Peak", "PeakList", "Spectrum", "__version__"]
