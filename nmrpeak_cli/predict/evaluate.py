"""Per-atom inference over featurized graphs and shift-error metrics.

The metrics follow DESIGN.md §7: 13C MAE per atom on atom-mapped (CASCADE) molecules, and
for every molecule the assignment-free error from the optimal constrained matching of
predicted per-atom shifts to the observed lists (:mod:`nmrpeak_cli.predict.matching`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nmrpeak_cli.predict.dataset import ShiftRecord
from nmrpeak_cli.predict.featurize import MolGraph
from nmrpeak_cli.predict.matching import match_c13, match_h1, matched_errors


def predict_atoms(model, graphs: Sequence[MolGraph], batch_size: int = 256) -> list[np.ndarray]:
    """Per-atom ``(n_atoms, 2)`` shift predictions (13C, 1H) in ppm, one array per graph."""
    import torch

    from nmrpeak_cli.predict.model import collate

    device = next(model.parameters()).device
    results: list[np.ndarray] = []
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(graphs), batch_size):
            chunk = graphs[start : start + batch_size]
            batch = collate(chunk)
            out = model(batch.to(device)).double().cpu().numpy()
            results.extend(np.split(out, batch.offsets[1:-1]))
    return results


_NO_ATOMS = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True, slots=True)
class RecordErrors:
    """Signed errors (predicted − observed, ppm) of one record.

    Attributes
    ----------
    c13
        Matched 13C errors (assignment-free, constrained by attached-H count).
    h1
        Matched 1H errors, one per matched hydrogen.
    cascade
        13C errors on atom-mapped (true-assignment) atoms.
    c13_atoms, h1_atoms
        Atom of each matched 13C / 1H error (for breakdowns by environment).
    """

    c13: np.ndarray
    h1: np.ndarray
    cascade: np.ndarray
    c13_atoms: np.ndarray
    h1_atoms: np.ndarray


_NONE = np.zeros(0)


def record_errors(record: ShiftRecord, atom_shifts: np.ndarray) -> RecordErrors:
    """Errors of per-atom predictions ``atom_shifts`` (``(n_atoms, 2)``) against ``record``."""
    graph = record.graph
    c13 = h1 = cascade = _NONE
    c13_atoms = h1_atoms = _NO_ATOMS
    if record.c13 is not None:
        carbons = np.flatnonzero(graph.atomic_numbers == 6)
        predicted = atom_shifts[carbons, 0]
        matching = match_c13(predicted, graph.n_h[carbons], record.c13, record.c13_n_h)
        c13 = matched_errors(predicted, record.c13, matching)
        c13_atoms = carbons[matching.atoms]
    if record.h1 is not None:
        bearing = np.flatnonzero(graph.n_h > 0)
        predicted = atom_shifts[bearing, 1]
        matching = match_h1(predicted, graph.n_h[bearing], record.h1)
        h1 = matched_errors(predicted, record.h1, matching)
        h1_atoms = bearing[matching.atoms]
    if record.cascade_atoms is not None:
        cascade = atom_shifts[record.cascade_atoms, 0] - record.cascade_shifts
    return RecordErrors(c13, h1, cascade, c13_atoms, h1_atoms)


def summarize(errors: Sequence[RecordErrors]) -> dict[str, float | int]:
    """MAE/RMSE/count per kind of error over many records (NaN where there is none)."""
    summary: dict[str, float | int] = {}
    for kind in ("c13", "h1", "cascade"):
        values = np.concatenate([getattr(e, kind) for e in errors]) if errors else _NONE
        summary[f"{kind}_mae"] = float(np.mean(np.abs(values))) if values.size else float("nan")
        summary[f"{kind}_rmse"] = (
            float(np.sqrt(np.mean(values**2))) if values.size else float("nan")
        )
        summary[f"{kind}_n"] = int(values.size)
    return summary


def evaluate_model(
    model, records: Sequence[ShiftRecord], batch_size: int = 256
) -> dict[str, float | int]:
    """:func:`summarize` of ``model`` on ``records``."""
    predictions = predict_atoms(model, [r.graph for r in records], batch_size)
    return summarize([record_errors(r, p) for r, p in zip(records, predictions, strict=True)])
