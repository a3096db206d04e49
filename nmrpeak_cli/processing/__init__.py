"""Raw 1D NMR data → peak lists: FID processing, peak picking, 1H multiplets, folder batches.

Modules, in the order data flows through them:

- :mod:`.types`: the value types (options, processed spectrum, signals, experiment peaks);
- :mod:`.transform`: digital-filter removal, apodization, zero-filling, Fourier transform;
- :mod:`.phase`: automatic zero/first-order phase correction;
- :mod:`.baseline`: noise estimation and baseline correction;
- :mod:`.reference`: solvent/TMS table and chemical-shift referencing;
- :mod:`.picking`: line picking above a signal-to-noise threshold;
- :mod:`.multiplets`: 1H multiplet grouping, first-order multiplicity and J;
- :mod:`.h1`: 1H multiplets, integrals and exclusion labels from picked lines;
- :mod:`.pipeline`: one experiment end to end (:func:`peaks_from_raw`);
- :mod:`.peaks`: folders of experiments → query-table rows (:func:`peaks_from_folders`);
- :mod:`.rawformat`: raw instrument data as a format of the :mod:`nmrpeak_cli.io` registry;
- :mod:`.synthetic`: FIDs with known answers and nmrglue writers (tests, benchmarks);
- :mod:`.plot`: optional PNG of an experiment (matplotlib).
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "ExperimentPeaks": "types",
    "PeaksReport": "peaks",
    "ProcessedSpectrum": "types",
    "ProcessingOptions": "types",
    "Signal": "types",
    "peaks_from_folders": "peaks",
    "peaks_from_raw": "pipeline",
    "process": "pipeline",
}
"""Public name → submodule. Imported on first use (PEP 562): reading a table must not pay
for scipy and nmrglue, which the raw-data pipeline needs and the format registry does not."""


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)


__all__ = [
    "ExperimentPeaks",
    "PeaksReport",
    "ProcessedSpectrum",
    "ProcessingOptions",
    "Signal",
    "peaks_from_folders",
    "peaks_from_raw",
    "process",
]
