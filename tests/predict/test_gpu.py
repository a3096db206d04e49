"""The forward model on a CUDA device answers as on the CPU (skipped without one)."""

from __future__ import annotations

import numpy as np
import pytest

from nmrpeak_cli.predict.infer import predict_records

pytestmark = pytest.mark.gpu

MOLECULES = ["CCO", "CC(C)=O", "OC(=O)c1ccccc1", "CCOC(C)=O", "c1ccncc1"]


def test_cuda_predictions_match_cpu(tiny_weights) -> None:
    cpu = list(predict_records(MOLECULES, weights=tiny_weights, batch_size=2, device="cpu"))
    gpu = list(predict_records(MOLECULES, weights=tiny_weights, batch_size=2, device="cuda"))
    assert [p.smiles for p in gpu] == [p.smiles for p in cpu], "same molecules, same order"
    for a, b in zip(cpu, gpu, strict=True):
        assert a.error is None and b.error is None, (a.error, b.error)
        for nucleus in ("c13", "h1"):
            x = np.array([p.shift for p in getattr(a.spectrum, nucleus)])
            y = np.array([p.shift for p in getattr(b.spectrum, nucleus)])
            assert x.shape == y.shape, f"{a.smiles} {nucleus}: peak counts differ"
            assert np.allclose(x, y, atol=1e-3), f"{a.smiles} {nucleus}: {x} vs {y}"
