"""Building an environment memory (:mod:`nmrpeak_cli.predict.memory`) from a training split:
observed shifts assigned to atoms, residual statistics per HOSE code, the shrinkage config
chosen on the validation split, and ``nmrpeak train memory`` writing it next to its predictor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nmrpeak_cli.predict.memory import (
    NUCLEI,
    EnvironmentMemory,
    LevelTable,
    MemoryConfig,
    hashed_codes,
    memory_file,
    save_memory,
)

if TYPE_CHECKING:
    from nmrpeak_cli.predict.dataset import ShiftRecord


@dataclass(frozen=True, slots=True)
class Assignment:
    """Observed shifts assigned to atoms of one record (one row per assigned shift).

    Attributes
    ----------
    c13_atoms, c13_shifts
        ``(k,)`` atom index and observed 13C shift (ppm).
    h1_atoms, h1_shifts
        ``(m,)`` heavy atom carrying the hydrogen and observed 1H shift (ppm); an atom
        appears once per assigned hydrogen.
    """

    c13_atoms: np.ndarray
    c13_shifts: np.ndarray
    h1_atoms: np.ndarray
    h1_shifts: np.ndarray


def assign_shifts(record: ShiftRecord, atom_shifts: np.ndarray) -> Assignment:
    """Assign ``record``'s observed shifts to atoms given predictions ``(n_atoms, 2)``:
    CASCADE 13C as mapped, else :func:`match_c13`; 1H by :func:`match_h1`."""
    from nmrpeak_cli.predict.matching import match_c13, match_h1  # scipy: not on predict's path

    graph = record.graph
    c13_atoms = h1_atoms = np.zeros(0, dtype=np.int64)
    c13_shifts = h1_shifts = np.zeros(0)
    if record.cascade_atoms is not None:
        c13_atoms = np.asarray(record.cascade_atoms, dtype=np.int64)
        c13_shifts = np.asarray(record.cascade_shifts, dtype=np.float64)
    elif record.c13 is not None:
        carbons = np.flatnonzero(graph.atomic_numbers == 6)
        m = match_c13(atom_shifts[carbons, 0], graph.n_h[carbons], record.c13, record.c13_n_h)
        c13_atoms, c13_shifts = carbons[m.atoms], record.c13[m.entries]
    if record.h1 is not None:
        bearing = np.flatnonzero(graph.n_h > 0)
        m = match_h1(atom_shifts[bearing, 1], graph.n_h[bearing], record.h1)
        h1_atoms, h1_shifts = bearing[m.atoms], record.h1[m.entries]
    return Assignment(c13_atoms, c13_shifts, h1_atoms, h1_shifts)


def build_memory(
    codes: Sequence[np.ndarray],
    predictions: Sequence[np.ndarray],
    assignments: Sequence[Assignment],
    config: MemoryConfig | None = None,
    predictor_sha256: Sequence[str] = (),
) -> EnvironmentMemory:
    """Residual statistics of many molecules: ``codes[i]`` (``(n_atoms, levels)``),
    ``predictions[i]`` (``(n_atoms, 2)`` ppm) and the observed shifts assigned to their
    atoms."""
    config = config or MemoryConfig()
    tables = []
    for nucleus, name in enumerate(NUCLEI):
        atom_codes, residuals = [], []
        for mol_codes, predicted, assignment in zip(codes, predictions, assignments, strict=True):
            atoms = getattr(assignment, f"{name}_atoms")
            observed = getattr(assignment, f"{name}_shifts")
            atom_codes.append(mol_codes[atoms, : config.levels])
            residuals.append(observed - predicted[atoms, nucleus])
        stacked = (
            np.concatenate(atom_codes) if atom_codes else np.zeros((0, config.levels), np.int64)
        )
        values = np.concatenate(residuals) if residuals else np.zeros(0)
        tables.append(
            tuple(LevelTable.from_pairs(stacked[:, d], values) for d in range(config.levels))
        )
    return EnvironmentMemory((tables[0], tables[1]), config, tuple(predictor_sha256))


GRID_K: tuple[float, ...] = (1.0, 2.0, 4.0)
"""Base pseudo-counts tried by :func:`fit_config`."""
GRID_TAU: dict[str, tuple[float, ...]] = {
    "c13": (0.0, 0.25, 0.5, 1.0),
    "h1": (0.0, 0.025, 0.05, 0.1),
}
"""Residual-sd scales tried by :func:`fit_config` (ppm)."""


def _evaluate(
    memory: EnvironmentMemory,
    records: Sequence[ShiftRecord],
    means: Sequence[np.ndarray],
    codes: np.ndarray,
    offsets: np.ndarray,
) -> dict[str, float | int]:
    from nmrpeak_cli.predict.evaluate import record_errors, summarize

    deltas = np.split(memory.correction(codes).delta, offsets)
    return summarize(
        [record_errors(r, m + d) for r, m, d in zip(records, means, deltas, strict=True)]
    )


def fit_config(
    memory: EnvironmentMemory,
    records: Sequence[ShiftRecord],
    means: Sequence[np.ndarray],
    codes: Sequence[np.ndarray],
    log: Callable[[str], None] = lambda _: None,
) -> tuple[MemoryConfig, dict[str, float | int]]:
    """Choose ``k`` and ``tau`` per nucleus on validation ``records`` (network predictions
    ``means``, HOSE hashes ``codes``) by matched MAE, as the benchmark reports it; returns the
    config and its validation summary."""
    stacked = np.concatenate(codes)
    offsets = np.cumsum([len(c) for c in codes])[:-1]
    best: dict[str, tuple[float, float, float]] = {}
    for k in GRID_K:
        for c13_tau, h1_tau in zip(GRID_TAU["c13"], GRID_TAU["h1"], strict=True):
            config = replace(memory.config, c13_k=k, c13_tau=c13_tau, h1_k=k, h1_tau=h1_tau)
            summary = _evaluate(memory.with_config(config), records, means, stacked, offsets)
            log(
                f"memory k={k} tau={c13_tau}/{h1_tau}: valid 13C {summary['c13_mae']:.4f} "
                f"1H {summary['h1_mae']:.4f}"
            )
            for name, tau in (("c13", c13_tau), ("h1", h1_tau)):
                score = float(summary[f"{name}_mae"])
                if name not in best or score < best[name][0]:
                    best[name] = (score, k, tau)
    config = replace(
        memory.config,
        c13_k=best["c13"][1],
        c13_tau=best["c13"][2],
        h1_k=best["h1"][1],
        h1_tau=best["h1"][2],
    )
    return config, _evaluate(memory.with_config(config), records, means, stacked, offsets)


def predictor_digests(weights: Path) -> tuple[str, ...]:
    """sha256 of the predictor's weights and of each ensemble member its card names."""
    from nmrpeak_cli.artifacts import read_card

    card = read_card(weights)
    members = [read_card(Path(weights).parent / n)["sha256"] for n in card.get("ensemble") or []]
    return (str(card["sha256"]), *map(str, members))


def train_memory(
    weights: Path,
    *,
    data: Path,
    split_column: str,
    output: Path | None = None,
    command: str = "",
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Build the memory of ``weights`` (with the ensemble its card names) on the training
    split of ``data``, choose its config on the validation split, write it (default
    :func:`memory_file`) and name it in the predictor's card; returns the memory's card.

    The predictor's ``uncertainty`` calibration no longer describes the corrected
    predictions and is removed from its card: rerun ``nmrpeak train uncertainty``.
    """
    from nmrpeak_cli.artifacts import read_card, write_card
    from nmrpeak_cli.errors import InputFileError
    from nmrpeak_cli.paths import file_sha256
    from nmrpeak_cli.predict.dataset import (
        ALL_SPLIT,
        CARVE_OUT_RULE,
        literature_path,
        read_all,
        read_table,
        records_from_rows,
    )
    from nmrpeak_cli.predict.featurize import parse_molecule
    from nmrpeak_cli.predict.uncertainty import ensemble_atoms
    from nmrpeak_cli.predict.weights import load_model

    weights, data = Path(weights), Path(data)
    output = Path(output) if output is not None else memory_file(weights)
    if output.parent.resolve() != weights.parent.resolve():
        raise InputFileError(f"the memory {output} must sit next to {weights}")
    model = load_model(weights, memory=False)
    digests = predictor_digests(weights)
    if split_column == ALL_SPLIT:
        train_rows, valid_rows = read_all(data)
    else:
        train_rows = read_table(data, split_column, ["train"])
        valid_rows = read_table(data, split_column, ["valid"])
    parts = {}
    for name, rows in (("train", train_rows), ("valid", valid_rows)):
        records, _ = records_from_rows(rows)
        if not records:
            raise InputFileError(f"{data}: no {name} records in {split_column}")
        cache: dict[str, np.ndarray] = {}
        for record in records:
            if record.smiles not in cache:
                cache[record.smiles] = hashed_codes(parse_molecule(record.smiles))
        codes = [cache[r.smiles] for r in records]
        means, _ = ensemble_atoms(model, [r.graph for r in records])
        parts[name] = (records, means, codes)
        log(f"{name}: {len(records)} records predicted, {len(cache)} molecules coded")
    records, means, codes = parts["train"]
    assignments = [assign_shifts(r, p) for r, p in zip(records, means, strict=True)]
    memory = build_memory(codes, means, assignments, MemoryConfig(), digests)
    log(
        "memory: "
        + ", ".join(
            f"{name} {sum(t.keys.size for t in tables)} codes"
            for name, tables in zip(NUCLEI, memory.tables, strict=True)
        )
    )
    from nmrpeak_cli.predict.evaluate import record_errors, summarize

    valid_records, valid_means, valid_codes = parts["valid"]
    network = summarize(
        [record_errors(r, p) for r, p in zip(valid_records, valid_means, strict=True)]
    )
    config, corrected = fit_config(memory, valid_records, valid_means, valid_codes, log)
    memory = memory.with_config(config)
    card = {
        "predictor": weights.name,
        "data": {
            "path": str(data),
            "sha256": file_sha256(data),
            "split_column": split_column,
            "train_records": len(records),
            "valid_records": len(valid_records),
        },
        "valid": {"network": network, "with_memory": corrected},
        "codes": {
            name: [int(t.keys.size) for t in tables]
            for name, tables in zip(NUCLEI, memory.tables, strict=True)
        },
        "method": (
            "residuals (observed - network) of the training split per HOSE code, spheres "
            "1-6 (CASCADE shifts as mapped, others by constrained matching to the network's "
            "predictions); correction by hierarchical shrinkage, k and tau chosen on the "
            "validation split"
        ),
        "command": command,
    }
    if split_column == ALL_SPLIT:
        literature = literature_path(data)
        card["data"] |= {
            "literature_path": str(literature),
            "literature_sha256": file_sha256(literature),
            "carve_out": CARVE_OUT_RULE,
        }
    written = save_memory(memory, output, card)
    predictor_card = read_card(weights)
    predictor_card["memory"] = output.name
    if predictor_card.pop("uncertainty", None) is not None:
        log(
            f"removed the stale uncertainty calibration from {weights}'s card: rerun "
            "`nmrpeak train uncertainty`"
        )
    write_card(weights, predictor_card)
    log(
        f"validation 13C {network['c13_mae']:.4f} -> {corrected['c13_mae']:.4f}, "
        f"1H {network['h1_mae']:.4f} -> {corrected['h1_mae']:.4f}; wrote {output}"
    )
    return written
