#!/usr/bin/env bash
# Builds ggml's CUDA backend (libggml-cuda.so, sm_90) ON the GPU host when the staged llama.tar.xz carries none:
# the build takes ~4.5 min on 16 cores there against ~40 min on a 2-core build machine, and its source packs into
# ~3 MB where the library itself would not fit a small transfer next to the staged binaries.
#   bash scripts/gpu/ggml-cuda.sh pack      # where the llama.cpp source is (.deps/llama/src): writes .device-src/
#   bash scripts/gpu/ggml-cuda.sh build     # on the GPU host, from the repository root, before scripts/gpu/check.sh
# build: unpacks .device-src/llama-src.tar.xz into .deps/llama/src, runs scripts/build-ggml-cuda.sh (idempotent: a
# second call finds .deps/llama-cuda/lib/libggml-cuda.so up to date) and copies the library to where
# scripts/gpu/env.sh points UT_LLAMA_CUDA_DIR ($GPU_WORK/llama/lib).
set -euo pipefail
cd "$(dirname "$0")/../.."
case "${1:-}" in
  pack)
    mkdir -p .device-src
    grep -qx '/.device-src/' .git/info/exclude 2>/dev/null || echo '/.device-src/' >> .git/info/exclude
    # The CMake tree llama.cpp needs to configure, without the backends and tools we never build.
    tar -C .deps/llama/src \
      --exclude='ggml/src/ggml-sycl' --exclude='ggml/src/ggml-vulkan' --exclude='ggml/src/ggml-metal' \
      --exclude='ggml/src/ggml-cann' --exclude='ggml/src/ggml-musa' --exclude='ggml/src/ggml-opencl' \
      --exclude='ggml/src/ggml-webgpu' --exclude='ggml/src/ggml-kompute' \
      -cf - CMakeLists.txt cmake ggml src include common vendor tools/CMakeLists.txt LICENSE licenses app |
      xz -T0 -6 > .device-src/llama-src.tar.xz
    git -C .deps/llama/src rev-parse HEAD > .device-src/llama-src.rev 2>/dev/null || echo unknown > .device-src/llama-src.rev
    du -h .device-src/*
    ;;
  build)
    GPU_WORK=${GPU_WORK:-/tmp/ut-gpu}
    if [[ ! -f .deps/llama-cuda/lib/libggml-cuda.so ]]; then
      [[ -f .device-src/llama-src.tar.xz ]] || { echo "ggml-cuda: no .device-src/llama-src.tar.xz (run 'pack' first)" >&2; exit 1; }
      mkdir -p .deps/llama/src
      tar -C .deps/llama/src -xJf .device-src/llama-src.tar.xz
      bash scripts/build-ggml-cuda.sh
    fi
    mkdir -p "$GPU_WORK/llama/lib"
    cp .deps/llama-cuda/lib/libggml-cuda.so "$GPU_WORK/llama/lib/"
    echo "ggml-cuda: $GPU_WORK/llama/lib/libggml-cuda.so"
    ;;
  *) sed -n '2,9p' "$0"; exit 2 ;;
esac
