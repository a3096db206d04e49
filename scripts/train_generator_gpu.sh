#!/usr/bin/env bash
# Train the full generator on one lent GPU (H100/H200) in about 20 minutes of device time.
#
# The GPU machine sees neither ../shared nor a package registry, and its python3 (3.12, with
# torch, pyarrow, scipy, typer, rich) lacks RDKit. So the work is split:
#
#   1. here, on the CPU machine:   scripts/train_generator_gpu.sh prepare
#      data + an RDKit wheel go into gpu_carry/generator/ (ignored via .git/info/exclude).
#   2. device call A (~4 min):     scripts/train_generator_gpu.sh corpus
#      simulates the pretraining corpus with the predictor trained on the same split
#      (models/predictor.safetensors for scaffold, models/predictor_random.safetensors for
#      random) for MOSES + training-split molecules (resumable parts).
#   3. device call B (~8 min):     scripts/train_generator_gpu.sh pretrain
#      pretrains on it (the simulated-only model, kept in the run folder).
#   4. device call C (~9 min):     scripts/train_generator_gpu.sh finetune
#      fine-tunes on the experimental training split, fits the rerank fusion on VALID,
#      benchmarks on the test split and copies weights, card, tokenizer and reports to $OUT.
#   Calls A-C must follow each other at once: the machine keeps ignored files only while
#   warm (30 s after a call). If it was given back in between, start again from `corpus`.
#   With a 15-minute device budget (start-up included), run the three in ONE call instead:
#   scripts/train_generator_gpu.sh all   (corpus + pretrain + finetune, under 10 minutes with
#   N_SIMULATED=100000 PRETRAIN_MIN=4 FINETUNE_MIN=2 BENCH_LIMIT=200).
#
# In the device `run` tool: carry ["gpu_carry"], command "bash scripts/train_generator_gpu.sh pretrain".
# Afterwards copy $OUT/generator.* into models/ and the report into benchmarks/RESULTS.md.
#
# Knobs (environment): SPLIT (scaffold|random), N_SIMULATED (MOSES molecules simulated, default
# 150000), PRETRAIN_MIN / FINETUNE_MIN (wall-time per stage), BENCH_LIMIT (test queries scored).
set -euo pipefail
SELF="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$0")/.."

STEP=${1:?usage: scripts/train_generator_gpu.sh prepare|corpus|pretrain|finetune|all}
CARRY=gpu_carry/generator
SPLIT=${SPLIT:-scaffold}
N_SIMULATED=${N_SIMULATED:-150000}
PRETRAIN_MIN=${PRETRAIN_MIN:-7}
FINETUNE_MIN=${FINETUNE_MIN:-4}
BENCH_LIMIT=${BENCH_LIMIT:-400}
OUT=${OUT:-$CARRY/out}
RUN=$CARRY/run
MODEL=(--d-model 256 --layers 4 --batch-size 256)
# A forward model trained on another split has seen this split's test spectra: never use it here.
case $SPLIT in
scaffold) PREDICTOR=models/predictor.safetensors ;;
random) PREDICTOR=models/predictor_random.safetensors ;;
*) echo "SPLIT must be scaffold or random, got $SPLIT" >&2; exit 2 ;;
esac

nmrpeak_gpu() {  # the CLI from the source tree, with carried wheels on the path
    PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 python3 -m nmrpeak_cli.cli.app "$@"
}

setup_device() {
    python3 -c "import rdkit" 2>/dev/null ||
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target /tmp/site "$CARRY"/whl/*.whl
    python3 -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'"
    mkdir -p "$OUT"
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
}

case $STEP in
prepare)
    grep -qx '/gpu_carry/' .git/info/exclude || echo '/gpu_carry/' >>.git/info/exclude
    [ -f data/experimental.parquet ] && [ -f data/simulated_molecules.parquet ] ||
        nmrpeak data prepare --source ../shared/data -o data/
    [ -f "$PREDICTOR" ] || { echo "$PREDICTOR missing" >&2; exit 2; }
    mkdir -p "$CARRY/data/queries" "$CARRY/whl"
    cp data/experimental.parquet "$CARRY/data/"
    cp data/queries/*.parquet "$CARRY/data/queries/"
    python - "$N_SIMULATED" "$CARRY/data/simulated_molecules.parquet" <<'PY'
import sys
import numpy as np
import pyarrow.parquet as pq
n, out = int(sys.argv[1]), sys.argv[2]
table = pq.read_table("data/simulated_molecules.parquet", columns=["id", "smiles", "inchikey"])
rows = np.sort(np.random.default_rng(0).choice(table.num_rows, min(n, table.num_rows), replace=False))
pq.write_table(table.take(rows), out, compression="zstd")
print(f"{len(rows)} of {table.num_rows} MOSES molecules -> {out}")
PY
    python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d "$CARRY/whl" \
        "rdkit==$(python -c 'import rdkit; print(rdkit.__version__)')"
    du -sh "$CARRY"
    ;;
corpus)
    setup_device
    time nmrpeak_gpu train generator-corpus --data "$CARRY/data" --split "$SPLIT" \
        -o "$CARRY/corpus" --predictor-weights "$PREDICTOR" --device cuda -j 0 2>&1 | tee "$OUT/corpus.log"
    ;;
pretrain)
    setup_device
    time nmrpeak_gpu train generator --data "$CARRY/data" --split "$SPLIT" \
        --pretrain "$CARRY/corpus" --stage pretrain --run-dir "$RUN" \
        -o "$RUN/simulated_only.safetensors" --max-minutes "$PRETRAIN_MIN" "${MODEL[@]}" \
        --device cuda -j 0 2>&1 | tee "$OUT/pretrain.log"
    ;;
finetune)
    setup_device
    time nmrpeak_gpu train generator --data "$CARRY/data" --split "$SPLIT" --stage finetune \
        --run-dir "$RUN" -o models/generator.safetensors --max-minutes "$FINETUNE_MIN" \
        "${MODEL[@]}" --device cuda -j 0 2>&1 | tee "$OUT/finetune.log"
    NMRPEAK_MODELS=models nmrpeak_gpu train generator-fusion --data "$CARRY/data" \
        --split "$SPLIT" --limit 300 --predictor-weights "$PREDICTOR" --device cuda 2>&1 | tee "$OUT/fusion.log"
    NMRPEAK_MODELS=models nmrpeak_gpu bench generate --data "$CARRY/data" --split "$SPLIT" \
        --limit "$BENCH_LIMIT" --configs C+H+formula,C+H,C+formula,H+formula,C,H \
        --predictor-weights "$PREDICTOR" --device cuda -o "$OUT/bench_${SPLIT}.json" 2>&1 | tee "$OUT/bench.log"
    cp models/generator.safetensors models/generator.json models/generator.tokenizer.json "$OUT/"
    ls -la "$OUT"
    ;;
all)
    for step in corpus pretrain finetune; do bash "$SELF" "$step"; done
    ;;
*)
    echo "unknown step $STEP; expected prepare, corpus, pretrain, finetune or all" >&2
    exit 2
    ;;
esac
