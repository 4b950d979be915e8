#!/usr/bin/env bash
# The GPU data-path benches and their kernels under compute-sanitizer, over binaries staged by device-build.sh:
#   run(command="bash scripts/device-gpu-benches.sh", carry=[".device/ut", ".device/lib.tar.xz", ".device/ut_vector_tests",
#       ".device/ut_data_tests", ".device/ut_data_cuda_check", ".device/commit", ".gl"], timeout_s=590)
# vector: exact top-k kernels at 1M x 384 (recall against the CPU's exact answer on 100 queries, throughput on
# a batch of 10,000); DEVICE_VECTOR_1M_HNSW=1 adds hnswlib at 1M (its 16-thread build did not finish in 8 min);
# memcheck on the vector and data kernels' smoke runs; first the vector and data GPU tests.
# Writes $OUT/gpu-benches.log and the JSON files.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/ut-gpu-benches}
mkdir -p "$OUT"
source scripts/device-ut-env.sh
{
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  echo "== vector and data GPU tests (oracles: CPU exact search, DuckDB)"
  UT_BACKEND=cuda timeout 120 .device/ut_vector_tests --gtest_filter='*Device*'; echo "rc=$?"
  UT_BACKEND=cuda timeout 120 .device/ut_data_tests --gtest_filter='DataOracle.*:DataPlanner.HostLane*'; echo "rc=$?"
  timeout 120 .device/ut_data_cuda_check; echo "rc=$?"
  hnsw_1m=$([[ ${DEVICE_VECTOR_1M_HNSW:-0} == 0 ]] && echo --no-hnsw)
  timeout 480 $UT bench vector --n 1000000 --queries 100 --device-queries 10000 $hnsw_1m --json "$OUT/vector-1m.json"
  # 100k with hnswlib (one-thread build, ~1-2 min): its QPS at recall >= 0.95 beside the GPU's exact top-k.
  timeout 240 $UT bench vector --n 100000 --queries 200 --device-queries 10000 --json "$OUT/vector-100k.json"
  echo "== memcheck: vector kernels"; timeout 60 "$SAN" --tool memcheck --error-exitcode 97 $UT bench vector --quick --no-hnsw --json /tmp/v.json; echo "rc=$?"
  echo "== memcheck: data kernels"; timeout 90 "$SAN" --tool memcheck --error-exitcode 97 $UT bench data --quick --reps 1 --json /tmp/d.json; echo "rc=$?"
} 2>&1 | tee "$OUT/gpu-benches.log"
