#!/usr/bin/env bash
# Vector search on the GPU host, over what scripts/gpu/stage.sh staged (bin-ut.tar.xz, lib.tar.xz):
#   bash scripts/gpu/bench-vector.sh [OUT_DIR]      # OUT_DIR: else $OUT, else /tmp/ut-gpu-bench
# Exact top-k kernels at 1M x 384 (recall against the CPU's exact answer on 100 queries, throughput on a batch of
# 10,000) and at 100k beside hnswlib (one-thread build, ~1-2 min: its QPS at recall >= 0.95);
# GPU_BENCH_VECTOR_1M_HNSW=1 adds hnswlib at 1M (its 16-thread build did not finish in 8 min). (The kernels' tests
# and their memcheck run are in scripts/gpu/check.sh.) Writes OUT_DIR/vector.log and vector-*.json.
set -uo pipefail
OUT_DIR=$(realpath -m "${1:-${OUT:-/tmp/ut-gpu-bench}}")
cd "$(dirname "$0")/../.."
mkdir -p "$OUT_DIR"
source scripts/gpu/env.sh
{
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  echo "bench-vector of $COMMIT at $(date -u +%FT%TZ)"
  hnsw_1m=$([[ ${GPU_BENCH_VECTOR_1M_HNSW:-0} == 0 ]] && echo --no-hnsw)
  timeout 480 "$UT" bench vector --n 1000000 --queries 100 --device-queries 10000 $hnsw_1m --json "$OUT_DIR/vector-1m.json"
  echo "rc=$?"
  timeout 240 "$UT" bench vector --n 100000 --queries 200 --device-queries 10000 --json "$OUT_DIR/vector-100k.json"
  echo "rc=$?"
} 2>&1 | tee "$OUT_DIR/vector.log"
