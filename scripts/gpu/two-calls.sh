#!/usr/bin/env bash
# The GPU check split over two calls of a runner that receives at most 64 MiB with the working tree (which is
# ~43 MB here, most of it models/): the first call carries the DuckDB libraries, the second the ML lane.
# Both calls must reach the same host: the second one finds what the first unpacked under $GPU_WORK and the
# ggml CUDA backend the first one started building in the background.
#   bash scripts/gpu/stage.sh && bash scripts/gpu/ggml-cuda.sh pack && bash scripts/gpu/two-calls.sh split
#   # call 1, carrying .device-1 .device-src .gl:   bash scripts/gpu/two-calls.sh one "$OUT"
#   # call 2, carrying .device-2 .gl:               bash scripts/gpu/two-calls.sh two "$OUT"
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
    for n in 1 2; do rm -rf ".device-$n"; mkdir -p ".device-$n"; cp .device/commit .device/worktree-status ".device-$n/"
      grep -qx "/.device-$n/" .git/info/exclude || echo "/.device-$n/" >> .git/info/exclude; done
    for s in timeline backends data vector vulkan; do cp ".device/bin-$s.tar.xz" .device-1/; done
    cp .device/lib.tar.xz .device-1/
    for s in ml engine render ut bench; do cp ".device/bin-$s.tar.xz" .device-2/ 2>/dev/null || true; done
    cp .device/llama.tar.xz .device-2/
    du -ch .device-1/* .device-src/*.xz | tail -n1; du -ch .device-2/* | tail -n1
    ;;
  one)
    out=${2:-${OUT:-/tmp/ut-gpu-out}}; mkdir -p "$out/check-1"
    # ggml's CUDA backend builds in the background (~4.5 min on 16 cores) while the first suites run.
    setsid nohup bash -c 'JOBS=10 bash scripts/gpu/ggml-cuda.sh build > /tmp/ggml-cuda.log 2>&1;
      echo "exit $?" >> /tmp/ggml-cuda.log; touch /tmp/ggml-cuda.done' > /dev/null 2>&1 < /dev/null &
    GPU_STAGE=$PWD/.device-1 GPU_CHECK_SUITES="timeline backends data vector vulkan" \
      GPU_CHECK_BUDGET=${GPU_CHECK_BUDGET:-500} bash scripts/gpu/check.sh "$out/check-1"
    rc=$?
    cp /tmp/ggml-cuda.log "$out/check-1/" 2>/dev/null
    pack "$out/check-1" check-1
    exit $rc
    ;;
  two)
    out=${2:-${OUT:-/tmp/ut-gpu-out}}; mkdir -p "$out/check-2"
    [[ -f $GPU_WORK/lib/libduckdb.so ]] || echo "two-calls: $GPU_WORK/lib has no DuckDB: not the first call's host" \
      | tee "$out/check-2/host.txt"
    for _ in $(seq 1 400); do [[ -f /tmp/ggml-cuda.done ]] && break; sleep 1; done
    cp /tmp/ggml-cuda.log "$out/check-2/" 2>/dev/null
    GPU_STAGE=$PWD/.device-2 GPU_CHECK_SUITES="${GPU_CHECK_SUITES:-ml engine render sanitizer}" \
      GPU_CHECK_BUDGET=${GPU_CHECK_BUDGET:-540} bash scripts/gpu/check.sh "$out/check-2"
    rc=$?
    pack "$out/check-2" check-2
    exit $rc
    ;;
  *) sed -n '2,9p' "$0"; exit 2 ;;
esac
