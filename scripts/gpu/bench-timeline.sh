#!/usr/bin/env bash
# The CUDA figures of `ut bench timeline` (event latencies, queue QoS with and without a green context, copy/compute
# overlap) on the GPU host, over what scripts/gpu/stage.sh staged (bin-bench.tar.xz):
#   bash scripts/gpu/bench-timeline.sh [OUT_DIR]      # OUT_DIR: else $OUT, else /tmp/ut-gpu-bench
# Writes OUT_DIR/timeline.log and cuda-timeline.json. Benchmarks measure; they never pass or fail.
set -uo pipefail
OUT_DIR=$(realpath -m "${1:-${OUT:-/tmp/ut-gpu-bench}}")
cd "$(dirname "$0")/../.."
mkdir -p "$OUT_DIR"
source scripts/gpu/env.sh
{
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  echo "bench-timeline of $COMMIT at $(date -u +%FT%TZ)"
  timeout 300 "$BIN/ut_cuda_bench" --json "$OUT_DIR/cuda-timeline.json"; echo "rc=$?"
} 2>&1 | tee "$OUT_DIR/timeline.log"
