"""Training the generator: leakage check, curriculum, checkpoints, model card.

The pairs it trains on (:class:`~nmrpeak_cli.generate.pairs.Pair`) are read and written by
:mod:`~nmrpeak_cli.generate.pairs`; :mod:`~nmrpeak_cli.generate.batches` turns them into
augmented, encoded batches.

Curriculum: an optional *pretraining* phase on simulated pairs (spectra the forward model
predicts for MOSES and training-split molecules, see :mod:`~nmrpeak_cli.generate.corpus`),
then *fine-tuning* on the experimental training split; both with augmentation
(:class:`~nmrpeak_cli.generate.inputs.Augmentation`) and random input configurations. Early
stopping on the validation loss (teacher forced, full C+H+formula input). Checkpoints
(weights and optimizer moments, safetensors; progress, JSON) are written to the run folder
every evaluation, so ``resume=True`` continues an interrupted run. No validation/test
molecule may be in any training set: :func:`~nmrpeak_cli.data.splits.check_no_leakage` raises
otherwise.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from nmrpeak_cli.data.splits import check_no_leakage
from nmrpeak_cli.generate.batches import BatchEncoder, batch_stream
from nmrpeak_cli.generate.inputs import Augmentation
from nmrpeak_cli.generate.model import Generator, build_generator, load_generator, save_generator
from nmrpeak_cli.generate.pairs import Pair
from nmrpeak_cli.paths import write_json_atomic
from nmrpeak_cli.tokenizer import PAD, SmilesTokenizer, SpectrumTokenizer, smiles_tokens

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Hyper-parameters of one training phase (recorded in the model card)."""

    d_model: int = 256
    """Transformer width."""
    n_heads: int = 8
    """Attention heads."""
    n_layers: int = 4
    """Encoder and decoder layers (each)."""
    d_ff: int = 1024
    """Feed-forward width."""
    dropout: float = 0.1
    """Dropout."""
    batch_size: int = 64
    """Pairs per step."""
    lr: float = 5e-4
    """Peak learning rate (AdamW)."""
    warmup_steps: int = 1000
    """Linear warm-up steps, then inverse-square-root decay."""
    weight_decay: float = 0.01
    """AdamW weight decay."""
    label_smoothing: float = 0.1
    """Cross-entropy label smoothing."""
    max_steps: int = 100_000
    """Stop after this many steps."""
    max_minutes: float | None = None
    """Stop (keeping the best checkpoint) after this much wall time."""
    eval_every: int = 500
    """Steps between validation evaluations and checkpoints."""
    patience: int = 10
    """Evaluations without improvement before early stopping."""
    c13_bins: int = 800
    """13C shift vocabulary budget."""
    h1_bins: int = 400
    """1H shift vocabulary budget."""
    max_heavy_atoms: int = 50
    """Longer molecules are left out of training."""
    max_smiles_tokens: int = 150
    """Longer SMILES are left out of training."""
    seed: int = 0
    """Seed of initialization, batching and augmentation."""
    augmentation: Augmentation = field(default_factory=Augmentation)
    """Augmentation settings."""

    @classmethod
    def quick(cls) -> TrainConfig:
        """A tiny configuration for tests and smoke runs (seconds on a CPU)."""
        return cls(
            d_model=64,
            n_heads=4,
            n_layers=2,
            d_ff=128,
            dropout=0.0,
            batch_size=16,
            lr=2e-3,
            warmup_steps=20,
            label_smoothing=0.0,
            max_steps=300,
            eval_every=100,
            patience=3,
            c13_bins=100,
            h1_bins=60,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return asdict(self)

    def updated(self, values: Mapping[str, Any]) -> TrainConfig:
        """A copy with ``values`` (a JSON object of field names) replacing fields.

        Raises :class:`ValueError` naming unknown fields or values of the wrong type.
        """
        if not isinstance(values, Mapping):
            raise ValueError(f"expected a JSON object of settings, got {type(values).__name__}")
        known = {f.name for f in fields(self)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown settings {unknown}; known: {sorted(known)}")
        changes: dict[str, Any] = {}
        for name, value in values.items():
            current = getattr(self, name)
            if name == "augmentation":
                try:
                    value = replace(current, **value)
                except TypeError as exc:
                    raise ValueError(f"augmentation: {exc}") from None
            elif _is_number(value) and (current is None or _is_number(current)):
                if isinstance(current, int) and not float(value).is_integer():
                    raise ValueError(f"{name}: expected a whole number, got {value!r}")
                value = type(current)(value) if current is not None else value
            elif not isinstance(value, type(current)):
                raise ValueError(f"{name}: expected {type(current).__name__}, got {value!r}")
            changes[name] = value
        return replace(self, **changes)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# --------------------------------------------------------------------------------------------
# Size limits
# --------------------------------------------------------------------------------------------


def heavy_atoms_in_tokens(tokens: Sequence[str]) -> int:
    """Heavy atoms of a tokenized SMILES (organic-subset letters and bracket atoms but [H])."""
    return sum(
        1
        for t in tokens
        if (t[0].isalpha() and t != "H") or (t.startswith("[") and not t.startswith("[H"))
    )


def usable(pair: Pair, config: TrainConfig) -> bool:
    """Whether a pair fits the size limits of ``config`` (from its tokens, without RDKit)."""
    try:
        tokens = smiles_tokens(pair.smiles)
    except ValueError:
        return False
    return (
        len(tokens) + 2 <= config.max_smiles_tokens
        and heavy_atoms_in_tokens(tokens) <= config.max_heavy_atoms
    )


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrainResult:
    """What a phase produced."""

    generator: Generator
    """The best model (lowest validation loss)."""
    best_valid_loss: float
    """Its validation loss."""
    steps: int
    """Steps run in total (including resumed ones)."""
    seconds: float
    """Wall time of this call."""
    history: tuple[dict[str, float], ...]
    """Validation record per evaluation."""


def fit_tokenizers(
    pairs: Sequence[Pair], config: TrainConfig
) -> tuple[SpectrumTokenizer, SmilesTokenizer]:
    """Fit both tokenizers on training pairs only."""
    spectrum_tok = SpectrumTokenizer.fit(
        (p.spectrum for p in pairs), c13_bins=config.c13_bins, h1_bins=config.h1_bins
    )
    return spectrum_tok, SmilesTokenizer.fit(p.smiles for p in pairs)


def new_generator(pairs: Sequence[Pair], config: TrainConfig) -> Generator:
    """A randomly initialized generator sized by ``config``, tokenizers fitted on ``pairs``."""
    spectrum_tok, smiles_tok = fit_tokenizers(pairs, config)
    return build_generator(
        spectrum_tok,
        smiles_tok,
        seed=config.seed,
        d_model=config.d_model,
        n_heads=config.n_heads,
        n_encoder_layers=config.n_layers,
        n_decoder_layers=config.n_layers,
        d_ff=config.d_ff,
        dropout=config.dropout,
        max_tgt_len=config.max_smiles_tokens,
    )


def with_label_tokens(generator: Generator) -> Generator:
    """``generator`` reading attached-H label tokens (DEPT, ``L:CH2``…): its spectrum
    tokenizer with :data:`~nmrpeak_cli.tokenizer.LABEL_TOKENS` appended and its source
    embedding grown by as many rows, initialised to zero. Every existing token keeps its id
    and embedding, so on inputs without labels the grown model computes exactly what the
    original does (labels only add tokens); fine-tuning teaches it the new rows. Itself when
    its tokenizer has the labels already."""
    import torch

    tokenizer = generator.spectrum_tokenizer.with_labels()
    if tokenizer is generator.spectrum_tokenizer:
        return generator
    old = generator.model
    config = replace(old.config, src_vocab=len(tokenizer))
    model = type(old)(config).to(generator.device)
    state = old.state_dict()
    grown = torch.zeros(len(tokenizer), config.d_model, dtype=state["src_embed.weight"].dtype)
    grown[: old.config.src_vocab] = state["src_embed.weight"]
    model.load_state_dict({**state, "src_embed.weight": grown})
    model.train(old.training)
    return replace(generator, model=model, spectrum_tokenizer=tokenizer)


def _lr_factor(step: int, warmup: int) -> float:
    step = max(step, 1)
    return min(step / max(warmup, 1), math.sqrt(max(warmup, 1) / step))


def _batch_tensors(
    generator: Generator,
    pairs: Sequence[Pair],
    rng: np.random.Generator | None,
    aug: Augmentation,
    device,
):
    import torch

    src, tgt = BatchEncoder.of(generator)(pairs, rng, aug)
    return torch.as_tensor(src, device=device), torch.as_tensor(tgt, device=device)


def _loss(generator: Generator, src, tgt, label_smoothing: float):
    import torch.nn.functional as F

    logits = generator.model(src, tgt[:, :-1])
    target = tgt[:, 1:]
    loss = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]),
        target.reshape(-1),
        ignore_index=PAD,
        label_smoothing=label_smoothing,
    )
    mask = target != PAD
    correct = ((logits.argmax(-1) == target) & mask).sum()
    return loss, float(correct) / max(int(mask.sum()), 1)


def evaluate_loss(
    generator: Generator, pairs: Sequence[Pair], batch_size: int = 64
) -> dict[str, float]:
    """Teacher-forced validation loss (no smoothing) and token accuracy on full inputs."""
    import torch

    generator.model.eval()
    total, acc, n = 0.0, 0.0, 0
    with torch.inference_mode():
        for start in range(0, len(pairs), batch_size):
            batch = pairs[start : start + batch_size]
            src, tgt = _batch_tensors(generator, batch, None, Augmentation(), generator.device)
            loss, accuracy = _loss(generator, src, tgt, 0.0)
            total += float(loss) * len(batch)
            acc += accuracy * len(batch)
            n += len(batch)
    return {"valid_loss": total / max(n, 1), "valid_token_acc": acc / max(n, 1)}


def _save_checkpoint(run_dir: Path, generator: Generator, optimizer, state: dict[str, Any]) -> None:
    from safetensors.torch import save_file

    run_dir.mkdir(parents=True, exist_ok=True)
    save_generator(generator, run_dir / "last.safetensors")
    moments = {}
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for i, param in enumerate(params):
        for name, value in optimizer.state.get(param, {}).items():
            moments[f"{i}.{name}"] = value.detach().reshape(-1).float().cpu().contiguous()
    tmp = run_dir / "optimizer.safetensors.tmp"
    save_file(moments, str(tmp))
    tmp.replace(run_dir / "optimizer.safetensors")
    write_json_atomic(run_dir / "state.json", state)


def _load_checkpoint(run_dir: Path, device: str, optimizer_factory: Callable):
    from safetensors.torch import load_file

    generator = load_generator(run_dir / "last.safetensors", device=device)
    optimizer = optimizer_factory(generator)
    moments = load_file(str(run_dir / "optimizer.safetensors"))
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for i, param in enumerate(params):
        if f"{i}.step" not in moments:
            continue
        optimizer.state[param] = {
            name: moments[f"{i}.{name}"]
            .reshape(param.shape if name != "step" else ())
            .to(param.device)
            for name in ("step", "exp_avg", "exp_avg_sq")
        }
    state = json.loads((run_dir / "state.json").read_text())
    return generator, optimizer, state


def train_phase(
    train_pairs: Sequence[Pair],
    valid_pairs: Sequence[Pair],
    config: TrainConfig,
    run_dir: str | Path,
    *,
    init: Generator | None = None,
    resume: bool = False,
    device: str = "cpu",
    workers: int = 0,
    progress: Callable[[dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train (or continue) one phase; the best model is kept in ``run_dir/best.safetensors``.

    Parameters
    ----------
    train_pairs, valid_pairs
        Training and validation pairs (leakage must have been checked by the caller or by
        :func:`train_generator`).
    config
        Hyper-parameters.
    run_dir
        Checkpoint folder of this phase.
    init
        Start from this model (fine-tuning); its tokenizers are kept. Default: new tokenizers
        fitted on ``train_pairs`` and a random initialization.
    resume
        Continue from ``run_dir`` when it holds a checkpoint.
    device
        Torch device.
    workers
        Processes that augment and encode batches (0: this one). Batch ``i`` of a run is the
        same for any number of workers.
    progress
        Called with each validation record.
    """
    import torch

    start_time = time.monotonic()
    run_dir = Path(run_dir)
    torch.manual_seed(config.seed)

    def make_optimizer(gen: Generator):
        return torch.optim.AdamW(
            gen.model.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )

    if resume and (run_dir / "state.json").is_file():
        generator, optimizer, state = _load_checkpoint(run_dir, device, make_optimizer)
        log.info("resumed %s at step %d", run_dir, state["step"])
    else:
        for stale in ("best", "last"):
            (run_dir / f"{stale}.safetensors").unlink(missing_ok=True)
        generator = init if init is not None else new_generator(train_pairs, config)
        generator = replace(generator, card={})
        generator.model.to(device)
        optimizer = make_optimizer(generator)
        state = {"step": 0, "best_valid_loss": math.inf, "bad_evals": 0, "history": []}
    train_pairs = [p for p in train_pairs if usable(p, config)]
    if not train_pairs:
        raise ValueError("no usable training pairs (all too large or unreadable)")
    step = state["step"]
    stream = batch_stream(generator, train_pairs, config, step, workers)
    while step < config.max_steps and state["bad_evals"] < config.patience:
        if (
            config.max_minutes is not None
            and time.monotonic() - start_time > 60 * config.max_minutes
        ):
            break
        generator.model.train()
        src, tgt = (torch.as_tensor(a, device=generator.device) for a in next(stream))
        for group in optimizer.param_groups:
            group["lr"] = config.lr * _lr_factor(step + 1, config.warmup_steps)
        loss, _ = _loss(generator, src, tgt, config.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(generator.model.parameters(), 1.0)
        optimizer.step()
        step += 1
        if step % config.eval_every == 0 or step == config.max_steps:
            record = {
                "step": step,
                "train_loss": float(loss.detach()),
                **evaluate_loss(generator, valid_pairs),
            }
            state["history"].append(record)
            if record["valid_loss"] < state["best_valid_loss"]:
                state["best_valid_loss"], state["bad_evals"] = record["valid_loss"], 0
                save_generator(generator, run_dir / "best.safetensors")
            else:
                state["bad_evals"] += 1
            state["step"] = step
            _save_checkpoint(run_dir, generator, optimizer, state)
            if progress is not None:
                progress(record)
    stream.close()
    state["step"] = step
    if not (run_dir / "best.safetensors").is_file():
        state["history"].append({"step": step, **evaluate_loss(generator, valid_pairs)})
        state["best_valid_loss"] = state["history"][-1]["valid_loss"]
        save_generator(generator, run_dir / "best.safetensors")
    _save_checkpoint(run_dir, generator, optimizer, state)
    best = load_generator(run_dir / "best.safetensors", device=device)
    return TrainResult(
        best,
        float(state["best_valid_loss"]),
        step,
        time.monotonic() - start_time,
        tuple(state["history"]),
    )


STAGES = ("pretrain", "finetune")


def train_generator(
    train_pairs: Sequence[Pair],
    valid_pairs: Sequence[Pair],
    held_out_smiles: Iterable[str],
    config: TrainConfig,
    run_dir: str | Path,
    out: str | Path,
    *,
    pretrain_pairs: Sequence[Pair] = (),
    pretrain_config: TrainConfig | None = None,
    stages: Sequence[str] = STAGES,
    resume: bool = False,
    device: str = "cpu",
    jobs: int = 1,
    workers: int = 0,
    card: dict[str, Any] | None = None,
    progress: Callable[[dict[str, float]], None] | None = None,
) -> TrainResult:
    """The curriculum: leakage check, pretraining on ``pretrain_pairs``, fine-tuning, weights + card.

    Parameters
    ----------
    stages
        Which stages to run now. ``("pretrain",)`` writes the simulated-only model;
        ``("finetune",)`` starts from ``run_dir/pretrain/best.safetensors`` when a previous
        call left one (else from scratch: the experimental-only model). Stages split this
        way fit separate time-limited jobs.

    ``workers`` processes augment and encode the batches of each phase (see
    :func:`train_phase`). Tokenizers are fitted on the union of pretraining and fine-tuning pairs (training data
    only). Writes ``out`` (``generator.safetensors`` + card + tokenizer) and returns the
    result of the last stage run.
    """
    unknown = set(stages) - set(STAGES)
    if unknown or not stages:
        raise ValueError(f"stages must be a non-empty subset of {STAGES}, got {tuple(stages)}")
    held_out = list(held_out_smiles)
    if held_out:  # empty: the caller checked already (pairs packed for an RDKit-less machine)
        check_no_leakage([p.smiles for p in (*train_pairs, *pretrain_pairs)], held_out, jobs)
    run_dir = Path(run_dir)
    init = None
    phases: dict[str, Any] = {}
    result = None
    pretrained = run_dir / "pretrain" / "best.safetensors"
    if "pretrain" in stages:
        if not pretrain_pairs:
            raise ValueError("the pretrain stage needs simulated pairs (pretrain_pairs)")
        pre_config = pretrain_config or config
        start = new_generator([*pretrain_pairs, *train_pairs], pre_config)
        result = train_phase(
            pretrain_pairs,
            valid_pairs,
            pre_config,
            run_dir / "pretrain",
            init=start,
            resume=resume,
            device=device,
            workers=workers,
            progress=progress,
        )
        init = result.generator
        phases["pretrain"] = {
            "corpus": (card or {}).get("pretrain"),
            **_phase_card(result, pre_config, len(pretrain_pairs)),
        }
        write_json_atomic(run_dir / "pretrain" / "phase.json", phases["pretrain"])
    elif pretrained.is_file():
        init = load_generator(pretrained, device=device)
        record = run_dir / "pretrain" / "phase.json"
        earlier = json.loads(record.read_text()) if record.is_file() else {}
        phases["pretrain"] = {"weights": str(pretrained), **earlier}
    if "finetune" in stages:
        result = train_phase(
            train_pairs,
            valid_pairs,
            config,
            run_dir / "finetune",
            init=init,
            resume=resume,
            device=device,
            workers=workers,
            progress=progress,
        )
        phases["finetune"] = _phase_card(result, config, len(train_pairs))
    report = result.generator.spectrum_tokenizer.quantization_report(
        [p.spectrum for p in valid_pairs]
    )
    save_generator(
        result.generator,
        out,
        {**(card or {}), "phases": phases, "tokenizer_report_valid": report},
        half=True,
    )
    return result


def _phase_card(result: TrainResult, config: TrainConfig, n_pairs: int) -> dict[str, Any]:
    return {
        "config": config.to_dict(),
        "pairs": n_pairs,
        "steps": result.steps,
        "best_valid_loss": result.best_valid_loss,
        "seconds": round(result.seconds, 1),
        "history": list(result.history),
    }
