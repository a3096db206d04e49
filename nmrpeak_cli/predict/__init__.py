"""The forward model: SMILES → predicted 13C and 1H peak lists.

Modules: :mod:`~.featurize` (graphs), :mod:`~.model` (the network), :mod:`~.matching`
(assignment-free pairing), :mod:`~.dataset`, :mod:`~.train`, :mod:`~.evaluate`,
:mod:`~.weights` (safetensors + card), :mod:`~.peaks` (atoms → peaks), :mod:`~.infer`
(batched inference), :mod:`~.hose` (HOSE-code baseline), :mod:`~.bench`.
Nothing heavy is imported here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nmrpeak_cli.predict.infer import Prediction, predict_records, predict_spectra

__all__ = ["Prediction", "predict_records", "predict_spectra"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from nmrpeak_cli.predict import infer

        return getattr(infer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
