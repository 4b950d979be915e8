#!/usr/bin/env bash
# The data engine on the GPU host, over what scripts/gpu/stage.sh staged (bin-ut.tar.xz, lib.tar.xz):
#   bash scripts/gpu/bench-data.sh [OUT_DIR]      # OUT_DIR: else $OUT, else /tmp/ut-gpu-bench
# `ut bench data` at GPU_BENCH_DATA_ROWS (default 10 M and 100 M rows): DuckDB alone vs our kernels, cold (scan +
# move + kernels) and warm (columns resident), same run, every result checked against DuckDB's. (The kernels'
# tests and their memcheck run are in scripts/gpu/check.sh.) Writes OUT_DIR/data.log and data-<rows>.json.
set -uo pipefail
OUT_DIR=$(realpath -m "${1:-${OUT:-/tmp/ut-gpu-bench}}")
cd "$(dirname "$0")/../.."
mkdir -p "$OUT_DIR"
source scripts/gpu/env.sh
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  echo "bench-data of $COMMIT at $(date -u +%FT%TZ); $(nproc) cores"
  for rows in ${GPU_BENCH_DATA_ROWS:-10000000 100000000}; do
    reps=$([[ $rows -ge 100000000 ]] && echo 2 || echo 3)  # 100 M rows: generating the table alone takes ~65 s
    echo "== ut bench data --rows $rows --reps $reps"
    timeout 420 "$UT" bench data --rows "$rows" --reps "$reps" --json "$OUT_DIR/data-$rows.json"; echo "rc=$?"
  done
} 2>&1 | tee "$OUT_DIR/data.log"
