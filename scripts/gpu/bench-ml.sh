#!/usr/bin/env bash
# `ut bench ml` on the GPU host with the ML lane on ggml's CUDA backend (the stand-alone ut_ml_bench of
# bin-bench.tar.xz and llama.tar.xz, staged by scripts/gpu/stage.sh), on real-size synthetic models:
#   bash scripts/gpu/bench-ml.sh [OUT_DIR]      # OUT_DIR: else $OUT, else /tmp/ut-gpu-bench
# Writes OUT_DIR/ml.log and ml.json.
set -uo pipefail
OUT_DIR=$(realpath -m "${1:-${OUT:-/tmp/ut-gpu-bench}}")
cd "$(dirname "$0")/../.."
mkdir -p "$OUT_DIR"
source scripts/gpu/env.sh
{
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  echo "bench-ml of $COMMIT at $(date -u +%FT%TZ)"
  UT_ML_DEVICE=cuda timeout 400 "$BIN/ut_ml_bench" --synth --models /tmp/ut-models --json "$OUT_DIR/ml.json"
  echo "rc=$?"
} 2>&1 | tee "$OUT_DIR/ml.log"
