"""Train the generators (scaffold and random splits) on one lent GPU, in one device call.

The GPU machine has no RDKit, no package registry and no ``../shared``, and a call carries
at most 64 MiB. So the work is split in two:

1. here, on the CPU machine (RDKit)::

       nmrpeak train generator-corpus --data data --split scaffold -o runs/gpu_gen/corpus_scaffold \\
           --predictor-weights models/predictor.safetensors
       nmrpeak train generator-corpus --data data --split random -o runs/gpu_gen/corpus_random \\
           --predictor-weights models/predictor_random.safetensors
       python scripts/generator_gpu.py pack --split scaffold --corpus runs/gpu_gen/corpus_scaffold
       python scripts/generator_gpu.py pack --split random --corpus runs/gpu_gen/corpus_random

   ``pack`` reads the simulated corpus and the experimental splits, checks that no
   validation/test molecule (any stereoisomer) is in a training set, and writes canonical
   pairs (``write_pairs``: canonical input spectrum + target SMILES) to
   ``gpu_carry/pairs/<split>/`` (ignored by git; ~15 MB per split).

2. on the device (``run`` with carry ``["gpu_carry/pairs"]``)::

       python3 scripts/generator_gpu.py train --split scaffold --out $OUT/scaffold &
       python3 scripts/generator_gpu.py train --split random --out $OUT/random; wait

   ``train`` pretrains on the simulated pairs, fine-tunes on the experimental training split
   (early stopping on validation loss), and writes float16 weights, card and tokenizer.

3. here again: ``nmrpeak train generator-fusion`` (on VALID) and ``nmrpeak bench generate``
   decide whether the new model replaces the shipped one.
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
from nmrpeak_cli.generate.train import TrainConfig, train_generator
from nmrpeak_cli.spectra import PeakList

PAIRS = Path("gpu_carry/pairs")
VALID_SIZE = 500
"""Validation pairs for early stopping (as `nmrpeak train generator --valid-size`)."""
AUGMENTATION = {"p_c13_only": 0.15, "p_h1_only": 0.15, "p_no_formula": 0.3}
MODEL = {"d_model": 256, "n_heads": 8, "n_layers": 3, "d_ff": 1024, "dropout": 0.1}
PRETRAIN = TrainConfig().updated(
    {
        **MODEL,
        "batch_size": 256,
        "lr": 1e-3,
        "warmup_steps": 1000,
        "eval_every": 500,
        "patience": 20,
        "augmentation": AUGMENTATION,
    }
)
FINETUNE = TrainConfig().updated(
    {
        **MODEL,
        "batch_size": 128,
        "lr": 3e-4,
        "warmup_steps": 200,
        "eval_every": 200,
        "patience": 10,
        "augmentation": AUGMENTATION,
    }
)


def journal_precision(pair: Pair) -> Pair:
    """The pair with 13C shifts to 0.01 ppm and 1H shifts to 0.001 ppm.

    Predicted shifts carry float32 noise digits that do not compress; the rounding is far
    below the tokenizer's bins and the training jitter, and halves the corpus files.
    """
    spectrum = pair.spectrum
    rounded = {
        nucleus: PeakList(
            peaks.nucleus, tuple(replace(p, shift=round(p.shift, digits)) for p in peaks)
        )
        for nucleus, peaks, digits in (("c13", spectrum.c13, 2), ("h1", spectrum.h1, 3))
        if peaks
    }
    return replace(pair, spectrum=replace(spectrum, **rounded))


def pack(args: argparse.Namespace) -> None:
    """Experimental + corpus pairs of one split, leakage-checked, into ``gpu_carry/pairs``."""
    import numpy as np

    from nmrpeak_cli.data.splits import check_no_leakage
    from nmrpeak_cli.generate.corpus import read_manifest, read_smiles

    table, column = args.data / "experimental.parquet", f"split_{args.split}"
    train = load_pairs(table, split_column=column, splits=["train"])
    valid_all = load_pairs(table, split_column=column, splits=["valid"])
    corpus = load_pairs(args.corpus, jobs=args.jobs)
    held_out = [
        *read_smiles(table, split_column=column, split="valid"),
        *read_smiles(table, split_column=column, split="test"),
    ]
    check_no_leakage([p.smiles for p in (*train, *corpus)], held_out, args.jobs)
    chosen = np.random.default_rng(0).choice(len(valid_all), VALID_SIZE, replace=False)
    valid = [valid_all[i] for i in sorted(chosen)]
    out = args.pairs / args.split
    out.mkdir(parents=True, exist_ok=True)
    corpus = [journal_precision(p) for p in corpus]
    for name, pairs in (("corpus", corpus), ("train", train), ("valid", valid)):
        write_pairs(pairs, out / f"{name}.parquet")
    manifest = {
        "split": args.split,
        "data": str(table),
        "pretrain": {"path": str(args.corpus), **(read_manifest(args.corpus) or {})},
        "pairs": {"corpus": len(corpus), "train": len(train), "valid": len(valid)},
        "leakage_check": f"no InChIKey first block of the {len(held_out)} valid+test "
        "molecules is in the corpus or training pairs (checked by `pack`)",
        "command": "python " + " ".join(sys.argv),
    }
    (out / "pack.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(json.dumps(manifest["pairs"]))


def train(args: argparse.Namespace) -> None:
    """Pretrain + fine-tune from packed pairs (no RDKit needed); float16 model into ``--out``."""
    import torch

    torch.set_float32_matmul_precision("high")  # TF32 matrix products on Ampere and later
    source = args.pairs / args.split
    manifest = json.loads((source / "pack.json").read_text())
    corpus, train_pairs, valid = (
        read_pairs(source / f"{n}.parquet") for n in ("corpus", "train", "valid")
    )
    args.out.mkdir(parents=True, exist_ok=True)
    pretrain = PRETRAIN.updated({"max_minutes": args.pretrain_minutes, "seed": args.seed})
    finetune = FINETUNE.updated({"max_minutes": args.finetune_minutes, "seed": args.seed})
    device = "cuda" if torch.cuda.is_available() else "cpu"
    name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    print(f"{args.split}: {len(corpus)} simulated, {len(train_pairs)} train, {len(valid)} valid "
          f"pairs on {name}", flush=True)  # fmt: skip
    started = time.monotonic()
    result = train_generator(
        train_pairs, valid, [], finetune, args.run_dir / args.split,
        args.out / "generator.safetensors", pretrain_pairs=corpus, pretrain_config=pretrain,
        device=device, workers=args.workers,
        card={"data": manifest["data"], "split": args.split, "pretrain": manifest["pretrain"],
              "leakage_check": manifest["leakage_check"], "device": name,
              "command": "python3 " + " ".join(sys.argv)},
        progress=lambda record: print(args.split, json.dumps(record), flush=True),
    )  # fmt: skip
    print(f"{args.split}: best validation loss {result.best_valid_loss:.4f} after "
          f"{result.steps} fine-tuning steps, {time.monotonic() - started:.0f} s", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("pack", help="CPU machine: leakage-checked pairs for the device")
    p.add_argument("--split", choices=("scaffold", "random"), required=True)
    p.add_argument("--corpus", type=Path, required=True, help="`train generator-corpus` folder")
    p.add_argument("--data", type=Path, default=Path("data"))
    p.add_argument("--pairs", type=Path, default=PAIRS, help="output folder")
    p.add_argument("--jobs", type=int, default=2)
    p.set_defaults(run=pack)
    t = commands.add_parser("train", help="device: pretrain + fine-tune from packed pairs")
    t.add_argument("--split", choices=("scaffold", "random"), required=True)
    t.add_argument("--out", type=Path, required=True, help="folder for weights, card, tokenizer")
    t.add_argument("--pairs", type=Path, default=PAIRS)
    t.add_argument("--run-dir", type=Path, default=Path("/tmp/generator_gpu"))
    t.add_argument("--pretrain-minutes", type=float, default=4.5)
    t.add_argument("--finetune-minutes", type=float, default=1.75)
    t.add_argument("--workers", type=int, default=6, help="batch-encoding processes")
    t.add_argument("--seed", type=int, default=0)
    t.set_defaults(run=train)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args.run(args)


if __name__ == "__main__":
    main()
