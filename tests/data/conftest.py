"""Fixtures of the data-preparation tests (builders in :mod:`data_builders`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.data.data_builders import GOOD_SMILES, SyntheticSource, build_source, build_wheel


@pytest.fixture
def synthetic_source(tmp_path: Path) -> SyntheticSource:
    """A synthetic source folder under ``tmp_path/source``."""
    return build_source(tmp_path / "source")


@pytest.fixture
def fake_wheel(tmp_path: Path) -> Path:
    """A fake molsets wheel holding GOOD_SMILES (as train/test) plus two new molecules."""
    half = len(GOOD_SMILES) // 2
    return build_wheel(
        tmp_path / "molsets-0.3.1-py3-none-any.whl",
        {
            "moses/dataset/data/train.csv.gz": [*GOOD_SMILES[:half], "CCCCCCCC"],
            "moses/dataset/data/test.csv.gz": [*GOOD_SMILES[half:], "c1ccc2[nH]ccc2c1", "C1CC"],
        },
    )
