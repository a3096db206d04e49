"""Training the retriever encoders (SME, SSE) with InfoNCE on the training split only.

Pairs come from the prepared experimental table (``data/experimental.parquet``): for each
training molecule its experimental spectrum (the query side), its SMILES (SME entry side)
and its spectrum predicted by the forward model (SSE entry side). Batches are built from
blocks of molecules sharing a formula, so in-batch negatives include isomers (hard
negatives of the same formula). Query spectra are augmented by dropping one nucleus at
random, so one encoder serves the C, H and C+H configurations. The symmetric InfoNCE loss
uses a learned temperature; the learning rate warms up for one epoch and then follows a
cosine decay sized after the first epoch to end within the time limit. The checkpoint with the best validation top-1 (valid-split
queries against the valid molecules) is kept; runs write to ``runs/retriever/<kind>/``.

With ``pretrain`` (a corpus folder from ``nmrpeak train generator-corpus``), the encoder
first sees simulated pairs: each corpus spectrum, predicted by the forward model for a
MOSES or training molecule, is both the entry side (SSE) and, jittered, the query side;
the molecule is the SME entry side. Corpus molecules that are validation or test molecules
of the split (any stereoisomer) are refused before training.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from nmrpeak_cli.data.corpus import read_corpus, read_smiles
from nmrpeak_cli.errors import InputFileError
from nmrpeak_cli.paths import write_json_atomic
from nmrpeak_cli.predict.forward import Predictor
from nmrpeak_cli.retrieve.encoders import (
    EncoderConfig,
    build_modules,
    morgan_counts,
    peak_batch,
    save_encoder,
    to_tensors,
)
from nmrpeak_cli.retrieve.models import prediction_to_spectrum
from nmrpeak_cli.spectra import Spectrum


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Settings of one encoder training run.

    Attributes
    ----------
    kind
        ``sme`` or ``sse``.
    data
        Prepared experimental table.
    out_dir
        Run folder (predicted-spectra cache, best weights, log).
    split_column
        Split column; ``train`` rows train, ``valid`` rows select the checkpoint.
    epochs, batch_size, lr, weight_decay
        Optimization.
    dim, hidden
        Encoder widths.
    block
        Molecules per same-formula block when composing batches.
    time_limit_min
        Stop after the epoch that passes this many minutes.
    seed, threads
        Random seed and torch CPU threads.
    pretrain, pretrain_epochs
        Simulated corpus folder to pretrain on first (``None``: experimental pairs only),
        and its epochs (not counted in ``epochs`` or ``time_limit_min``).
    """

    kind: str
    data: Path = Path("data/experimental.parquet")
    out_dir: Path = Path("runs/retriever")
    split_column: str = "split_scaffold"
    epochs: int = 40
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-4
    dim: int = 128
    hidden: int = 256
    block: int = 4
    time_limit_min: float = 20.0
    seed: int = 0
    threads: int = 1
    pretrain: Path | None = None
    pretrain_epochs: int = 2


SIMULATED_JITTER_PPM = {"c13": 1.5, "h1": 0.05}
"""Standard deviation of the noise added to simulated query shifts (about the forward
model's error on experimental spectra), per nucleus."""


@dataclass(frozen=True, slots=True)
class Pair:
    """One training example: experimental spectrum, predicted spectrum, molecule."""

    experimental: Spectrum
    predicted: Spectrum
    smiles: str
    formula: str


def predicted_cache(
    data: Path, out_dir: Path, predictor: Predictor, log: Callable[[str], None] = print
) -> dict[str, Spectrum]:
    """Predicted spectra of every molecule of ``data`` by id (cached as Parquet in ``out_dir``)."""
    import pyarrow as pa

    from nmrpeak_cli.retrieve.library import ENTRY_SCHEMA

    identity = predictor.identity
    path = Path(out_dir) / f"predicted_{identity.sha256[:12] or identity.version}.parquet"
    if not path.is_file():
        table = pq.read_table(data, columns=["id", "smiles"])
        ids, smiles = table.column("id").to_pylist(), table.column("smiles").to_pylist()
        log(f"predicting {len(ids)} molecules with {identity.describe()} → {path}")
        rows = []
        for start in range(0, len(ids), 2048):
            batch = list(zip(ids[start : start + 2048], smiles[start : start + 2048], strict=True))
            rows.extend(r for r in predictor.predict_rows(batch) if not r.get("error"))
        fields = [ENTRY_SCHEMA.field(n) for n in ("id", "smiles", "c13", "h1")]
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(rows, schema=pa.schema(fields)), path)
    return {row["id"]: prediction_to_spectrum(row) for row in pq.read_table(path).to_pylist()}


def load_pairs(
    data: Path, split_column: str, split: str, predicted: dict[str, Spectrum]
) -> list[Pair]:
    """Pairs of the rows of ``split`` that have a prediction and at least one nucleus."""
    from nmrpeak_cli.data.dataset import row_to_query_spectrum

    if not Path(data).is_file():
        raise InputFileError(f"{data} not found; run `nmrpeak data prepare` first")
    columns = ["id", "smiles", "formula", "c13", "h1", "solvent_c13", "solvent_h1", split_column]
    table = pq.read_table(data, columns=columns)
    pairs = []
    for row in table.to_pylist():
        if row[split_column] != split or row["id"] not in predicted:
            continue
        spectrum = row_to_query_spectrum(row)
        if spectrum.nuclei:
            pairs.append(Pair(spectrum, predicted[row["id"]], row["smiles"], row["formula"] or ""))
    return pairs


def corpus_pairs(folder: Path, held_out_smiles: Sequence[str], jobs: int = 1) -> list[Pair]:
    """Simulated pairs of a corpus folder; raises if a held-out molecule is among them."""
    from nmrpeak_cli.data.splits import check_no_leakage
    from nmrpeak_cli.schema import row_to_spectrum

    pairs = []
    for part in read_corpus(folder):
        for row in pq.read_table(
            part, columns=["id", "smiles", "formula", "c13", "h1"]
        ).to_pylist():
            spectrum = replace(row_to_spectrum(row), smiles=None)
            if spectrum.nuclei and row["smiles"]:
                pairs.append(Pair(spectrum, spectrum, row["smiles"], row["formula"] or ""))
    check_no_leakage([p.smiles for p in pairs], held_out_smiles, jobs)
    return pairs


def jitter(spectrum: Spectrum, rng: np.random.Generator) -> Spectrum:
    """A simulated spectrum with Gaussian noise on every shift (:data:`SIMULATED_JITTER_PPM`)."""
    from nmrpeak_cli.spectra import PeakList

    lists = {}
    for name in ("c13", "h1"):
        peaks = getattr(spectrum, name)
        if peaks is not None:
            noise = rng.normal(0.0, SIMULATED_JITTER_PPM[name], len(peaks))
            lists[name] = PeakList(
                peaks.nucleus,
                tuple(
                    replace(p, shift=float(p.shift + d)) for p, d in zip(peaks, noise, strict=True)
                ),
            )
    return replace(spectrum, **lists)


def formula_batches(
    pairs: Sequence[Pair], batch_size: int, block: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Index batches in which molecules come in same-formula blocks (hard negatives)."""
    keys = rng.random(len(pairs))
    order = sorted(range(len(pairs)), key=lambda i: (pairs[i].formula, keys[i]))
    blocks = [np.array(order[i : i + block]) for i in range(0, len(order), block)]
    rng.shuffle(blocks)
    flat = np.concatenate(blocks) if blocks else np.zeros(0, int)
    return [
        flat[i : i + batch_size]
        for i in range(0, len(flat), batch_size)
        if len(flat[i : i + batch_size]) > 1
    ]


def drop_nucleus(spectrum: Spectrum, rng: np.random.Generator) -> Spectrum:
    """Augmentation: with both nuclei present, keep C+H, C only or H only (⅓ each)."""
    if spectrum.c13 is None or spectrum.h1 is None:
        return spectrum
    choice = rng.integers(3)
    if choice == 1:
        return replace(spectrum, h1=None)
    if choice == 2:
        return replace(spectrum, c13=None)
    return spectrum


def _entry_inputs(
    config: EncoderConfig,
    pairs: Sequence[Pair],
    fingerprints: Mapping[str, np.ndarray] | None = None,
) -> Any:
    """Entry-side inputs: fingerprints (SME; from ``fingerprints`` when precomputed) or
    predicted peak batches (SSE)."""
    import torch

    if config.kind == "sme":
        if fingerprints is not None:
            rows = np.stack([fingerprints[p.smiles] for p in pairs]).astype(np.float32)
        else:
            rows = morgan_counts([p.smiles for p in pairs], config.fp_bits, config.fp_radius)
        return torch.from_numpy(rows)
    return to_tensors(peak_batch([p.predicted for p in pairs]))


def _fingerprint_table(
    config: EncoderConfig, pairs: Sequence[Pair]
) -> dict[str, np.ndarray] | None:
    """SME: every pair's fingerprint computed once (float16 rows by SMILES); SSE: ``None``."""
    if config.kind != "sme":
        return None
    smiles = sorted({p.smiles for p in pairs})
    table = morgan_counts(smiles, config.fp_bits, config.fp_radius).astype(np.float16)
    return dict(zip(smiles, table, strict=True))


def _embed_entries(modules, config: EncoderConfig, inputs) -> Any:
    if config.kind == "sme":
        return modules["entry"](inputs)
    return modules["entry"](inputs, 1)


def validation_top1(
    modules,
    config: EncoderConfig,
    pairs: Sequence[Pair],
    fingerprints: Mapping[str, np.ndarray] | None = None,
) -> float:
    """Top-1 accuracy of valid experimental spectra against the valid molecules' entries."""
    import torch

    with torch.inference_mode():
        queries, entries = [], []
        for start in range(0, len(pairs), 1024):
            chunk = pairs[start : start + 1024]
            queries.append(
                modules["query"](to_tensors(peak_batch([p.experimental for p in chunk])), 0)
            )
            entries.append(
                _embed_entries(modules, config, _entry_inputs(config, chunk, fingerprints))
            )
        similarity = torch.cat(queries) @ torch.cat(entries).T
        return float((similarity.argmax(dim=1) == torch.arange(len(pairs))).float().mean())


def learning_rate(peak: float, step: int, steps_per_epoch: int, epochs: int) -> float:
    """One epoch of linear warm-up, then cosine decay to 0 at the end of ``epochs``."""
    warm = min(1.0, (step + 1) / steps_per_epoch)
    progress = min(1.0, step / max(1, epochs * steps_per_epoch))
    return peak * warm * 0.5 * (1.0 + math.cos(math.pi * progress))


def _set_training(modules, training: bool) -> None:
    for module in {id(m): m for k, m in modules.items() if k != "logit_scale"}.values():
        module.train(training)


def _train_epoch(
    modules,
    optimizer,
    encoder_config: EncoderConfig,
    pairs: Sequence[Pair],
    config: TrainConfig,
    rng: np.random.Generator,
    lr_at: Callable[[int], float],
    *,
    fingerprints: Mapping[str, np.ndarray] | None = None,
    simulated: bool = False,
) -> tuple[float, int]:
    """One pass over ``pairs`` in same-formula batches: the mean symmetric InfoNCE loss and
    the number of steps taken.

    ``lr_at(i)`` is the learning rate of the epoch's ``i``-th step; ``simulated`` pairs get
    their query spectra jittered before the nucleus drop.
    """
    import torch

    _set_training(modules, True)
    losses = []
    for i, batch in enumerate(formula_batches(pairs, config.batch_size, config.block, rng)):
        chunk = [pairs[j] for j in batch]
        shown = [jitter(p.experimental, rng) if simulated else p.experimental for p in chunk]
        queries = modules["query"](to_tensors(peak_batch([drop_nucleus(q, rng) for q in shown])), 0)
        entries = _embed_entries(
            modules, encoder_config, _entry_inputs(encoder_config, chunk, fingerprints)
        )
        logits = modules["logit_scale"].clamp(max=4.6).exp() * queries @ entries.T
        target = torch.arange(len(chunk))
        loss = (
            torch.nn.functional.cross_entropy(logits, target)
            + torch.nn.functional.cross_entropy(logits.T, target)
        ) / 2
        for group in optimizer.param_groups:
            group["lr"] = lr_at(i)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return float(np.mean(losses)) if losses else float("nan"), len(losses)


def train_encoder(
    config: TrainConfig,
    predictor: Predictor,
    *,
    export: Path | None = None,
    command: str = "",
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train one encoder; keep the best validation checkpoint; optionally export it with a card.

    Returns
    -------
    dict
        Summary: best epoch, validation top-1, pairs, seconds, weights path.
    """
    import torch

    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    rng = np.random.default_rng(config.seed)
    out_dir = Path(config.out_dir)
    predicted = predicted_cache(config.data, out_dir, predictor, log)
    train = load_pairs(config.data, config.split_column, "train", predicted)
    valid = load_pairs(config.data, config.split_column, "valid", predicted)
    log(f"{config.kind}: {len(train)} training pairs, {len(valid)} validation pairs")
    encoder_config = EncoderConfig(config.kind, dim=config.dim, hidden=config.hidden)
    modules = build_modules(encoder_config)
    parameters = {
        id(p): p for k, m in modules.items() if k != "logit_scale" for p in m.parameters()
    }
    optimizer = torch.optim.AdamW(
        [*parameters.values(), modules["logit_scale"]],
        lr=config.lr,
        weight_decay=config.weight_decay,
    )
    fingerprints = _fingerprint_table(encoder_config, [*train, *valid])
    steps_per_epoch = max(1, len(train) // config.batch_size + 1)
    planned_epochs, step = config.epochs, 0
    run_dir = out_dir / config.kind
    run_dir.mkdir(parents=True, exist_ok=True)
    best = {"top1": -1.0, "epoch": 0}
    started = time.monotonic()
    history = []
    pretrain_history = []
    if config.pretrain is not None:
        held_out = [
            smiles
            for split in ("valid", "test")
            for smiles in read_smiles(config.data, split_column=config.split_column, split=split)
        ]
        simulated = corpus_pairs(config.pretrain, held_out)
        log(
            f"{config.kind}: pretraining on {len(simulated)} simulated pairs from {config.pretrain}"
        )
        per_epoch = max(1, len(simulated) // config.batch_size + 1)
        for epoch in range(1, config.pretrain_epochs + 1):
            loss, _ = _train_epoch(
                modules, optimizer, encoder_config, simulated, config, rng,
                lambda i, e=epoch: learning_rate(
                    config.lr, (e - 1) * per_epoch + i, per_epoch, config.pretrain_epochs
                ),
                simulated=True,
            )  # fmt: skip
            _set_training(modules, False)
            top1 = validation_top1(modules, encoder_config, valid, fingerprints)
            minutes = (time.monotonic() - started) / 60
            pretrain_history.append(
                {"epoch": epoch, "loss": loss, "valid_top1": top1, "minutes": minutes}
            )
            log(f"{config.kind} pretrain epoch {epoch}: loss {loss:.3f}, valid top-1 {top1:.3f}")
        started = time.monotonic()
    for epoch in range(1, config.epochs + 1):
        loss, taken = _train_epoch(
            modules, optimizer, encoder_config, train, config, rng,
            lambda i, first=step, epochs=planned_epochs: learning_rate(
                config.lr, first + i, steps_per_epoch, epochs
            ),
            fingerprints=fingerprints,
        )  # fmt: skip
        step += taken
        _set_training(modules, False)
        top1 = validation_top1(modules, encoder_config, valid, fingerprints)
        minutes = (time.monotonic() - started) / 60
        if epoch == 1:  # fit the cosine schedule into the time limit
            fits = int(config.time_limit_min / max(minutes, 1e-6))
            planned_epochs = max(2, min(config.epochs, fits))
        history.append({"epoch": epoch, "loss": loss, "valid_top1": top1, "minutes": minutes})
        log(
            f"{config.kind} epoch {epoch}: loss {loss:.3f}, valid top-1 {top1:.3f} ({minutes:.1f} min)"
        )
        if top1 > best["top1"]:
            best = {"top1": top1, "epoch": epoch}
            save_encoder(
                encoder_config, modules, run_dir / "best.safetensors", {"valid_top1": top1}
            )
        if epoch >= planned_epochs:  # the schedule has decayed to 0
            break
        if minutes > config.time_limit_min:
            log(f"{config.kind}: time limit reached after epoch {epoch}")
            break
    summary = {
        "kind": config.kind,
        "pretrain": {
            "corpus": str(config.pretrain),
            "epochs": config.pretrain_epochs,
            "history": pretrain_history,
        }
        if config.pretrain is not None
        else None,
        "best_epoch": best["epoch"],
        "valid_top1_in_split": best["top1"],
        "train_pairs": len(train),
        "valid_pairs": len(valid),
        "minutes": (time.monotonic() - started) / 60,
        "history": history,
    }
    write_json_atomic(run_dir / "summary.json", summary)
    if export is not None:
        from safetensors.torch import load_file

        from nmrpeak_cli.retrieve.encoders import load_state

        load_state(encoder_config, modules, load_file(str(run_dir / "best.safetensors")))
        card = {
            "training": {
                **{k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
                "predictor": predictor.identity.to_dict(),
                "best_epoch": best["epoch"],
                "train_pairs": len(train),
                "command": command,
            },
            "metrics": {"valid_top1_among_valid_molecules": best["top1"]},
        }
        save_encoder(encoder_config, modules, export, card)
        summary["weights"] = str(export)
    return summary
