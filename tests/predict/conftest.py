"""Fixtures for the predictor tests: a tiny random-weight model and a tiny experimental table."""

from __future__ import annotations

from pathlib import Path

import pytest

#: Small molecules with made-up but plausible per-atom shifts (13C with attached-H counts, 1H per H).
TINY_ROWS = [
    ("CCO", [58.0, 18.0], [2, 3], [3.7, 3.7, 1.2, 1.2, 1.2, 2.6]),
    ("CC(C)=O", [30.8, 206.0, 30.8], [3, 0, 3], [2.1] * 6),
    ("Cc1ccccc1", [21.4, 137.8, 129.1, 128.3, 125.4, 128.3, 129.1], [3, 0, 1, 1, 1, 1, 1], None),
    ("CCOC(C)=O", [14.2, 60.4, 171.0, 21.0], [3, 2, 0, 3], [1.26] * 3 + [4.12] * 2 + [2.05] * 3),
    (
        "c1ccncc1",
        [149.9, 123.7, 135.9, 123.7, 149.9],
        [1, 1, 1, 1, 1],
        [8.6, 8.6, 7.25, 7.25, 7.65],
    ),
    ("CC(C)O", [25.3, 64.0, 25.3], [3, 1, 3], [1.2] * 6 + [4.0]),
    (
        "OC(=O)c1ccccc1",
        [172.5, 129.4, 130.3, 128.5, 133.9, 128.5, 130.3],
        [0, 0, 1, 1, 1, 1, 1],
        None,
    ),
    ("CCCC", [13.9, 25.0, 25.0, 13.9], [3, 2, 2, 3], [0.9] * 6 + [1.3] * 4),
]


def tiny_table_rows() -> list[dict]:
    """Rows with the `data prepare` contract columns; splits cycle train/train/valid/test."""
    splits = ["train", "train", "valid", "test"]
    rows = []
    for i, (smiles, c13, n_h, h1) in enumerate(TINY_ROWS * 3):
        rows.append(
            {
                "id": f"m{i}",
                "smiles": smiles,
                "n_heavy": 0,
                "solvent_c13": "CDCl3" if i % 2 else None,
                "solvent_h1": None,
                "c13_shifts": c13,
                "c13_n_h": n_h,
                "h1_shifts": h1,
                "cascade_atoms": [0] if smiles == "CCO" else None,
                "cascade_shifts": [18.0] if smiles == "CCO" else None,
                "split_scaffold": splits[i % 4],
                "split_random": splits[(i + 1) % 4],
            }
        )
    return rows


@pytest.fixture
def tiny_rows() -> list[dict]:
    """The rows of :func:`tiny_table_rows`."""
    return tiny_table_rows()


@pytest.fixture(scope="session")
def tiny_table(tmp_path_factory) -> Path:
    """A tiny experimental table (Parquet) built by code."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            ("id", pa.string()),
            ("smiles", pa.string()),
            ("n_heavy", pa.int32()),
            ("solvent_c13", pa.string()),
            ("solvent_h1", pa.string()),
            ("c13_shifts", pa.list_(pa.float64())),
            ("c13_n_h", pa.list_(pa.int8())),
            ("h1_shifts", pa.list_(pa.float64())),
            ("cascade_atoms", pa.list_(pa.int32())),
            ("cascade_shifts", pa.list_(pa.float64())),
            ("split_scaffold", pa.string()),
            ("split_random", pa.string()),
        ]
    )
    path = tmp_path_factory.mktemp("data") / "experimental.parquet"
    pq.write_table(pa.Table.from_pylist(tiny_table_rows(), schema=schema), path)
    return path


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> Path:
    """A random-weight model (hidden 16, 2 layers) saved with its card."""
    import torch

    from nmrpeak_cli.predict.model import ModelConfig, ShiftModel
    from nmrpeak_cli.predict.weights import save_model

    torch.manual_seed(0)
    model = ShiftModel(ModelConfig(hidden=16, layers=2))
    path = tmp_path_factory.mktemp("models") / "predictor.safetensors"
    save_model(model, path, {"note": "random weights for tests"})
    return path
