"""Per-peak shift uncertainty: ensemble spread plus environment floors, calibrated on validation.

A prediction's standard deviation is ``sd = sqrt((w · spread)² + floor_env²)`` per nucleus:
``spread`` is the standard deviation of the ensemble members' predictions for the atom (0 for
a single model), ``floor_env`` the error scale of the atom's chemical environment
(:func:`~nmrpeak_cli.predict.environments.atom_environment`). Both are fitted on validation
residuals so that ``shift ± z₀.₉₀ · sd`` covers 90 % of observed shifts in every environment
with enough data (:func:`fit_calibration`); among the spread weights that achieve it, the one
giving the narrowest intervals wins. With an environment memory
(:mod:`~nmrpeak_cli.predict.memory`) the floors are per environment *and* familiarity (how
deep the atom's HOSE environment was seen in training), since new environments err about
three times more than well-known ones. Residuals are the assignment-free matched errors of
:func:`~nmrpeak_cli.predict.evaluate.record_errors` (true assignments on CASCADE atoms).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

COVERAGE = 0.90
"""Target coverage of the reported interval ``shift ± Z · sd``."""
Z = 1.6448536269514722
"""Two-sided 90 % quantile of the standard normal."""
MIN_ENVIRONMENT_ATOMS = 30
"""Environments with fewer validation residuals use the pooled floor."""
SPREAD_WEIGHTS: tuple[float, ...] = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0)
"""Spread weights tried by :func:`fit_nucleus`."""


@dataclass(frozen=True, slots=True)
class NucleusCalibration:
    """Uncertainty model of one nucleus."""

    spread_weight: float
    """Factor on the ensemble spread (ppm per ppm)."""
    default_floor: float
    """Floor (ppm) of environments not in ``floors``."""
    floors: dict[str, float] = field(default_factory=dict)
    """Floor (ppm) per environment label."""

    def sd(self, spread: np.ndarray, environments: Sequence[str]) -> np.ndarray:
        """Standard deviation (ppm) per atom from its spread and environment."""
        floor = np.array([self.floors.get(e, self.default_floor) for e in environments])
        return np.sqrt((self.spread_weight * np.asarray(spread, float)) ** 2 + floor**2)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "spread_weight": self.spread_weight,
            "default_floor": self.default_floor,
            "floors": dict(self.floors),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NucleusCalibration:
        """Inverse of :meth:`to_dict`."""
        return cls(
            float(data["spread_weight"]),
            float(data["default_floor"]),
            {str(k): float(v) for k, v in data.get("floors", {}).items()},
        )


@dataclass(frozen=True, slots=True)
class UncertaintyCalibration:
    """Per-nucleus uncertainty models, stored in the predictor's card under ``uncertainty``."""

    c13: NucleusCalibration
    """13C."""
    h1: NucleusCalibration
    """1H."""
    members: int = 1
    """Ensemble size it was fitted for."""
    familiarity: bool = False
    """Floors per environment *and* familiarity (``aromatic|new``; see
    :func:`~nmrpeak_cli.predict.memory.familiarity`), for a predictor with a memory."""
    validation: dict[str, Any] = field(default_factory=dict)
    """Coverage and mean sd on the data it was fitted on."""

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "coverage_target": COVERAGE,
            "members": self.members,
            "familiarity": self.familiarity,
            "c13": self.c13.to_dict(),
            "h1": self.h1.to_dict(),
            "validation": self.validation,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UncertaintyCalibration:
        """Inverse of :meth:`to_dict` (extra provenance keys are ignored); raises
        ``ValueError`` naming a missing part."""
        try:
            return cls(
                NucleusCalibration.from_dict(data["c13"]),
                NucleusCalibration.from_dict(data["h1"]),
                int(data.get("members", 1)),
                bool(data.get("familiarity", False)),
                dict(data.get("validation", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"uncertainty calibration: missing or invalid {exc}") from None


def coverage(residuals: np.ndarray, sd: np.ndarray) -> float:
    """Share of residuals inside ``± Z · sd`` (NaN when there are none)."""
    residuals = np.abs(np.asarray(residuals, float))
    return float(np.mean(residuals <= Z * np.asarray(sd, float))) if residuals.size else np.nan


def _floor_for_coverage(residuals: np.ndarray, spread_term: np.ndarray) -> float:
    """Smallest floor ``f`` with coverage of ``sqrt(spread_term² + f²)`` ≥ :data:`COVERAGE`."""
    if coverage(residuals, spread_term) >= COVERAGE:
        return 0.0
    low, high = 0.0, float(np.max(np.abs(residuals))) / Z + 1e-9
    for _ in range(50):
        mid = 0.5 * (low + high)
        if coverage(residuals, np.sqrt(spread_term**2 + mid**2)) >= COVERAGE:
            high = mid
        else:
            low = mid
    return high


def fit_nucleus(
    residuals: np.ndarray, spread: np.ndarray, environments: Sequence[str]
) -> NucleusCalibration:
    """Fit one nucleus (see the module docstring); ``spread`` all zero fits floors only."""
    residuals = np.asarray(residuals, float)
    spread = np.asarray(spread, float)
    labels = np.asarray(environments, dtype=object)
    if residuals.size == 0:
        raise ValueError("no validation residuals to calibrate on")
    weights = SPREAD_WEIGHTS if np.any(spread > 0) else (0.0,)
    best: tuple[float, NucleusCalibration] | None = None
    for weight in weights:
        term = weight * spread
        default = _floor_for_coverage(residuals, term)
        floors = {}
        for label in sorted(set(labels)):
            chosen = labels == label
            if chosen.sum() >= MIN_ENVIRONMENT_ATOMS:
                floors[str(label)] = _floor_for_coverage(residuals[chosen], term[chosen])
        calibration = NucleusCalibration(weight, default, floors)
        width = float(np.mean(calibration.sd(spread, labels)))
        if best is None or width < best[0]:
            best = (width, calibration)
    assert best is not None
    return best[1]


def ensemble_atoms(
    model, graphs: Sequence, batch_size: int = 256
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per-atom mean shifts and member spread (both ``(n_atoms, 2)`` ppm) for every graph.

    ``model`` is a :class:`~nmrpeak_cli.predict.model.ShiftModel` (spread 0) or a
    :class:`~nmrpeak_cli.predict.model.ShiftEnsemble`.
    """
    import torch

    from nmrpeak_cli.predict.model import collate

    members = list(getattr(model, "members", [model]))
    device = next(model.parameters()).device
    means: list[np.ndarray] = []
    spreads: list[np.ndarray] = []
    for member in members:
        member.eval()
    with torch.inference_mode():
        for start in range(0, len(graphs), batch_size):
            batch = collate(graphs[start : start + batch_size]).to(device)
            stacked = torch.stack([m(batch) for m in members]).double().cpu().numpy()
            mean = stacked.mean(axis=0)
            spread = stacked.std(axis=0, ddof=1) if len(members) > 1 else np.zeros_like(mean)
            means.extend(np.split(mean, batch.offsets[1:-1]))
            spreads.extend(np.split(spread, batch.offsets[1:-1]))
    return means, spreads


def atom_labels(mol, levels: np.ndarray | None = None) -> tuple[list[str], list[str]]:
    """Calibration labels of every atom of ``mol`` for 13C and 1H: its environment
    (:func:`~nmrpeak_cli.predict.environments.atom_environment`), followed by ``|`` and its
    familiarity per nucleus when the memory's deepest spheres ``levels`` (``(n_atoms, 2)``)
    are given."""
    from nmrpeak_cli.predict.environments import atom_environment

    environments = [atom_environment(atom) for atom in mol.GetAtoms()]
    if levels is None:
        return environments, environments
    from nmrpeak_cli.predict.memory import familiarity

    return tuple(  # type: ignore[return-value]
        [f"{e}|{familiarity(int(level))}" for e, level in zip(environments, column, strict=True)]
        for column in np.asarray(levels).T
    )


def residual_table(
    records: Sequence,
    means: Sequence[np.ndarray],
    spreads: Sequence[np.ndarray],
    mols: Sequence,
    levels: Sequence[np.ndarray] | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray, list[str]]]:
    """``{nucleus: (residuals, spreads, labels)}`` over matched atoms of ``records``
    (labels of :func:`atom_labels`, with familiarity when ``levels`` are given)."""
    from nmrpeak_cli.predict.evaluate import record_errors

    parts: dict[str, tuple[list, list, list[str]]] = {"c13": ([], [], []), "h1": ([], [], [])}
    per_record = levels if levels is not None else [None] * len(records)
    for record, mean, spread, mol, level in zip(
        records, means, spreads, mols, per_record, strict=True
    ):
        labels_of = dict(zip(("c13", "h1"), atom_labels(mol, level), strict=True))
        errors = record_errors(record, mean)
        columns = {"c13": 0, "h1": 1}
        pairs = (
            ("c13", errors.c13, errors.c13_atoms),
            ("h1", errors.h1, errors.h1_atoms),
        )
        if errors.cascade.size:  # true assignments replace the matched 13C errors
            pairs = (("c13", errors.cascade, record.cascade_atoms), pairs[1])
        for kind, values, atoms in pairs:
            residuals, spread_values, labels = parts[kind]
            residuals.append(np.asarray(values, float))
            spread_values.append(spread[np.asarray(atoms, int), columns[kind]])
            labels.extend(labels_of[kind][int(a)] for a in atoms)
    return {
        kind: (
            np.concatenate(residuals) if residuals else np.zeros(0),
            np.concatenate(spread_values) if spread_values else np.zeros(0),
            labels,
        )
        for kind, (residuals, spread_values, labels) in parts.items()
    }


def fit_calibration(
    records: Sequence,
    means: Sequence[np.ndarray],
    spreads: Sequence[np.ndarray],
    mols: Sequence,
    members: int = 1,
    levels: Sequence[np.ndarray] | None = None,
) -> UncertaintyCalibration:
    """Fit both nuclei on validation records (see :func:`residual_table`) for an ensemble
    of ``members`` models; per familiarity too when the memory's ``levels`` are given."""
    table = residual_table(records, means, spreads, mols, levels)
    fitted = {}
    for kind in ("c13", "h1"):
        if not table[kind][0].size:
            raise ValueError(f"no {kind} validation residuals to calibrate on")
        fitted[kind] = fit_nucleus(*table[kind])
    validation = {
        f"{kind}_coverage": coverage(
            table[kind][0], fitted[kind].sd(table[kind][1], table[kind][2])
        )
        for kind in ("c13", "h1")
    } | {
        f"{kind}_mean_sd": float(np.mean(fitted[kind].sd(table[kind][1], table[kind][2])))
        for kind in ("c13", "h1")
    }
    return UncertaintyCalibration(
        fitted["c13"], fitted["h1"], members, levels is not None, validation
    )


def calibrate_predictor(
    weights: Path,
    *,
    data: Path,
    split_column: str,
    members: Sequence[Path] = (),
    limit: int | None = None,
) -> UncertaintyCalibration:
    """Fit the uncertainty of ``weights`` (plus ensemble ``members``) on the validation split
    of ``data`` and write it, and the members' file names, into the card of ``weights``.

    Members must sit in the folder of ``weights`` (the card names them relative to it). The
    environment memory the card names is applied (it must have been built with these
    members), and the floors are then fitted per environment and familiarity.
    """

    from nmrpeak_cli.artifacts import read_card, write_card
    from nmrpeak_cli.errors import InputFileError
    from nmrpeak_cli.predict.dataset import read_table, records_from_rows
    from nmrpeak_cli.predict.featurize import parse_molecule
    from nmrpeak_cli.predict.model import ShiftEnsemble
    from nmrpeak_cli.predict.weights import load_member

    weights = Path(weights)
    for member in members:
        if Path(member).resolve().parent != weights.resolve().parent:
            raise InputFileError(f"ensemble member {member} must sit next to {weights}")
    loaded = [load_member(weights), *(load_member(Path(m)) for m in members)]
    model = ShiftEnsemble(loaded) if len(loaded) > 1 else loaded[0]
    model.memory = None
    card = read_card(weights)
    if card.get("memory"):
        from nmrpeak_cli.predict.memory import load_memory

        # the files were checked against these sha256 by load_member
        digests = [card["sha256"], *(read_card(Path(m))["sha256"] for m in members)]
        model.memory = load_memory(weights.parent / card["memory"], digests)
    records, _ = records_from_rows(read_table(Path(data), split_column, ["valid"]))
    if limit is not None:
        records = records[:limit]
    if not records:
        raise InputFileError(f"{data}: no validation records in {split_column}")
    from nmrpeak_cli.predict.memory import forward_atoms

    mols = [parse_molecule(r.smiles) for r in records]
    atoms = forward_atoms(model, [r.graph for r in records], mols)
    calibration = fit_calibration(
        records, atoms.shifts, atoms.spreads, mols, members=len(loaded), levels=atoms.levels
    )
    card = card | {
        "uncertainty": calibration.to_dict()
        | {"data": str(data), "split_column": split_column, "records": len(records)},
    }
    if members:
        card["ensemble"] = [Path(m).name for m in members]
    else:
        card.pop("ensemble", None)
    write_card(weights, card)
    return calibration
