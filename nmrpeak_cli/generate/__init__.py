"""De novo structure generation: spectrum (+ formula) → ranked candidate molecules.

Submodules: :mod:`~nmrpeak_cli.generate.model` (transformer, save/load),
:mod:`~nmrpeak_cli.generate.inputs` (canonical input, configurations, augmentation),
:mod:`~nmrpeak_cli.generate.decode` (beam search, sampling, candidate filtering),
:mod:`~nmrpeak_cli.generate.rerank` (forward-prediction rerank, score fusion),
:mod:`~nmrpeak_cli.generate.api` (:func:`generate`; elucidation is :mod:`nmrpeak_cli.elucidate`),
:mod:`~nmrpeak_cli.generate.pairs`, :mod:`~nmrpeak_cli.generate.batches`,
:mod:`~nmrpeak_cli.generate.train` (training) and :mod:`~nmrpeak_cli.generate.bench`.
Torch is imported only when a submodule that needs it is used.
"""

from __future__ import annotations

from typing import Any

__all__ = ["generate", "load_generator"]


def __getattr__(name: str) -> Any:
    if name == "generate":
        from nmrpeak_cli.generate import api

        return getattr(api, name)
    if name == "load_generator":
        from nmrpeak_cli.generate.model import load_generator

        return load_generator
    raise AttributeError(f"module 'nmrpeak_cli.generate' has no attribute {name!r}")
