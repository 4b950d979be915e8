#!/usr/bin/env bash
# The GPU check split over two calls of a runner that receives at most 64 MiB with the working tree (which is
# ~43 MB here, most of it models/): the first call runs every suite but the engine and ML, then the sanitizers; the
# second the engine and ML (llama.cpp and DuckDB both). The calls are independent (any host, any order).
#   bash scripts/build-ggml-cuda.sh && bash scripts/gpu/stage.sh && bash scripts/gpu/two-calls.sh split
#   # call 1, carrying .device-1 .gl:   bash scripts/gpu/two-calls.sh one "$OUT"
#   # call 2, carrying .device-2 .gl:   bash scripts/gpu/two-calls.sh two "$OUT"
#   #   (without a locally built ggml CUDA backend the ML suite fails and the engine's ML lane runs on the CPU; the
#   #   source, .device-src from `bash scripts/gpu/ggml-cuda.sh pack`, no longer fits beside DuckDB's libraries)
# Each call writes one archive, $OUT/check-<n>.tar.xz, holding the check's record, XML reports and logs.
set -uo pipefail
cd "$(dirname "$0")/../.."
GPU_WORK=${GPU_WORK:-/tmp/ut-gpu}
export GPU_WORK
pack() {  # pack DIR NAME: everything written under DIR into one archive (a runner may bring back few files)
  tar -C "$1" -cJf "$1/../$2.tar.xz" . && rm -rf "$1"
}
case "${1:-}" in
  split)
    # 1: every suite but ML and the engine, with DuckDB's libraries, then the sanitizers; 2: the ML lane and the
    # engine (llama.cpp's libraries, ggml's CUDA backend where scripts/build-ggml-cuda.sh built it before stage.sh,
    # DuckDB's libraries). The engine needs both llama.cpp and DuckDB: it cannot go with call 1.
    for n in 1 2; do rm -rf ".device-$n"; mkdir -p ".device-$n"; cp .device/commit .device/worktree-status ".device-$n/"
      cp .device/lib.tar.xz ".device-$n/"
      grep -qx "/.device-$n/" .git/info/exclude || echo "/.device-$n/" >> .git/info/exclude; done
    for s in timeline backends data vector vulkan render; do cp ".device/bin-$s.tar.xz" .device-1/; done
    for s in ml engine; do cp ".device/bin-$s.tar.xz" .device-2/; done
    cp .device/llama.tar.xz .device-2/
    du -ch .device-1/* | tail -n1; du -ch .device-2/* | tail -n1
    ;;
  one)
    out=${2:-${OUT:-/tmp/ut-gpu-out}}; mkdir -p "$out/check-1"
    GPU_STAGE=$PWD/.device-1 GPU_CHECK_SUITES="${GPU_CHECK_SUITES:-data timeline backends vector vulkan render sanitizer}" \
      GPU_CHECK_BUDGET=${GPU_CHECK_BUDGET:-500} bash scripts/gpu/check.sh "$out/check-1"
    rc=$?
    pack "$out/check-1" check-1
    exit $rc
    ;;
  two)
    out=${2:-${OUT:-/tmp/ut-gpu-out}}; mkdir -p "$out/check-2"
    budget=${GPU_CHECK_BUDGET:-540}
    # No ggml CUDA backend staged: build it here from .device-src (scripts/gpu/ggml-cuda.sh pack), ~4.5 min on 16 cores.
    if ! tar -tJf .device-2/llama.tar.xz | grep -q 'libggml-cuda.so$' && [[ -f .device-src/llama-src.tar.xz ]]; then
      t0=$SECONDS
      JOBS=$(nproc) bash scripts/gpu/ggml-cuda.sh build > "$out/check-2/ggml-cuda.log" 2>&1 || echo "ggml-cuda build failed" >&2
      budget=$((budget - (SECONDS - t0)))
    fi
    GPU_STAGE=$PWD/.device-2 GPU_CHECK_SUITES="${GPU_CHECK_SUITES:-engine ml}" \
      GPU_CHECK_BUDGET=$budget bash scripts/gpu/check.sh "$out/check-2"
    rc=$?
    pack "$out/check-2" check-2
    exit $rc
    ;;
  *) sed -n '2,9p' "$0"; exit 2 ;;
esac
