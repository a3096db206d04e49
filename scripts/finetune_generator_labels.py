"""Resumable CPU fine-tune of the shipped random-split generator to read DEPT labels.

The start is ``models/generator_random.safetensors`` grown for the attached-H label tokens
(:func:`nmrpeak_cli.generate.train.with_label_tokens`: the tokenizer gains ``L:C``, ``L:CH``,
``L:CH2``, ``L:CH3``; the source embedding gains zero rows, so without labels the model is
the shipped one at step 0). It trains on the random-split TRAIN experimental pairs whose 13C
peaks carry the labels a DEPT would give (:func:`nmrpeak_cli.retrieve.bench.dept_labels`: the
record's per-carbon ``c13_n_h``, never predicted shifts), with label dropout
(``Augmentation.p_labels``: half the spectra lose their labels, so one model serves
labelled and unlabelled queries). Early stopping on 500 random-split VALID pairs (the
:mod:`scripts.generator_gpu` choice), labels kept on every other one.

Every ``--eval-every`` steps (30: under 10 minutes at nice 19 on the shared 2-core machine,
where a step of 32 pairs takes 2.4 CPU s) it writes ``RUN/finetune/{last,best}.safetensors``, the optimizer
moments and ``state.json`` (:func:`nmrpeak_cli.generate.train.train_phase`); run the same
command again to continue where it stopped (``RUN/pairs_*.parquet`` cache the parsed pairs)::

    OMP_NUM_THREADS=1 nohup nice -n 19 .venv/bin/python scripts/finetune_generator_labels.py \\
        --run runs/gen_labels > runs/gen_labels/train.log 2>&1 &

``--export OUT.safetensors`` writes the best checkpoint so far as float16 weights + card +
tokenizer (no training). Evaluate with ``benchmarks/generate_dept_beam.py --weights``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the source tree, not installed

from nmrpeak_cli.generate.pairs import Pair, load_pairs, read_pairs, write_pairs
from nmrpeak_cli.generate.train import TrainConfig

VALID_SIZE = 500
CONFIG = TrainConfig().updated(
    {
        "d_model": 256,
        "n_heads": 8,
        "n_layers": 3,
        "d_ff": 1024,
        "dropout": 0.1,
        "batch_size": 32,
        "lr": 1e-4,
        "warmup_steps": 100,
        "eval_every": 30,
        "patience": 60,
        "max_steps": 200_000,
        "augmentation": {
            "p_c13_only": 0.15,
            "p_h1_only": 0.15,
            "p_no_formula": 0.3,
            "p_labels": 0.5,
            "drop_label": 0.1,
        },
    }
)
"""The shipped model's fine-tuning settings (scripts/generator_gpu.py FINETUNE) at a CPU
batch size and a lower learning rate (it starts trained), with label dropout."""


def _pairs(run: Path, data: Path, split: str) -> list[Pair]:
    """Pairs of one split of the random split, parsed once and cached in ``run``."""
    cache = run / f"pairs_{split}.parquet"
    if cache.is_file():
        return read_pairs(cache)
    pairs = load_pairs(data, split_column="split_random", splits=[split])
    if split == "valid":
        import numpy as np

        chosen = np.random.default_rng(0).choice(len(pairs), VALID_SIZE, replace=False)
        pairs = [pairs[i] for i in sorted(chosen)]
    run.mkdir(parents=True, exist_ok=True)
    write_pairs(pairs, cache)
    return pairs


def _labelled(pairs: list[Pair], data: Path) -> tuple[list[Pair], int]:
    from nmrpeak_cli.retrieve.bench import dept_labels

    spectra, n = dept_labels([p.spectrum for p in pairs], data)
    return [replace(p, spectrum=s) for p, s in zip(pairs, spectra, strict=True)], n


def _strip(pair: Pair) -> Pair:
    from nmrpeak_cli.consistency import without_attached_h

    return replace(pair, spectrum=without_attached_h(pair.spectrum))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("runs/gen_labels"))
    parser.add_argument("--data", type=Path, default=Path("data/experimental.parquet"))
    parser.add_argument("--init", type=Path, default=Path("models/generator_random.safetensors"))
    parser.add_argument("--eval-every", type=int, default=CONFIG.eval_every)
    parser.add_argument("--max-minutes", type=float, default=None)
    parser.add_argument("--export", type=Path, help="write the best checkpoint here and stop")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    import torch

    from nmrpeak_cli.generate.model import load_generator, save_generator
    from nmrpeak_cli.generate.train import train_phase, with_label_tokens

    torch.set_num_threads(1)
    run = args.run
    if args.export:
        best = load_generator(run / "finetune" / "best.safetensors")
        state = json.loads((run / "finetune" / "state.json").read_text())
        start = json.loads((run / "start.json").read_text())
        card = {
            **start,
            "status": "in progress: DEPT-label fine-tune, best checkpoint so far",
            "steps": state["step"],
            "best_valid_loss": state["best_valid_loss"],
            "history": state["history"],
            "fusion_note": "fusion weights are the start model's (not refitted)",
        }
        fusion = load_generator(args.init).fusion
        save_generator(replace(best, fusion=fusion), args.export, card, half=True)
        print(f"exported step {state['step']} (best valid loss {state['best_valid_loss']:.4f})")
        return
    config = CONFIG.updated({"eval_every": args.eval_every, "max_minutes": args.max_minutes})
    train, n_train = _labelled(_pairs(run, args.data, "train"), args.data)
    valid, n_valid = _labelled(_pairs(run, args.data, "valid"), args.data)
    valid = [p if i % 2 == 0 else _strip(p) for i, p in enumerate(valid)]
    print(f"{len(train)} train pairs ({n_train} labelled), {len(valid)} valid "
          f"({n_valid} labelled, labels kept on every other one)", flush=True)  # fmt: skip
    start_file = run / "start.json"
    if not start_file.is_file():
        from nmrpeak_cli.paths import write_json_atomic

        write_json_atomic(
            start_file,
            {
                "init": str(args.init),
                "data": str(args.data),
                "split": "random",
                "labels": "retrieve.bench.dept_labels (record c13_n_h within 0.05 ppm)",
                "train_pairs": len(train),
                "train_labelled": n_train,
                "valid_pairs": len(valid),
                "config": config.to_dict(),
                "command": "python " + " ".join(sys.argv),
                "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            },
        )
    init = with_label_tokens(load_generator(args.init))
    result = train_phase(
        train, valid, config, run / "finetune", init=init, resume=True,
        progress=lambda record: print(time.strftime("%H:%M:%S"), json.dumps(record), flush=True),
    )  # fmt: skip
    print(f"stopped at step {result.steps}, best valid loss {result.best_valid_loss:.4f}")


if __name__ == "__main__":
    main()
