#!/usr/bin/env bash
# The predictor's long CPU run (issue 17): starts it, or resumes it from its last checkpoint
# after any stop (SIGKILL included: checkpoints are written every few minutes inside epochs).
# It grows the shipped scaffold model to the current feature layout and 8 layers without
# changing what it computes (grow_model), then keeps training. Run it niced and in the
# background at the start of a session:
#   nohup scripts/train_predictor_long.sh >> runs/predictor_v2/train.log 2>&1 &
# Export when validation beats the shipped model (see models/predictor.json "valid"):
#   nmrpeak train predictor --resume --out-dir runs/predictor_v2 --epochs 0 ... (or export_predictor)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/predictor_v2}
SPLIT=${SPLIT:-scaffold}
INIT=${INIT:-models/predictor.safetensors}
mkdir -p "$OUT"
if [[ -f "$OUT/state.json" ]]; then
  exec nice -n 10 .venv/bin/nmrpeak train predictor --resume --out-dir "$OUT" --threads 1 --epochs 400
fi
exec nice -n 10 .venv/bin/nmrpeak train predictor --out-dir "$OUT" --split "$SPLIT" \
  --init-weights "$INIT" --layers 8 --lr 1.5e-4 --warmup-epochs 0 --threads 1 --epochs 400
