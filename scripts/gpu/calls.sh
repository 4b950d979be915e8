#!/usr/bin/env bash
# The GPU check and the one-timeline benchmark over consecutive calls of a runner that receives at most 64 MiB with
# the working tree (~43 MB here, most of it models/) and keeps a machine (its /tmp and the checkout's ignored
# folders) between calls that follow each other closely. ggml's CUDA backend (57 MB) does not fit a transfer: call
# one builds it there from its 3 MB source while the first suites run (16 cores: a few minutes), and the later
# calls find it.
#   bash scripts/gpu/ggml-cuda.sh pack && bash scripts/gpu/stage.sh && bash scripts/gpu/calls.sh split
#   # call one, carrying .device-1 .gl:  bash scripts/gpu/calls.sh one "$OUT"    data timeline backends vector
#   # call two, carrying .device-2 .gl:  bash scripts/gpu/calls.sh two "$OUT"    ml engine render vulkan sanitizer
#   # call three, carrying .device-2 .gl: bash scripts/gpu/calls.sh bench "$OUT" [ut bench gpu-timeline options]
#   #                                      (one process per SM setting: UT_BENCH_SMS="0 auto", UT_BENCH_FRAMES=3600)
#   #                                      bash scripts/gpu/calls.sh faults "$OUT"  the deliberate GPU faults, LAST
#   # any call after one, before faults:  bash scripts/gpu/calls.sh timeline "$OUT" [ut bench timeline options]
#   #                                      bash scripts/gpu/calls.sh decode "$OUT" [ut bench decode options]
#   # after one, carrying .device-2 and models/: bash scripts/gpu/calls.sh cpu16 "$OUT"  the CPU budget on 16 cores
#   # one call on a fresh machine, carrying .device-1 .device-2 (no ggml build, no models needed): every suite but
#   #   ml and engine, the own decoder, the faults last:  bash scripts/gpu/calls.sh lite "$OUT"
#   # one short call on a fresh machine, carrying .device-1 .device-2 (no ggml build, no models needed):
#   #                                      bash scripts/gpu/calls.sh quick "$OUT"  backends timeline + own decoder
# With the trained models (39 MB) the tree and .device-1 pass 64 MiB: calls one and quick need models/debian/*.gguf
# out of the working tree during the call (move them aside, never commit meanwhile, put them back after).
# Calls one, two and faults each write $OUT/check-<n>.tar.xz (the check's record, XML reports and logs); bench
# writes $OUT/gpu-one-timeline.json, its screenshot and its console log. A later call on a fresh machine (the runner
# gave the machine back) fails and says so: call one again first. The faults go last on a machine: after a kernel
# that faults on purpose the NVIDIA Vulkan driver draws no more frames on that GPU (see scripts/gpu/check.sh).
set -uo pipefail
cd "$(dirname "$0")/../.."
GPU_WORK=${GPU_WORK:-/tmp/ut-gpu}
export GPU_WORK
pack() {  # pack DIR NAME: everything written under DIR into one archive (a runner may bring back few files)
  tar -C "$1" -cJf "$1/../$2.tar.xz" . && rm -rf "$1"
}
ggml_lib=.deps/llama-cuda/lib/libggml-cuda.so
ml_on_gpu() {  # ml_on_gpu OUT: the staged binaries' environment with ggml's CUDA backend (built by call one); sets $card
  mkdir -p "$1"
  [[ -f $ggml_lib ]] || { echo "calls: no $ggml_lib on this machine: run call one first" >&2; exit 1; }
  export GPU_STAGE=${GPU_STAGE:-$PWD/.device-2}
  source scripts/gpu/env.sh
  cp "$ggml_lib" "$GPU_WORK/llama/lib/"
  export UT_ML_DEVICE=cuda
  card=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n1 | sed 's/^NVIDIA //' | tr 'A-Z ' 'a-z-' | tr -cd 'a-z0-9-')
}
decoder_early() {  # decoder_early OUT: with .device-2 carried, the own decode path's tests and its speed alone
  if [[ -d .device-2 ]]; then
    # Carried along (optional): the own decode path's tests and its speed alone, without ggml's CUDA backend (call
    # one may still be building it; quick never does): llama.cpp runs on the CPU here, its GPU comparisons come later.
    (GPU_STAGE=$PWD/.device-2; source scripts/gpu/env.sh
     UT_REQUIRE_GPU=1 timeout -k 5 180 "$BIN/ut_ml_tests" --gtest_filter='GpuDecoder*:ReferenceForward*' \
       > "$1/check-1/gpu-decoder-tests.txt" 2>&1; echo "exit $?" >> "$1/check-1/gpu-decoder-tests.txt"
     timeout -k 5 180 "$UT" bench decode --own-only --models /tmp/ut-models --json "$1/check-1/own-decode-own-only.json" \
       > "$1/check-1/own-decode-own-only.log" 2>&1; echo "exit $?" >> "$1/check-1/own-decode-own-only.log")
    tail -n 4 "$1/check-1/gpu-decoder-tests.txt" "$1/check-1/own-decode-own-only.log"
  fi
}
case "${1:-}" in
  split)
    [[ -f .device-src/llama-src.tar.xz ]] || { echo "calls: run 'bash scripts/gpu/ggml-cuda.sh pack' first" >&2; exit 1; }
    for n in 1 2; do rm -rf ".device-$n"; mkdir -p ".device-$n"; cp .device/commit .device/worktree-status ".device-$n/"
      grep -qx "/.device-$n/" .git/info/exclude || echo "/.device-$n/" >> .git/info/exclude; done
    # one: the project's libraries (DuckDB ...) stay on the machine for the later calls; ggml's source
    cp .device/lib.tar.xz .device-src/llama-src.tar.xz .device-src/llama-src.rev .device-1/
    for s in timeline backends data vector; do cp ".device/bin-$s.tar.xz" .device-1/; done
    for s in ml engine render vulkan ut bench; do cp ".device/bin-$s.tar.xz" .device-2/; done
    # llama.cpp without ggml's CUDA backend, which call one builds on the machine (it does not fit a transfer)
    t=$(mktemp -d); tar -C "$t" -xJf .device/llama.tar.xz; rm -f "$t/lib/libggml-cuda.so"
    tar -C "$t" -cf - . | xz -T0 -9 > .device-2/llama.tar.xz; rm -rf "$t"
    du -ch .device-1/* | tail -n1; du -ch .device-2/* | tail -n1
    ;;
  one)
    out=${2:-${OUT:-/tmp/ut-gpu-out}}; mkdir -p "$out/check-1"
    rm -rf "$GPU_WORK"
    # ggml's CUDA backend, built in the background on 12 of the cores while the suites run on the GPU.
    mkdir -p .device-src && cp .device-1/llama-src.tar.xz .device-1/llama-src.rev .device-src/
    (JOBS=12 nice bash scripts/gpu/ggml-cuda.sh build > "$out/check-1/ggml-cuda.log" 2>&1; echo "exit $?" >> "$out/check-1/ggml-cuda.log") &
    builder=$!
    GPU_STAGE=$PWD/.device-1 GPU_CHECK_SUITES="${GPU_CHECK_SUITES:-data timeline backends vector}" \
      GPU_CHECK_BUDGET=${GPU_CHECK_BUDGET:-420} bash scripts/gpu/check.sh "$out/check-1"
    rc=$?
    decoder_early "$out"
    t0=$SECONDS
    wait "$builder"
    echo "calls: ggml-cuda build finished $((SECONDS - t0)) s after the suites: $(tail -n1 "$out/check-1/ggml-cuda.log")" |
      tee -a "$out/check-1/ggml-cuda.log"
    pack "$out/check-1" check-1
    exit $rc
    ;;
  two)
    out=${2:-${OUT:-/tmp/ut-gpu-out}}; mkdir -p "$out/check-2"
    if [[ ! -f $ggml_lib || ! -d $GPU_WORK/lib ]]; then
      echo "calls: no $ggml_lib or $GPU_WORK/lib on this machine (a fresh one): run call one first" | tee "$out/check-2/missing.txt"
      pack "$out/check-2" check-2; exit 1
    fi
    (source scripts/gpu/env.sh >/dev/null; cp "$ggml_lib" "$GPU_WORK/llama/lib/")
    GPU_STAGE=$PWD/.device-2 GPU_CHECK_SUITES="${GPU_CHECK_SUITES:-ml engine render vulkan sanitizer}" \
      GPU_CHECK_BUDGET=${GPU_CHECK_BUDGET:-480} bash scripts/gpu/check.sh "$out/check-2"
    rc=$?
    pack "$out/check-2" check-2
    exit $rc
    ;;
  faults)
    out=${2:-${OUT:-/tmp/ut-gpu-out}}; mkdir -p "$out/check-3"
    [[ -d $GPU_WORK/bin ]] || { echo "calls: no $GPU_WORK/bin on this machine: run call one first" >&2; exit 1; }
    GPU_STAGE=$PWD/.device-2 GPU_CHECK_SUITES=faults GPU_CHECK_BUDGET=${GPU_CHECK_BUDGET:-200} \
      bash scripts/gpu/check.sh "$out/check-3"
    rc=$?
    pack "$out/check-3" check-3
    exit $rc
    ;;
  solo)
    # One call on a fresh machine for the one-timeline benchmark alone, carrying .device-solo (bash
    # scripts/gpu/calls.sh pack-solo here) and .gl: ggml's CUDA backend built on all cores, then `bench`.
    out=${2:-${OUT:-/tmp/ut-gpu-out}}; mkdir -p "$out"
    rm -rf "$GPU_WORK"
    mkdir -p .device-src && cp .device-solo/llama-src.tar.xz .device-solo/llama-src.rev .device-src/
    t0=$SECONDS
    JOBS=$(nproc) bash scripts/gpu/ggml-cuda.sh build > "$out/ggml-cuda.log" 2>&1 || { tail -n 5 "$out/ggml-cuda.log"; exit 1; }
    echo "calls: ggml's CUDA backend built in $((SECONDS - t0)) s"
    shift 2 || shift $#
    GPU_STAGE=$PWD/.device-solo exec bash "$0" bench "$out" "$@"
    ;;
  pack-solo)
    # Here: what `solo` needs in at most ~22 MB (the working tree takes the rest of a 64 MiB transfer): `ut`, the
    # libraries it loads (DuckDB stripped), llama.cpp with the CPU variants of x86 servers and the two vocabularies
    # of the trained models, ggml's source.
    [[ -f .device/bin-ut.tar.xz && -f .device-src/llama-src.tar.xz ]] || { echo "calls: stage.sh and ggml-cuda.sh pack first" >&2; exit 1; }
    rm -rf .device-solo; mkdir -p .device-solo
    grep -qx "/.device-solo/" .git/info/exclude || echo "/.device-solo/" >> .git/info/exclude
    cp .device/bin-ut.tar.xz .device/commit .device/worktree-status .device-src/llama-src.tar.xz .device-src/llama-src.rev .device-solo/
    t=$(mktemp -d); mkdir -p "$t/lib" "$t/all" "$t/llama/lib" "$t/llama/models"
    tar -C "$t/all" -xJf .device/lib.tar.xz
    for f in "$t"/all/*; do case $(basename "$f") in libllama*|libggml*) ;; libduckdb.so) strip --strip-unneeded -o "$t/lib/libduckdb.so" "$f" ;; *) cp "$f" "$t/lib/" ;; esac; done
    rm -rf "$t/all"; mkdir -p "$t/all"; tar -C "$t/all" -xJf .device/llama.tar.xz
    cp "$t"/all/lib/lib{ggml-base,ggml-cpu-haswell,ggml-cpu-icelake,ggml-cpu-sapphirerapids,ggml-cpu-x64,ggml}.so \
      "$t"/all/lib/libggml.v*.so "$t"/all/lib/libllama*.so "$t/llama/lib/"
    cp "$t"/all/models/ggml-vocab-{bert-bge,llama-spm}.gguf* "$t/llama/models/"
    tar -C "$t/lib" -cf - . | xz -T0 -9 > .device-solo/lib.tar.xz
    tar -C "$t/llama" -cf - . | xz -T0 -9 > .device-solo/llama.tar.xz
    rm -rf "$t"; du -ch .device-solo/* | tail -n1
    ;;
  bench)
    # One process per SM partition setting (UT_BENCH_SMS, default "0 auto"; not --reserve-sms): run in one process,
    # the partitioned run after the unpartitioned one aborted inside ggml's CUDA backend (H100, 543228e:
    # docs/measurements/gpu-one-timeline-h100-80gb-hbm3-543228e-crash.log). UT_BENCH_FRAMES frames per phase
    # (default 3600, a minute at 60 Hz: two settings of idle + loaded phases fit one 600 s call).
    out=${2:-${OUT:-/tmp/ut-gpu-out}}; shift 2 || shift $#
    ml_on_gpu "$out"
    rc=0
    for sms in ${UT_BENCH_SMS:-0 auto}; do
      VK_DRIVER_FILES=$(nvidia_vulkan_icd) "$UT" bench gpu-timeline --reserve-sms "$sms" \
        --frames "${UT_BENCH_FRAMES:-3600}" --json "$out/gpu-one-timeline-$card-sms$sms.json" \
        --screenshot "$out/gpu-one-timeline-$card-sms$sms.png" "$@" 2>&1 | tee "$out/gpu-one-timeline-$card-sms$sms.log"
      [[ ${PIPESTATUS[0]} -eq 0 ]] || rc=1
    done
    exit "$rc"
    ;;
  quick)
    # One short call on a fresh machine, without ggml's CUDA backend (no build): the CUDA backend and timeline
    # suites (launch-blocking included) and the own decode path's tests and speed alone; carrying .device-1 and
    # .device-2. Writes $OUT/check-1.tar.xz.
    out=${2:-${OUT:-/tmp/ut-gpu-out}}; mkdir -p "$out/check-1"
    rm -rf "$GPU_WORK"
    GPU_STAGE=$PWD/.device-1 GPU_CHECK_SUITES="${GPU_CHECK_SUITES:-backends timeline}" \
      GPU_CHECK_BUDGET=${GPU_CHECK_BUDGET:-240} bash scripts/gpu/check.sh "$out/check-1"
    rc=$?
    decoder_early "$out"
    pack "$out/check-1" check-1
    exit $rc
    ;;
  lite)
    # One call on a fresh machine for everything that needs no ggml CUDA build, carrying .device-1 and .device-2
    # (models/debian/*.gguf out of the tree): every suite but ml and engine, the own decode path's tests and speed
    # alone, then the deliberate faults. Writes $OUT/check-1.tar.xz and $OUT/check-3.tar.xz.
    out=${2:-${OUT:-/tmp/ut-gpu-out}}; mkdir -p "$out/check-1"
    rm -rf "$GPU_WORK"
    stage=$(mktemp -d)  # .device-1's libraries and binaries with .device-2's binaries; no llama.cpp: no ML steps
    cp .device-1/* "$stage/" && cp .device-2/bin-*.tar.xz "$stage/"
    GPU_STAGE=$stage GPU_CHECK_SUITES="${GPU_CHECK_SUITES:-backends timeline data vector render vulkan sanitizer}" \
      GPU_CHECK_BUDGET=${GPU_CHECK_BUDGET:-300} bash scripts/gpu/check.sh "$out/check-1"
    rc=$?
    decoder_early "$out"
    pack "$out/check-1" check-1
    mkdir -p "$out/check-3"
    GPU_STAGE=$stage GPU_CHECK_SUITES=faults GPU_CHECK_BUDGET=200 bash scripts/gpu/check.sh "$out/check-3" || rc=1
    pack "$out/check-3" check-3
    exit $rc
    ;;
  decode)
    # `ut bench decode` on this GPU (after call one, which built ggml's CUDA backend): the own decode path against
    # llama.cpp's CUDA backend on the Qwen2.5-0.5B shape (written to /tmp), with the roofline; extra arguments go to it.
    out=${2:-${OUT:-/tmp/ut-gpu-out}}; shift 2 || shift $#
    ml_on_gpu "$out"
    "$UT" bench decode --models /tmp/ut-models --json "$out/own-decode-$card.json" "$@" 2>&1 | tee "$out/own-decode-$card.log"
    exit "${PIPESTATUS[0]}"
    ;;
  cpu16)
    # The CPU core budget on this host's 16 cores with no GPU in use (ut bench mixed --backend cpu, the trained
    # models, ML on the CPU), two runs; after call one (its libraries stay here), carrying .device-2 and the models.
    out=${2:-${OUT:-/tmp/ut-gpu-out}}; mkdir -p "$out"
    export GPU_STAGE=$PWD/.device-2
    source scripts/gpu/env.sh
    export UT_ML_DEVICE=cpu UT_TRAINED_MODELS_DIR=$PWD/models/debian
    cores=$(nproc)
    for x in a b; do
      timeout 270 "$UT" bench mixed --backend cpu --json "$out/mixed-cpu-${cores}core-$COMMIT-$x.json" \
        > "$out/mixed-cpu-${cores}core-$COMMIT-$x.log" 2>&1
      echo "run $x: exit $?"; tail -n 12 "$out/mixed-cpu-${cores}core-$COMMIT-$x.log"
    done
    ;;
  timeline)
    # `ut bench timeline` on this GPU: CUDA event latencies, priorities, copy/compute overlap and the cross-API
    # (CUDA -> Vulkan -> CUDA) round trip through shared timeline semaphores, each against raw CUDA.
    out=${2:-${OUT:-/tmp/ut-gpu-out}}; shift 2 || shift $#
    mkdir -p "$out"
    export GPU_STAGE=$PWD/.device-2
    source scripts/gpu/env.sh
    card=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n1 | sed 's/^NVIDIA //' | tr 'A-Z ' 'a-z-' | tr -cd 'a-z0-9-')
    VK_DRIVER_FILES=$(nvidia_vulkan_icd) "$UT" bench timeline --json "$out/bench-timeline-$card.json" "$@" 2>&1 |
      tee "$out/bench-timeline-$card.log"
    exit "${PIPESTATUS[0]}"
    ;;
  *) sed -n '2,16p' "$0"; exit 2 ;;
esac
