"""Assignment-free training of the shift model (``nmrpeak train predictor``).

(Why one long file: the training loop, its resumable checkpoints and the export of the
best checkpoint with its model card belong to one run folder format.)

Each step predicts per-atom shifts for a batch, pairs them with the observed lists by the
optimal constrained matching (:mod:`nmrpeak_cli.predict.matching`) computed on detached
predictions, and back-propagates the L1 error of the matched pairs, in units of each
nucleus's target standard deviation. CASCADE rows (atom-mapped 13C) are supervised directly
per atom instead of through the matching. During the first ``warmup_epochs`` the matchings
are computed against a rule-based prior (:func:`~nmrpeak_cli.predict.hose.prior_shifts`)
rather than the untrained model, which otherwise can lock into a permuted 1H assignment that
is self-consistent but wrong. Training runs on the training split (with ``split_column
"all"``: every experimental and literature row minus a validation carve-out), is scored on
the validation split after every epoch (score = 13C MAE / 1.5 + 1H MAE / 0.25, the targets of
the issue), stops early, and checkpoints every epoch to ``out_dir`` (safetensors + JSON, so
``resume`` continues where it stopped). Shuffling and dropout are seeded per epoch.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from nmrpeak_cli.artifacts import DictConfig
from nmrpeak_cli.errors import InputFileError
from nmrpeak_cli.paths import atomic_path, file_sha256, write_text_atomic
from nmrpeak_cli.predict.dataset import (
    ALL_SPLIT,
    CARVE_OUT_RULE,
    ShiftRecord,
    literature_path,
    read_all,
    read_table,
    records_from_rows,
)
from nmrpeak_cli.predict.matching import match_c13, match_h1

C13_TARGET_MAE = 1.5
"""13C MAE (ppm) the validation score is scaled by."""
H1_TARGET_MAE = 0.25
"""1H MAE (ppm) the validation score is scaled by."""


@dataclass(frozen=True, slots=True)
class TrainConfig(DictConfig):
    """Everything that defines a training run (stored in checkpoints and the model card)."""

    config_name: ClassVar[str] = "train config"

    data: str = "data/experimental.parquet"
    """Experimental table written by ``nmrpeak data prepare``."""
    out_dir: str = "runs/predictor"
    """Checkpoint folder."""
    split_column: str = "split_scaffold"
    """Split column of the table (``train``/``valid``/``test`` values), or ``"all"``: every
    row of the table and of ``literature.parquet`` next to it, minus a validation carve-out
    (:data:`~nmrpeak_cli.predict.dataset.CARVE_OUT_RULE`); for the shipped model."""
    hidden: int = 192
    """Width of atom states."""
    layers: int = 6
    """Message-passing layers."""
    dropout: float = 0.0
    """Dropout in the layer MLPs."""
    epochs: int = 200
    """Maximum epochs."""
    batch_size: int = 64
    """Molecules per step."""
    lr: float = 1e-3
    """Initial AdamW learning rate."""
    weight_decay: float = 1e-5
    """AdamW weight decay."""
    h1_weight: float = 1.0
    """Weight of the 1H loss relative to 13C (both in target-std units)."""
    patience: int = 12
    """Epochs without validation improvement before stopping."""
    warmup_epochs: int = 1
    """First epochs whose matchings use the rule-based prior (:func:`~.hose.prior_shifts`)
    instead of the model's own predictions, so the model does not lock in a wrong
    assignment it proposed while still untrained."""
    seed: int = 0
    """Seed of initialization, shuffling and dropout."""
    threads: int = 1
    """torch CPU threads."""
    max_train: int | None = None
    """Use at most this many training molecules (quick runs)."""
    max_valid: int | None = None
    """Use at most this many validation molecules."""
    time_limit_min: float | None = None
    """Stop after the epoch that passes this many minutes (this invocation)."""
    init_weights: str | None = None
    """Start from these weights (safetensors + card; width and target normalization come
    from its card) instead of a random initialization. They are grown to the current feature
    layout and to ``layers`` without changing what they compute (:func:`~.model.grow_model`)."""
    checkpoint_min: float = 5.0
    """Also checkpoint inside an epoch every this many minutes, so a killed run loses at
    most this much work."""

    @classmethod
    def quick(cls, **overrides: Any) -> TrainConfig:
        """A configuration that trains in about a minute on two CPU cores (for tests)."""
        base = {
            "hidden": 64,
            "layers": 3,
            "epochs": 4,
            "max_train": 400,
            "max_valid": 100,
            "patience": 4,
        }
        return cls(**(base | overrides))


CHECKPOINT_FORMAT = "2"
"""Layout of ``last.safetensors`` + ``state.json`` (2: in-epoch steps, code versions)."""

RUNTIME_FIELDS: frozenset[str] = frozenset(
    {"out_dir", "epochs", "threads", "patience", "time_limit_min", "checkpoint_min"}
)
"""Fields a resumed run may change; every other field defines the run and must match."""


def code_versions() -> dict[str, str]:
    """Versions of the code a checkpoint depends on (stored in ``state.json``)."""
    from nmrpeak_cli.predict.featurize import FEATURE_VERSION

    return {"checkpoint_format": CHECKPOINT_FORMAT, "feature_version": FEATURE_VERSION}


def stored_config(out_dir: Path) -> TrainConfig:
    """The configuration of the run checkpointed in ``out_dir``.

    Raises
    ------
    InputFileError
        When there is no readable checkpoint state, or it was written by another code
        version (naming both).
    """
    path = Path(out_dir) / "state.json"
    try:
        state = json.loads(path.read_text())
        config = TrainConfig.from_dict(state["train_config"])
    except FileNotFoundError:
        raise InputFileError(
            f"--resume: no checkpoint in {out_dir} (expected last.safetensors and state.json)"
        ) from None
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise InputFileError(f"--resume: {path} is not a training state: {exc}") from None
    stored, current = state.get("code", {}), code_versions()
    if stored != current:
        raise InputFileError(
            f"--resume: {out_dir} was written by predictor code {stored or 'of an unknown version'}, "
            f"this is {current}; start a new run (another --out-dir)"
        )
    return config


def check_resumable(config: TrainConfig, stored: TrainConfig) -> None:
    """Raise :class:`InputFileError` naming every field where ``config`` redefines the run."""
    diff = [
        f"{name}: checkpoint {getattr(stored, name)!r}, given {getattr(config, name)!r}"
        for name in TrainConfig.__dataclass_fields__
        if name not in RUNTIME_FIELDS and getattr(config, name) != getattr(stored, name)
    ]
    if diff:
        raise InputFileError(
            "--resume: the checkpoint was made with another configuration ("
            + "; ".join(diff)
            + "); resume without those options or start a new run"
        )


@dataclass(frozen=True, slots=True)
class TrainResult:
    """Outcome of :func:`train_predictor`."""

    best_weights: Path
    """``best.safetensors`` in the run folder (card next to it)."""
    best_epoch: int
    """Epoch (1-based) of the best validation score."""
    valid: dict[str, float | int]
    """Validation metrics of the best epoch."""
    epochs_run: int
    """Epochs completed in total (including resumed ones)."""


def _subset(rows: list[dict], limit: int | None, seed: int) -> list[dict]:
    if limit is None or len(rows) <= limit:
        return rows
    order = np.random.default_rng(seed).permutation(len(rows))[:limit]
    return [rows[i] for i in sorted(order)]


def _target_stats(records: Sequence[ShiftRecord]) -> dict[str, float]:
    c13 = np.concatenate([r.c13 for r in records if r.c13 is not None] or [np.array([100.0, 0.0])])
    h1 = np.concatenate([r.h1 for r in records if r.h1 is not None] or [np.array([4.0, 0.0])])
    return {
        "c13_mean": float(c13.mean()),
        "c13_std": float(c13.std() or 1.0),
        "h1_mean": float(h1.mean()),
        "h1_std": float(h1.std() or 1.0),
    }


def batch_targets(
    records: Sequence[ShiftRecord], atom_shifts: np.ndarray, offsets: np.ndarray
) -> dict[str, np.ndarray]:
    """Matched (atom, target) pairs of a batch from detached predictions.

    Returns flat global atom indices and target shifts for 13C (``c13_atoms``, ``c13_values``)
    and 1H (``h1_atoms``, ``h1_values``).
    """
    c_atoms: list[np.ndarray] = []
    c_values: list[np.ndarray] = []
    h_atoms: list[np.ndarray] = []
    h_values: list[np.ndarray] = []
    for record, offset in zip(records, offsets[:-1], strict=False):
        graph = record.graph
        shifts = atom_shifts[offset : offset + graph.n_atoms]
        if record.cascade_atoms is not None:
            c_atoms.append(record.cascade_atoms + offset)
            c_values.append(record.cascade_shifts)
        elif record.c13 is not None:
            carbons = np.flatnonzero(graph.atomic_numbers == 6)
            m = match_c13(shifts[carbons, 0], graph.n_h[carbons], record.c13, record.c13_n_h)
            c_atoms.append(carbons[m.atoms] + offset)
            c_values.append(record.c13[m.entries])
        if record.h1 is not None:
            bearing = np.flatnonzero(graph.n_h > 0)
            m = match_h1(shifts[bearing, 1], graph.n_h[bearing], record.h1)
            h_atoms.append(bearing[m.atoms] + offset)
            h_values.append(record.h1[m.entries])

    def flat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)

    return {
        "c13_atoms": flat(c_atoms, np.int64),
        "c13_values": flat(c_values, np.float32),
        "h1_atoms": flat(h_atoms, np.int64),
        "h1_values": flat(h_values, np.float32),
    }


def _loss(model, batch, records: Sequence[ShiftRecord], h1_weight: float, guide: np.ndarray | None):
    import torch

    out = model(batch)
    guide = out.detach().numpy() if guide is None else guide
    targets = batch_targets(records, guide, batch.offsets)
    config = model.config
    terms = []
    if targets["c13_atoms"].size:
        pred = out[torch.from_numpy(targets["c13_atoms"]), 0]
        terms.append((pred - torch.from_numpy(targets["c13_values"])).abs().mean() / config.c13_std)
    if targets["h1_atoms"].size:
        pred = out[torch.from_numpy(targets["h1_atoms"]), 1]
        err = (pred - torch.from_numpy(targets["h1_values"])).abs().mean() / config.h1_std
        terms.append(h1_weight * err)
    return sum(terms) if terms else None


def _prior(cache: dict[int, np.ndarray], index: int, record: ShiftRecord) -> np.ndarray:
    """Rule-based per-atom shifts of a training record (cached)."""
    if index not in cache:
        from nmrpeak_cli.predict.featurize import parse_molecule
        from nmrpeak_cli.predict.hose import prior_shifts

        cache[index] = prior_shifts(parse_molecule(record.smiles)).astype(np.float32)
    return cache[index]


def validation_score(metrics: dict[str, float | int]) -> float:
    """13C MAE / 1.5 + 1H MAE / 0.25 (missing nuclei count as 0)."""
    c13 = metrics.get("c13_mae", float("nan"))
    h1 = metrics.get("h1_mae", float("nan"))
    return (0.0 if math.isnan(c13) else c13 / C13_TARGET_MAE) + (
        0.0 if math.isnan(h1) else h1 / H1_TARGET_MAE
    )


def _save_checkpoint(out_dir: Path, model, optimizer, scheduler, state: dict[str, Any]) -> None:
    from safetensors.torch import save_file

    tensors = {f"model.{k}": v.detach().contiguous() for k, v in model.state_dict().items()}
    opt_state = optimizer.state_dict()
    for index, values in opt_state["state"].items():
        for key, value in values.items():
            tensors[f"opt.{index}.{key}"] = (
                value.detach().reshape(-1).contiguous() if key == "step" else value
            )
    state = state | {
        "lr": [group["lr"] for group in opt_state["param_groups"]],
        "scheduler": {
            k: v for k, v in scheduler.state_dict().items() if isinstance(v, (int, float, str))
        },
    }
    # Weights first, then the state that names them: a kill between the two renames leaves
    # new weights with the previous state, whose step count is then replayed (never skipped).
    with atomic_path(out_dir / "last.safetensors") as tmp:
        save_file(tensors, str(tmp))
    write_text_atomic(
        out_dir / "state.json", json.dumps(state | {"code": code_versions()}, indent=2) + "\n"
    )


def _load_checkpoint(out_dir: Path, model, optimizer, scheduler) -> dict[str, Any]:
    from safetensors.torch import load_file

    path = out_dir / "last.safetensors"
    state_path = out_dir / "state.json"
    if not path.is_file() or not state_path.is_file():
        raise InputFileError(
            f"--resume: no checkpoint in {out_dir} (expected last.safetensors and state.json)"
        )
    tensors = load_file(str(path))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    state = json.loads(state_path.read_text())
    opt_state = optimizer.state_dict()
    per_param: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, index, name = key.split(".", 2)
            per_param.setdefault(int(index), {})[name] = (
                value.reshape(()) if name == "step" else value
            )
    opt_state["state"] = per_param
    for group, lr in zip(opt_state["param_groups"], state["lr"], strict=True):
        group["lr"] = lr
    optimizer.load_state_dict(opt_state)
    scheduler.load_state_dict(scheduler.state_dict() | state["scheduler"])
    return state


def train_predictor(
    config: TrainConfig,
    *,
    resume: bool = False,
    log: Callable[[str], None] = print,
) -> TrainResult:
    """Train (or resume training) the shift model; see the module docstring.

    Parameters
    ----------
    config
        The run definition. With ``resume`` it must equal the checkpointed run's config
        except in :data:`RUNTIME_FIELDS` (build it with :func:`stored_config` and
        ``dataclasses.replace``); anything else is refused by :func:`check_resumable`.
    resume
        Continue from ``out_dir/last.safetensors`` (also from inside an epoch: the batches
        already done in it are skipped, the same shuffled order is rebuilt from the seed).
    log
        Receives one line per epoch.
    """
    import torch

    from nmrpeak_cli.predict.evaluate import evaluate_model
    from nmrpeak_cli.predict.model import ModelConfig, ShiftModel, collate
    from nmrpeak_cli.predict.weights import save_model

    out_dir = Path(config.out_dir)
    if resume:
        check_resumable(config, stored_config(out_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, config.threads))
    started = time.monotonic()

    if config.split_column == ALL_SPLIT:
        all_train, all_valid = read_all(Path(config.data))
    else:
        all_train = read_table(Path(config.data), config.split_column, ["train"])
        all_valid = read_table(Path(config.data), config.split_column, ["valid"])
    train_rows = _subset(all_train, config.max_train, config.seed)
    valid_rows = _subset(all_valid, config.max_valid, config.seed)
    train, skipped = records_from_rows(train_rows)
    valid, _ = records_from_rows(valid_rows)
    if not train or not valid:
        raise InputFileError(
            f"{config.data}: no usable training ({len(train)}) or validation ({len(valid)}) records"
        )
    log(f"train records {len(train)} (skipped {len(skipped)} rows), valid records {len(valid)}")

    torch.manual_seed(config.seed)
    if config.init_weights is not None:
        from nmrpeak_cli.predict.model import grow_model
        from nmrpeak_cli.predict.weights import load_model

        initial = load_model(Path(config.init_weights))
        if initial.config.hidden != config.hidden:
            raise InputFileError(
                f"--init-weights {config.init_weights} has hidden {initial.config.hidden}, "
                f"the run asks for {config.hidden}"
            )
        model = grow_model(initial, max(config.layers, initial.config.layers)).train()
        log(
            f"initialized from {config.init_weights} (feature version "
            f"{initial.config.feature_version} → {model.config.feature_version}, layers "
            f"{initial.config.layers} → {model.config.layers})"
        )
    else:
        model_config = ModelConfig(
            hidden=config.hidden,
            layers=config.layers,
            dropout=config.dropout,
            **_target_stats(train),
        )
        model = ShiftModel(model_config)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, factor=0.5, patience=3, min_lr=1e-5
    )
    state: dict[str, Any] = {
        "epoch": 0,
        "step": 0,
        "partial_losses": [],
        "best_score": None,
        "best_epoch": 0,
        "bad_epochs": 0,
        "history": [],
    }
    checksums = {"data_sha256": (Path(config.data), file_sha256(Path(config.data)))}
    if config.split_column == ALL_SPLIT:
        literature = literature_path(Path(config.data))
        checksums["literature_sha256"] = (literature, file_sha256(literature))
    data_sha256 = checksums["data_sha256"][1]
    if resume:
        state = _load_checkpoint(out_dir, model, optimizer, scheduler)
        for key, (path, digest) in checksums.items():
            if state.get(key, digest) != digest:
                raise InputFileError(
                    f"--resume: {path} changed since the checkpoint (sha256 "
                    f"{state[key][:12]}… then, {digest[:12]}… now); start a new run"
                )
        state.setdefault("step", 0)
        state.setdefault("partial_losses", [])
        log(
            f"resumed at epoch {state['epoch']}, step {state['step']} "
            f"(best {state['best_score']} at epoch {state['best_epoch']})"
        )
    state |= {key: digest for key, (_, digest) in checksums.items()}
    card = {
        "train_config": config.to_dict(),
        "data": {
            "path": config.data,
            "sha256": data_sha256,
            "split_column": config.split_column,
            "train_records": len(train),
            "valid_records": len(valid),
        },
    }
    if config.split_column == ALL_SPLIT:
        card["data"] |= {
            "literature_path": str(checksums["literature_sha256"][0]),
            "literature_sha256": checksums["literature_sha256"][1],
            "carve_out": CARVE_OUT_RULE,
        }

    priors: dict[int, np.ndarray] = {}
    while state["epoch"] < config.epochs and state["bad_epochs"] < config.patience:
        epoch = state["epoch"] + 1
        torch.manual_seed(config.seed + epoch)
        model.train()
        order = np.random.default_rng(config.seed + epoch).permutation(len(train))
        losses: list[float] = list(state["partial_losses"])
        tick = last_save = time.monotonic()
        starts = range(0, len(order), config.batch_size)
        for step, start in enumerate(starts):
            if step < state["step"]:
                continue  # done before the interruption
            if time.monotonic() - last_save > 60 * config.checkpoint_min:
                state |= {"step": step, "partial_losses": losses}
                _save_checkpoint(
                    out_dir, model, optimizer, scheduler, state | {"train_config": config.to_dict()}
                )
                last_save = time.monotonic()
            indices = order[start : start + config.batch_size]
            chunk = [train[i] for i in indices]
            guide = None
            if epoch <= config.warmup_epochs:
                guide = np.concatenate([_prior(priors, i, train[i]) for i in indices])
            loss = _loss(model, collate([r.graph for r in chunk]), chunk, config.h1_weight, guide)
            if loss is None:
                continue
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            losses.append(loss.item())
        metrics = evaluate_model(model, valid)
        score = validation_score(metrics)
        scheduler.step(score)
        improved = state["best_score"] is None or score < state["best_score"]
        state |= {
            "epoch": epoch,
            "step": 0,
            "partial_losses": [],
            "bad_epochs": 0 if improved else state["bad_epochs"] + 1,
        }
        if improved:
            state |= {"best_score": score, "best_epoch": epoch, "best_valid": metrics}
            save_model(
                model, out_dir / "best.safetensors", card | {"epoch": epoch, "valid": metrics}
            )
        state["history"].append(
            {
                "epoch": epoch,
                "loss": float(np.mean(losses)) if losses else None,
                "score": score,
                **metrics,
            }
        )
        _save_checkpoint(
            out_dir, model, optimizer, scheduler, state | {"train_config": config.to_dict()}
        )
        log(
            f"epoch {epoch:3d} loss {np.mean(losses):.4f} valid 13C {metrics['c13_mae']:.3f} "
            f"1H {metrics['h1_mae']:.3f} cascade {metrics['cascade_mae']:.3f} score {score:.3f}"
            f"{' *' if improved else ''} lr {optimizer.param_groups[0]['lr']:.1e} {time.monotonic() - tick:.0f}s"
        )
        if (
            config.time_limit_min is not None
            and time.monotonic() - started > 60 * config.time_limit_min
        ):
            log(f"time limit of {config.time_limit_min} min reached after epoch {epoch}")
            break
    return TrainResult(
        best_weights=out_dir / "best.safetensors",
        best_epoch=state["best_epoch"],
        valid=state.get("best_valid", {}),
        epochs_run=state["epoch"],
    )


ARCHITECTURE_NOTE = (
    "Hand-written edge-aware message-passing network (GINE-style layers with residual MLPs and "
    "LayerNorm, molecule mean-pool and solvent embedding into the per-atom head) in plain torch. "
    "chemprop v2 was not used: it pulls in lightning and pins its own torch range, and the "
    "per-atom two-nucleus heads, solvent conditioning and matching-based losses are short to "
    "write directly. 2D graph only: no conformers, so featurization stays fast enough for "
    "library building."
)


MODEL_VERSION = "1"
"""Version of the shipped predictor (bumped with every retrained release)."""


def export_predictor(
    run_dir: Path,
    weights_out: Path,
    command: str,
    *,
    notes: str | None = None,
    half: bool = True,
    log: Callable[[str], None] = print,
) -> Path:
    """Copy the best checkpoint of ``run_dir`` to ``weights_out`` with a full model card.

    The card gets the run's train config, data manifest, best epoch, validation metrics, test
    metrics (computed here on the test split of the run's split column; ``None`` for the
    ``all`` split, which trains on every test molecule), the exact training command and
    :data:`ARCHITECTURE_NOTE`. Weights are stored as float16 unless ``half`` is false (test
    metrics are computed on the float16 weights). Returns the card path.
    """
    from nmrpeak_cli.predict.evaluate import evaluate_model
    from nmrpeak_cli.predict.weights import load_model, read_card, save_model

    best = Path(run_dir) / "best.safetensors"
    card = read_card(best)
    model = load_model(best)
    if half:  # measure what is shipped: the float16-rounded weights
        model.load_state_dict(
            {
                k: v.half().float() if v.is_floating_point() else v
                for k, v in model.state_dict().items()
            }
        )
    config = TrainConfig.from_dict(card["train_config"])
    test_metrics = None
    if config.split_column == ALL_SPLIT:
        log("no test metrics: the 'all' split trains on every test molecule")
    else:
        test, _ = records_from_rows(read_table(Path(config.data), config.split_column, ["test"]))
        test_metrics = evaluate_model(model, test)
        log(
            f"test ({config.split_column}): 13C {test_metrics['c13_mae']:.3f} 1H {test_metrics['h1_mae']:.3f} "
            f"cascade {test_metrics['cascade_mae']:.3f} ppm"
        )
    extra = {k: v for k, v in card.items() if k not in {"model", "weights", "sha256", "config"}}
    extra |= {
        "version": MODEL_VERSION,
        "feature_version": model.config.feature_version,
        "test": test_metrics,
        "training_command": command,
        "architecture_note": ARCHITECTURE_NOTE,
        "seed": config.seed,
        "split": config.split_column,
        "peaks": "13C: one peak per symmetry class (canonical ranks, no tie breaking); 1H: one "
        "peak per class of H-bearing atoms, first-order multiplicity and approximate J from "
        "vicinal neighbours; OH/NH/SH protons flagged exchangeable (broad singlets)",
        "notes": notes,
    }
    return save_model(model, Path(weights_out), extra, half=half)
