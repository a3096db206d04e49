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
checked when it is loaded) and is applied by :func:`forward_atoms` for every consumer of the
forward model.

This module holds what reading and applying a memory needs (the statistics, the correction,
the file format); building one from a training split, choosing its config on validation and
``nmrpeak train memory`` live in :mod:`nmrpeak_cli.predict.memory_build`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from nmrpeak_cli.artifacts import DictConfig

if TYPE_CHECKING:
    from rdkit import Chem


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
