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

On top of the floors, a molecule-level conformal scaling: the sd is multiplied by one factor
per bin of each of the molecule's *novelty* (share of its carbons in new environments, with a
memory) and heavy-atom count, each the 90 % quantile of the normalized scores
``|r| / (z · sd)`` of its bin (the families fitted alternately, floors fixed). Within one atom
label the error still depends on the whole molecule (scaffold-grouped cross-validation on
validation, 13C: coverage 0.92 on the most familiar molecules, 0.88 on the newest; 0.92 on
molecules of ≤ 10 heavy atoms, 0.87 above 30), so the factors keep 90 % on sets of molecules
newer or larger than validation's. The solvent category was tried as a third family and left
out: on validation its bins flag data sources rather than solvent effects (a few hundred
molecules each), and on the out-of-domain literature records it narrowed 1H intervals that
were already too narrow (coverage 0.85 → 0.82). Cards without factors read as factors 1.
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
NOVELTY_BINS: tuple[float, ...] = (0.1, 0.3, 0.6)
"""Upper edges of the molecule novelty bins (share of carbons in new environments)."""
SIZE_BINS: tuple[float, ...] = (10.5, 20.5, 30.5)
"""Upper edges of the heavy-atom count bins (≤ 10, 11–20, 21–30, > 30)."""
FACTOR_FAMILIES: tuple[str, ...] = ("novelty", "heavy_atoms")
"""Molecule factor families, in fitting order (see :class:`MoleculeContext`)."""
MIN_BIN_ATOMS = 100
"""Molecule bins with fewer validation residuals keep factor 1."""
FACTOR_ROUNDS = 3
"""Alternating rounds of the factor families."""


def factor_bins(family: str) -> list:
    """Upper bin edges of ``family`` (stored in the card and checked on reading)."""
    return {"novelty": list(NOVELTY_BINS), "heavy_atoms": list(SIZE_BINS)}[family]


@dataclass(frozen=True, slots=True)
class MoleculeContext:
    """What the molecule factors read: scalars for one molecule or per-atom arrays."""

    novelty: float | np.ndarray | None = None
    """Share of the molecule's carbons in new environments (:func:`molecule_novelty`),
    ``None`` without a memory."""
    heavy_atoms: float | np.ndarray | None = None
    """Heavy atoms of the molecule."""

    def bins(self, family: str) -> int | np.ndarray | None:
        """Bin index of ``family`` (``None`` when the context lacks it)."""
        value = getattr(self, family)
        if value is None:
            return None
        return np.digitize(value, NOVELTY_BINS if family == "novelty" else SIZE_BINS)


@dataclass(frozen=True, slots=True)
class NucleusCalibration:
    """Uncertainty model of one nucleus."""

    spread_weight: float
    """Factor on the ensemble spread (ppm per ppm)."""
    default_floor: float
    """Floor (ppm) of environments not in ``floors``."""
    floors: dict[str, float] = field(default_factory=dict)
    """Floor (ppm) per environment label."""
    factors: dict[str, tuple[float, ...]] = field(default_factory=dict)
    """Factor per bin of each molecule family in :data:`FACTOR_FAMILIES` (absent: 1)."""

    def sd(
        self,
        spread: np.ndarray,
        environments: Sequence[str],
        context: MoleculeContext | None = None,
    ) -> np.ndarray:
        """Standard deviation (ppm) per atom from its spread and environment, times the
        molecule factors of ``context`` (``None``, or no fitted factors: 1)."""
        floor = np.array([self.floors.get(e, self.default_floor) for e in environments])
        base = np.sqrt((self.spread_weight * np.asarray(spread, float)) ** 2 + floor**2)
        return base * self.factor(context) if context is not None else base

    def factor(self, context: MoleculeContext) -> float | np.ndarray:
        """Product of the molecule factors of ``context`` (see the module docstring)."""
        factor: float | np.ndarray = 1.0
        for family, values in self.factors.items():
            bins = context.bins(family)
            if bins is not None:
                factor = factor * np.asarray(values)[bins]
        return factor

    def without_factors(self) -> NucleusCalibration:
        """The environment floors alone (the calibration before molecule scaling)."""
        return NucleusCalibration(self.spread_weight, self.default_floor, self.floors)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        out: dict[str, Any] = {
            "spread_weight": self.spread_weight,
            "default_floor": self.default_floor,
            "floors": dict(self.floors),
        }
        if self.factors:
            out["factors"] = {k: list(v) for k, v in self.factors.items()}
            out["factor_bins"] = {k: factor_bins(k) for k in self.factors}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NucleusCalibration:
        """Inverse of :meth:`to_dict`; raises ``ValueError`` when a card's factor family or
        bins are not this code's."""
        factors = {str(k): tuple(float(x) for x in v) for k, v in data.get("factors", {}).items()}
        for family, values in factors.items():
            if family not in FACTOR_FAMILIES:
                raise ValueError(f"factor family {family!r} (this code: {FACTOR_FAMILIES})")
            stored = data.get("factor_bins", {}).get(family)
            if stored != factor_bins(family) or len(values) != len(stored) + 1:
                raise ValueError(
                    f"{family} factor bins {stored} (this code: {factor_bins(family)})"
                )
        return cls(
            float(data["spread_weight"]),
            float(data["default_floor"]),
            {str(k): float(v) for k, v in data.get("floors", {}).items()},
            factors,
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


@dataclass(frozen=True, slots=True)
class NucleusResiduals:
    """Validation (or test) residuals of one nucleus with what the calibration reads."""

    residuals: np.ndarray
    """``(n,)`` predicted − observed, ppm."""
    spreads: np.ndarray
    """``(n,)`` ensemble spread of the atom, ppm."""
    labels: list[str]
    """Label of each atom (:func:`atom_labels`)."""
    context: MoleculeContext
    """Per-atom arrays of the atom's molecule (novelty ``None`` without a memory)."""
    molecule: np.ndarray
    """``(n,)`` index of the atom's record."""

    def sd(self, calibration: NucleusCalibration) -> np.ndarray:
        """The sd ``calibration`` gives these atoms."""
        return calibration.sd(self.spreads, self.labels, self.context)

    def subset(self, chosen: np.ndarray) -> NucleusResiduals:
        """The atoms where boolean ``chosen`` holds."""
        context = MoleculeContext(
            *(
                None if (v := getattr(self.context, f)) is None else v[chosen]
                for f in FACTOR_FAMILIES
            )
        )
        return NucleusResiduals(
            self.residuals[chosen],
            self.spreads[chosen],
            [label for label, keep in zip(self.labels, chosen, strict=True) if keep],
            context,
            self.molecule[chosen],
        )


def molecule_novelty(mol, levels: np.ndarray) -> float:
    """Share of the carbons of ``mol`` whose 13C environment is new to the memory (deepest
    sphere seen ``levels[:, 0]``, familiarity ``new``); 1 for a molecule without carbon."""
    from nmrpeak_cli.predict.memory import familiarity

    carbons = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() == 6]
    if not carbons:
        return 1.0
    column = np.asarray(levels)[carbons, 0]
    return float(np.mean([familiarity(int(level)) == "new" for level in column]))


def residual_table(
    records: Sequence,
    means: Sequence[np.ndarray],
    spreads: Sequence[np.ndarray],
    mols: Sequence,
    levels: Sequence[np.ndarray] | None = None,
) -> dict[str, NucleusResiduals]:
    """``{nucleus: residuals}`` over matched atoms of ``records`` (labels of
    :func:`atom_labels`, with familiarity and molecule novelty when ``levels`` are given)."""
    from nmrpeak_cli.predict.evaluate import record_errors

    parts: dict[str, dict[str, list]] = {
        kind: {key: [] for key in ("residuals", "spreads", "labels", "novelty", "heavy", "mol")}
        for kind in ("c13", "h1")
    }
    per_record = levels if levels is not None else [None] * len(records)
    for index, (record, mean, spread, mol, level) in enumerate(
        zip(records, means, spreads, mols, per_record, strict=True)
    ):
        labels_of = dict(zip(("c13", "h1"), atom_labels(mol, level), strict=True))
        novelty = molecule_novelty(mol, level) if level is not None else np.nan
        errors = record_errors(record, mean)
        columns = {"c13": 0, "h1": 1}
        pairs = (
            ("c13", errors.c13, errors.c13_atoms),
            ("h1", errors.h1, errors.h1_atoms),
        )
        if errors.cascade.size:  # true assignments replace the matched 13C errors
            pairs = (("c13", errors.cascade, record.cascade_atoms), pairs[1])
        for kind, values, atoms in pairs:
            part, atoms = parts[kind], np.asarray(atoms, int)
            part["residuals"].append(np.asarray(values, float))
            part["spreads"].append(spread[atoms, columns[kind]])
            part["labels"].extend(labels_of[kind][int(a)] for a in atoms)
            for key, value in (
                ("novelty", novelty),
                ("heavy", mol.GetNumHeavyAtoms()),
                ("mol", index),
            ):
                part[key].append(np.full(atoms.size, value))

    def joined(values: list, dtype=float) -> np.ndarray:
        return np.concatenate(values).astype(dtype) if values else np.zeros(0, dtype)

    return {
        kind: NucleusResiduals(
            joined(part["residuals"]),
            joined(part["spreads"]),
            part["labels"],
            MoleculeContext(
                joined(part["novelty"]) if levels is not None else None,
                joined(part["heavy"]),
            ),
            joined(part["mol"], np.int64),
        )
        for kind, part in parts.items()
    }


def fit_residuals(table: NucleusResiduals) -> NucleusCalibration:
    """Floors (:func:`fit_nucleus`), then the molecule factors (module docstring) of one
    nucleus: each family's factor per bin is the 90 % quantile of the scores divided by the
    other families' factors, over :data:`FACTOR_ROUNDS` rounds; bins with under
    :data:`MIN_BIN_ATOMS` atoms keep 1, families the table lacks are left out."""
    if table.residuals.size == 0:
        raise ValueError("no validation residuals to calibrate on")
    floors = fit_nucleus(table.residuals, table.spreads, table.labels)
    score = np.abs(table.residuals) / (Z * table.sd(floors))
    bins = {f: b for f in FACTOR_FAMILIES if (b := table.context.bins(f)) is not None}
    factors = {f: np.ones(len(factor_bins(f)) + 1) for f in bins}
    for _ in range(FACTOR_ROUNDS):
        for family, index in bins.items():
            others = np.ones(score.size)
            for other, values in factors.items():
                if other != family:
                    others = others * values[bins[other]]
            scaled = score / others
            factors[family] = np.array(
                [
                    float(np.quantile(scaled[index == j], COVERAGE))
                    if np.sum(index == j) >= MIN_BIN_ATOMS
                    else 1.0
                    for j in range(factors[family].size)
                ]
            )
    return NucleusCalibration(
        floors.spread_weight,
        floors.default_floor,
        floors.floors,
        {f: tuple(v.tolist()) for f, v in factors.items()},
    )


CV_FOLDS = 5
"""Scaffold-grouped folds of the cross-validated coverage written into the card."""


def scaffold_folds(mols: Sequence, folds: int = CV_FOLDS) -> np.ndarray:
    """Fold of every molecule, by a stable hash of its Murcko scaffold (its SMILES when
    acyclic), so that one scaffold never spans two folds."""
    import zlib

    from rdkit import Chem

    from nmrpeak_cli.chem import murcko_scaffold

    keys = [murcko_scaffold(mol) or Chem.MolToSmiles(mol) for mol in mols]
    return np.array([zlib.crc32(key.encode()) % folds for key in keys], dtype=np.int64)


def cross_validated_coverage(
    table: NucleusResiduals, folds: np.ndarray
) -> tuple[float, float, float]:
    """Pooled, lowest and highest out-of-fold coverage when :func:`fit_residuals` is fitted
    on the other folds (``folds`` per record); NaN when the atoms lie in one fold."""
    atom_folds = folds[table.molecule]
    if np.unique(atom_folds).size < 2:
        return np.nan, np.nan, np.nan
    held = np.zeros(table.residuals.size)
    per_fold = []
    for fold in np.unique(atom_folds):
        chosen = atom_folds == fold
        fitted = fit_residuals(table.subset(~chosen))
        held[chosen] = table.subset(chosen).sd(fitted)
        per_fold.append(coverage(table.residuals[chosen], held[chosen]))
    return coverage(table.residuals, held), min(per_fold), max(per_fold)


def fit_calibration(
    records: Sequence,
    means: Sequence[np.ndarray],
    spreads: Sequence[np.ndarray],
    mols: Sequence,
    members: int = 1,
    levels: Sequence[np.ndarray] | None = None,
) -> UncertaintyCalibration:
    """Fit both nuclei on validation records (see :func:`residual_table`) for an ensemble
    of ``members`` models; per familiarity and molecule novelty too when the memory's
    ``levels`` are given. The validation record has the in-sample coverage and mean sd,
    the floors-only coverage, and the scaffold-grouped cross-validated coverage."""
    table = residual_table(records, means, spreads, mols, levels)
    folds = scaffold_folds(mols)
    fitted = {}
    validation: dict[str, Any] = {}
    for kind in ("c13", "h1"):
        if not table[kind].residuals.size:
            raise ValueError(f"no {kind} validation residuals to calibrate on")
        part = table[kind]
        fitted[kind] = fit_residuals(part)
        sd = part.sd(fitted[kind])
        validation[f"{kind}_coverage"] = coverage(part.residuals, sd)
        validation[f"{kind}_mean_sd"] = float(np.mean(sd))
        validation[f"{kind}_coverage_floors_only"] = coverage(
            part.residuals, part.sd(fitted[kind].without_factors())
        )
        pooled, low, high = cross_validated_coverage(part, folds)
        validation[f"{kind}_cv_coverage"] = pooled
        validation[f"{kind}_cv_fold_range"] = [low, high]
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
    of ``data`` (the carve-out for ``split_column="all"``) and write it, and the members'
    file names, into the card of ``weights``.

    Members must sit in the folder of ``weights`` (the card names them relative to it). The
    environment memory the card names is applied (it must have been built with these
    members), and the floors are then fitted per environment and familiarity.
    """

    from nmrpeak_cli.artifacts import read_card, write_card
    from nmrpeak_cli.errors import InputFileError
    from nmrpeak_cli.predict.dataset import records_from_rows, validation_rows
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
    records, _ = records_from_rows(validation_rows(Path(data), split_column))
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
