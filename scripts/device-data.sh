#!/usr/bin/env bash
# The data engine on the GPU machine, over binaries staged by device-build.sh:
#   run(command="bash scripts/device-data.sh", carry=[".device/ut", ".device/lib.tar.xz", ".device/ut_data_tests",
#       ".device/ut_data_cuda_check", ".device/commit", ".gl"], timeout_s=590)
# 1. the DuckDB oracle with the CUDA kernels (random GROUP BYs, resident columns, parallel finalize) and the
#    CPU-vs-CUDA kernel cases; 2. compute-sanitizer memcheck over a quick bench; 3. `ut bench data` at
#    DEVICE_DATA_ROWS (default 10 M and 100 M rows): DuckDB alone vs our kernels, cold (scan + move + kernels)
#    and warm (columns resident), same run, every result checked against DuckDB's.
# Writes $OUT/data.log and data-<rows>.json.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/ut-device-data}
mkdir -p "$OUT"
source scripts/device-ut-env.sh
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  echo "device-data of $(cat .device/commit 2>/dev/null) at $(date -u +%FT%TZ); $(nproc) cores"
  echo "== data GPU tests (oracle: DuckDB)"
  UT_BACKEND=cuda timeout 180 .device/ut_data_tests --gtest_filter='DataOracle.*:DataPlanner.HostLane*'; echo "rc=$?"
  timeout 120 .device/ut_data_cuda_check; echo "rc=$?"
  if [[ ${DEVICE_DATA_MEMCHECK:-1} == 1 ]]; then
    echo "== memcheck: data kernels"
    timeout 120 "$SAN" --tool memcheck --error-exitcode 97 $UT bench data --quick --reps 2 --json /tmp/d.json; echo "rc=$?"
  fi
  for rows in ${DEVICE_DATA_ROWS:-10000000 100000000}; do
    reps=$([[ $rows -ge 100000000 ]] && echo 2 || echo 3)  # 100 M rows: generating the table alone takes ~65 s
    echo "== ut bench data --rows $rows --reps $reps"
    timeout 420 $UT bench data --rows "$rows" --reps "$reps" --json "$OUT/data-$rows.json"; echo "rc=$?"
  done
} 2>&1 | tee "$OUT/data.log"
