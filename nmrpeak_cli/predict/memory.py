"""Environment memory: the network's residuals per HOSE code, added back where an environment
was seen in training.

Classic predictors (NMRShiftDB2's HOSE lookup, ACD) are most accurate where an atom's
environment was measured before; the network generalizes but is smoother. The memory keeps,
per nucleus and per HOSE sphere level (1..:data:`LEVELS`, codes of
:func:`~nmrpeak_cli.predict.hose.molecule_codes` hashed to int64), the statistics of the
network's training-split residuals ``observed − predicted``: count, mean and standard
deviation. Observed shifts are assigned to atoms as training does: CASCADE atom-mapped 13C
shifts as given, otherwise the constrained optimal matching of
:mod:`~nmrpeak_cli.predict.matching` to the network's own predictions.

A prediction is corrected by hierarchical shrinkage from sphere 1 down to the deepest sphere
whose code was seen: ``est_l = (n_l·r̄_l + k_l·est_{l-1}) / (n_l + k_l)``, ``est_0 = 0``, where
the pseudo-count ``k_l`` grows with the code's residual spread (:class:`MemoryConfig`, chosen
on the validation split). The deepest sphere found is also the atom's *familiarity*
(:func:`familiarity`): the per-peak uncertainty is calibrated per environment and
familiarity, since errors on environments never seen in training are about three times
larger than on well-known ones.

The memory is tied to the predictor it was built with (the sha256 of each member's weights,
checked when it is loaded) and is applied by :func:`predict_atoms` for every consumer of the
forward model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from nmrpeak_cli.artifacts import DictConfig

if TYPE_CHECKING:
    from rdkit import Chem

    from nmrpeak_cli.predict.dataset import ShiftRecord

LEVELS = 6
"""HOSE spheres stored (1 = the atom and its neighbours)."""
NUCLEI: tuple[str, str] = ("c13", "h1")
"""Nucleus names, in the column order of per-atom shift arrays."""
MODEL_KIND = "nmrpeak.EnvironmentMemory"


def hashed_codes(mol: Chem.Mol, levels: int = LEVELS) -> np.ndarray:
    """``(n_atoms, levels)`` int64 hashes of each atom's HOSE codes, spheres 1..``levels``.

    Equal environments (same code string) give equal hashes on every machine (the first 8
    bytes of blake2b, read as a little-endian signed integer); the level is part of the code
    string, so levels never collide by construction. Stored memories depend on this.
    """
    from nmrpeak_cli.predict.hose import molecule_codes

    codes = molecule_codes(mol, levels)
    digests = b"".join(
        hashlib.blake2b(code.encode(), digest_size=8).digest()
        for atom_codes in codes
        for code in atom_codes
    )
    return np.frombuffer(digests, dtype="<i8").astype(np.int64).reshape(len(codes), levels)


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


@dataclass(frozen=True, slots=True)
class MemoryConfig(DictConfig):
    """How stored statistics become corrections (chosen on validation); stored in the card.

    Per nucleus, the pseudo-count of a code with residual sd ``s`` is
    ``k + (max(s, sd_min) / tau)²`` (``tau = 0``: ``k`` alone), so environments whose training
    residuals disagree are trusted less.
    """

    config_name: ClassVar[str] = "memory config"

    levels: int = LEVELS
    """Spheres stored."""
    c13_k: float = 2.0
    """13C base pseudo-count."""
    c13_tau: float = 0.5
    """13C residual-sd scale, ppm (0: off)."""
    c13_sd_min: float = 0.2
    """13C lower bound on a code's residual sd, ppm."""
    h1_k: float = 2.0
    """1H base pseudo-count."""
    h1_tau: float = 0.05
    """1H residual-sd scale, ppm (0: off)."""
    h1_sd_min: float = 0.02
    """1H lower bound on a code's residual sd, ppm."""

    def nucleus(self, index: int) -> tuple[float, float, float]:
        """``(k, tau, sd_min)`` of nucleus ``index`` (0 = 13C, 1 = 1H)."""
        name = NUCLEI[index]
        return (
            getattr(self, f"{name}_k"),
            getattr(self, f"{name}_tau"),
            getattr(self, f"{name}_sd_min"),
        )


@dataclass(frozen=True, slots=True)
class LevelTable:
    """Residual statistics of one nucleus at one sphere level, keyed by sorted code hashes."""

    keys: np.ndarray
    """``(n_codes,)`` int64 code hashes, sorted ascending."""
    count: np.ndarray
    """``(n_codes,)`` float32 training residuals per code."""
    mean: np.ndarray
    """``(n_codes,)`` float32 mean residual (observed − predicted), ppm."""
    sd: np.ndarray
    """``(n_codes,)`` float32 standard deviation of the residuals, ppm (0 for one)."""

    def lookup(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(count, mean, sd)`` per code of ``codes`` (zeros where unseen)."""
        codes = np.asarray(codes, dtype=np.int64)
        if self.keys.size == 0:
            zeros = np.zeros(codes.shape)
            return zeros, zeros, zeros
        position = np.clip(np.searchsorted(self.keys, codes), 0, self.keys.size - 1)
        found = self.keys[position] == codes
        pick = lambda values: np.where(found, values[position], 0.0)  # noqa: E731
        return pick(self.count), pick(self.mean), pick(self.sd)

    @classmethod
    def from_pairs(cls, codes: np.ndarray, residuals: np.ndarray) -> LevelTable:
        """Statistics of ``residuals`` grouped by ``codes`` (both ``(n,)``)."""
        keys, inverse = np.unique(np.asarray(codes, dtype=np.int64), return_inverse=True)
        residuals = np.asarray(residuals, dtype=np.float64)
        count = np.bincount(inverse, minlength=keys.size).astype(np.float64)
        total = np.bincount(inverse, residuals, minlength=keys.size)
        squares = np.bincount(inverse, residuals**2, minlength=keys.size)
        mean = total / np.maximum(count, 1)
        variance = np.maximum(squares / np.maximum(count, 1) - mean**2, 0.0)
        sd = np.sqrt(variance * count / np.maximum(count - 1, 1))
        return cls(keys, count.astype(np.float32), mean.astype(np.float32), sd.astype(np.float32))


@dataclass(frozen=True, slots=True)
class MemoryCorrection:
    """What the memory adds to one molecule's predictions.

    Attributes
    ----------
    delta
        ``(n_atoms, 2)`` ppm added to the 13C and 1H predictions.
    level
        ``(n_atoms, 2)`` int64 deepest sphere found (0: environment never seen).
    count
        ``(n_atoms, 2)`` training residuals at that sphere.
    """

    delta: np.ndarray
    level: np.ndarray
    count: np.ndarray


@dataclass(frozen=True, slots=True)
class EnvironmentMemory:
    """Per-nucleus, per-level residual statistics of one predictor (see the module docstring).

    Attributes
    ----------
    tables
        ``tables[nucleus][level - 1]`` (nucleus 0 = 13C, 1 = 1H).
    config
        Shrinkage per nucleus.
    predictor_sha256
        sha256 of each predictor weight file (main, then ensemble members) the residuals
        are of.
    """

    tables: tuple[tuple[LevelTable, ...], tuple[LevelTable, ...]]
    config: MemoryConfig = field(default_factory=MemoryConfig)
    predictor_sha256: tuple[str, ...] = ()

    def correction(self, codes: np.ndarray) -> MemoryCorrection:
        """Corrections for atoms with HOSE hashes ``codes`` (``(n_atoms, levels)``)."""
        codes = np.asarray(codes, dtype=np.int64).reshape(-1, self.config.levels)
        n_atoms = codes.shape[0]
        delta = np.zeros((n_atoms, 2))
        level = np.zeros((n_atoms, 2), dtype=np.int64)
        count = np.zeros((n_atoms, 2))
        for nucleus in (0, 1):
            k, tau, sd_min = self.config.nucleus(nucleus)
            estimate = np.zeros(n_atoms)
            seen = np.ones(n_atoms, dtype=bool)
            for depth, table in enumerate(self.tables[nucleus][: codes.shape[1]]):
                n, mean, sd = table.lookup(codes[:, depth])
                seen &= n > 0
                if not seen.any():
                    break
                pseudo = k + ((np.maximum(sd, sd_min) / tau) ** 2 if tau > 0 else 0.0)
                shrunk = (n * mean + pseudo * estimate) / np.maximum(n + pseudo, 1e-12)
                estimate = np.where(seen, shrunk, estimate)
                level[:, nucleus] = np.where(seen, depth + 1, level[:, nucleus])
                count[:, nucleus] = np.where(seen, n, count[:, nucleus])
            delta[:, nucleus] = estimate
        return MemoryCorrection(delta, level, count)

    def with_config(self, config: MemoryConfig) -> EnvironmentMemory:
        """The same statistics applied with another :class:`MemoryConfig`."""
        return EnvironmentMemory(self.tables, config, self.predictor_sha256)

    def tensors(self) -> dict[str, np.ndarray]:
        """The statistics as named arrays (safetensors layout)."""
        out: dict[str, np.ndarray] = {}
        for nucleus, name in enumerate(NUCLEI):
            for depth, table in enumerate(self.tables[nucleus]):
                for part in ("keys", "count", "mean", "sd"):
                    out[f"{name}.{depth + 1}.{part}"] = getattr(table, part)
        return out

    @classmethod
    def from_tensors(
        cls, tensors: dict[str, Any], config: MemoryConfig, predictor_sha256: Sequence[str] = ()
    ) -> EnvironmentMemory:
        """Inverse of :meth:`tensors`; raises ``ValueError`` naming a missing or bad array."""
        tables = []
        for name in NUCLEI:
            levels = []
            for depth in range(1, config.levels + 1):
                try:
                    parts = [
                        np.asarray(tensors[f"{name}.{depth}.{p}"]) for p in LevelTable.__slots__
                    ]
                except KeyError as exc:
                    raise ValueError(f"environment memory: missing array {exc}") from None
                keys, count, mean, sd = parts
                if keys.dtype != np.int64 or not (
                    keys.shape == count.shape == mean.shape == sd.shape
                ):
                    raise ValueError(f"environment memory: bad arrays for {name} sphere {depth}")
                levels.append(
                    LevelTable(
                        keys,
                        count.astype(np.float32),
                        mean.astype(np.float32),
                        sd.astype(np.float32),
                    )
                )
            tables.append(tuple(levels))
        return cls((tables[0], tables[1]), config, tuple(predictor_sha256))


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


FAMILIARITY: tuple[tuple[int, str], ...] = ((2, "new"), (4, "near"), (LEVELS, "seen"))
"""Familiarity classes by the deepest HOSE sphere seen in training: up to 2 spheres is a new
environment, 3–4 a near one, 5–6 a well-known one."""


def familiarity(level: int) -> str:
    """Familiarity class (``new``, ``near``, ``seen``) of a deepest-sphere ``level``."""
    for bound, name in FAMILIARITY:
        if level <= bound:
            return name
    return FAMILIARITY[-1][1]


@dataclass(frozen=True, slots=True)
class AtomPredictions:
    """Per-atom output of the forward model for many molecules (one array per molecule).

    Attributes
    ----------
    shifts
        ``(n_atoms, 2)`` 13C/1H shifts, ppm, the memory's correction included.
    spreads
        ``(n_atoms, 2)`` standard deviation over ensemble members, ppm (0 for one model).
    levels
        ``(n_atoms, 2)`` int64 deepest HOSE sphere seen in training per nucleus, or ``None``
        when the model has no memory.
    """

    shifts: list[np.ndarray]
    spreads: list[np.ndarray]
    levels: list[np.ndarray] | None


def forward_atoms(
    model, graphs: Sequence, mols: Sequence | None = None, batch_size: int = 256
) -> AtomPredictions:
    """Per-atom predictions of ``model`` (a network or ensemble, with its ``memory`` when
    the card names one) for ``graphs``; ``mols`` (same atom order) are needed with a memory.

    Raises
    ------
    ValueError
        When the model has a memory and ``mols`` are missing or of another length.
    """
    from nmrpeak_cli.predict.uncertainty import ensemble_atoms

    means, spreads = ensemble_atoms(model, graphs, batch_size=batch_size)
    memory: EnvironmentMemory | None = getattr(model, "memory", None)
    if memory is None:
        return AtomPredictions(means, spreads, None)
    if mols is None or len(mols) != len(graphs):
        raise ValueError("the environment memory needs the molecule of every graph")
    if not means:
        return AtomPredictions([], [], [])
    codes = np.concatenate([hashed_codes(m, memory.config.levels) for m in mols])
    correction = memory.correction(codes)
    offsets = np.cumsum([len(m) for m in means])[:-1]
    deltas = np.split(correction.delta, offsets)
    levels = np.split(correction.level, offsets)
    return AtomPredictions([m + d for m, d in zip(means, deltas, strict=True)], spreads, levels)


def save_memory(memory: EnvironmentMemory, path: Path, card: dict[str, Any]) -> dict[str, Any]:
    """Write the memory as safetensors (int64 keys, float32 statistics) with its JSON card."""
    import torch

    from nmrpeak_cli.artifacts import save_artifact

    tensors = {
        name: torch.from_numpy(np.ascontiguousarray(v)) for name, v in memory.tensors().items()
    }
    extra = {"predictor_sha256": list(memory.predictor_sha256)} | card
    return save_artifact(path, tensors, memory.config, extra, model=MODEL_KIND)


def load_memory(path: Path, predictor_sha256: Sequence[str] | None = None) -> EnvironmentMemory:
    """Load a memory written by :func:`save_memory`.

    Raises
    ------
    NotAvailableError
        When a file is missing or altered, or the memory was built with other predictor
        weights than ``predictor_sha256`` (main, then members), naming both.
    """
    from nmrpeak_cli.artifacts import load_artifact
    from nmrpeak_cli.errors import NotAvailableError

    path = Path(path)

    def build(config: MemoryConfig, tensors: dict) -> EnvironmentMemory:
        try:
            return EnvironmentMemory.from_tensors(
                {k: v.numpy() for k, v in tensors.items()}, config
            )
        except ValueError as exc:
            raise KeyError(str(exc)) from None

    artifact = load_artifact(
        path,
        MemoryConfig,
        build,
        missing=f"environment memory {path} not found; build it with `nmrpeak train memory`",
    )
    built_with = tuple(str(s) for s in artifact.card.get("predictor_sha256") or ())
    if predictor_sha256 is not None and built_with != tuple(predictor_sha256):
        raise NotAvailableError(
            f"environment memory {path} was built with predictor sha256 "
            f"{', '.join(s[:12] for s in built_with) or 'unknown'}, but the predictor loaded is "
            f"{', '.join(s[:12] for s in predictor_sha256)}; rebuild it with "
            "`nmrpeak train memory --weights <predictor>`"
        )
    return artifact.model.with_config(artifact.config)


def memory_file(weights: Path) -> Path:
    """Default memory file of a predictor: ``<stem>_memory.safetensors`` next to it."""
    weights = Path(weights)
    return weights.with_name(f"{weights.stem}_memory.safetensors")


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
    from nmrpeak_cli.predict.dataset import ALL_SPLIT, read_all, read_table, records_from_rows
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
