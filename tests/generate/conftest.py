"""Fixtures: a tiny generator trained by code in seconds to memorize a handful of molecules."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from nmrpeak_cli.generate.inputs import Augmentation
from nmrpeak_cli.generate.model import Generator, save_generator
from nmrpeak_cli.generate.pairs import Pair, row_to_pair
from nmrpeak_cli.generate.train import TrainConfig, train_phase

ROWS = (
    {"id": "ethanol", "smiles": "CCO", "c13": [58.3, 18.4], "h1": "3.69 (q, 2H), 2.61 (s, 1H), 1.22 (t, 3H)"},
    {"id": "acetic", "smiles": "CC(=O)O", "c13": [177.9, 20.8], "h1": "11.42 (s, 1H), 2.10 (s, 3H)"},
    {"id": "benzene", "smiles": "c1ccccc1", "c13": [128.4], "h1": "7.36 (s, 6H)"},
    {"id": "alanine", "smiles": "C[C@H](N)C(=O)O", "c13": [176.5, 51.2, 17.1], "h1": "3.77 (q, 1H), 1.47 (d, 3H)"},
    {"id": "toluene", "smiles": "Cc1ccccc1", "c13": [137.9, 129.1, 128.3, 125.4, 21.5], "h1": "7.25 (m, 2H), 7.17 (m, 3H), 2.35 (s, 3H)"},
    {"id": "acetone", "smiles": "CC(C)=O", "c13": [206.7, 30.8], "h1": "2.17 (s, 6H)"},
)  # fmt: skip


def _pairs() -> list[Pair]:
    return [
        replace(row_to_pair(r), spectrum=replace(row_to_pair(r).spectrum, id=r["id"])) for r in ROWS
    ]


def tiny_config(**changes) -> TrainConfig:
    """The quick config, without noisy augmentation so the memorization is reliable."""
    clean = Augmentation(drop_peak=0.0, duplicate_peak=0.0, c13_jitter_ppm=0.2, h1_jitter_ppm=0.01)
    return replace(
        TrainConfig.quick(), max_steps=300, eval_every=100, augmentation=clean, **changes
    )


@pytest.fixture(scope="session")
def tiny_pairs() -> list[Pair]:
    """Training pairs of :data:`ROWS` (ids set)."""
    return _pairs()


@pytest.fixture(scope="session")
def tiny_generator(tmp_path_factory: pytest.TempPathFactory) -> Generator:
    """A generator that has memorized :data:`ROWS` (top-1 for their full spectra)."""
    import torch

    torch.set_num_threads(1)
    run = tmp_path_factory.mktemp("tiny_run")
    pairs = _pairs()
    return train_phase(pairs, pairs, tiny_config(), run).generator


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory: pytest.TempPathFactory, tiny_generator: Generator) -> Path:
    """A models folder holding only the tiny generator (for ``NMRPEAK_MODELS``)."""
    folder = tmp_path_factory.mktemp("models")
    save_generator(tiny_generator, folder / "generator.safetensors", {"note": "test model"})
    return folder
