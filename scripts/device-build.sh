#!/usr/bin/env bash
# Builds, here (nvcc is here; the GPU machine only runs), the CUDA test binaries, `ut` and the stand-alone GPU
# bench into build-device/, and stages stripped copies into .device/ (git-ignored) for scripts/device-check.sh.
#
#   bash scripts/device-build.sh          # then, with the device tool:
#   run(command="bash scripts/device-check.sh", carry=[".device"], timeout_s=540)
#
# The binaries link the CUDA runtime and GoogleTest statically and load libcuda.so.1 / libnvidia-ml.so.1 at run
# time, so they start on the GPU machine (Ubuntu 24.04, newer glibc) and skip cleanly where there is no driver.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
mkdir -p .git/info
grep -qx '/.device/' .git/info/exclude 2>/dev/null || echo '/.device/' >> .git/info/exclude

B=${BUILD_DIR:-build-device}
cmake -S . -B "$B" -G Ninja -DUT_CUDA=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$B" -j2 --target ut_timeline_tests ut_backend_tests ut_cuda_bench ut_vector_tests ut_data_tests \
  ut_data_cuda_check ut_ml_tests ut_ml_bench
if ! cmake --build "$B" -j2 --target ut; then
  echo "device-build: 'ut' did not build; device-check.sh falls back to ut_cuda_bench for the figures" >&2
fi

rm -rf .device
mkdir -p .device
for f in "$B"/tests/timeline/ut_timeline_tests "$B"/tests/backends/ut_backend_tests \
         "$B"/tests/vector/ut_vector_tests "$B"/tests/data/ut_data_tests "$B"/tests/data/ut_data_cuda_check \
         "$B"/bench/cuda/ut_cuda_bench "$B"/apps/ut/ut; do
  [[ -x $f ]] || continue
  strip --strip-debug -o ".device/$(basename "$f")" "$f"
done
# Shared libraries that `ut` needs from the project's own dependency folder (DuckDB, llama.cpp), xz-compressed
# (libduckdb.so alone is 62 MB); device-check.sh unpacks them and puts them on LD_LIBRARY_PATH.
if [[ -x .device/ut ]]; then
  # ... and the Debian-only ones the GPU machine's image lacks (GLFW, stb, cpp-httplib and X11/brotli below them).
  libs=$(ldd "$B"/apps/ut/ut | awk '/=> \// {print $3}' |
         grep -E "^$root/|/lib(glfw|stb|cpp-httplib|X11|xcb|Xau|Xdmcp|bsd|md|brotli[a-z]*)\.so" || true)
  if [[ -n $libs ]]; then
    tmp=$(mktemp -d)
    for lib in $libs; do cp -L "$lib" "$tmp/"; done
    tar -C "$tmp" -cJf .device/lib.tar.xz .
    rm -rf "$tmp"
  fi
fi
# The ML lane in .device/ml/, small enough to carry alone (carry=[".device/ml", ".device/commit"]): its test and
# bench binaries, and llama.cpp: the prebuilt libraries with every CPU variant (ggml picks one at run time),
# ggml's CUDA backend from scripts/build-ggml-cuda.sh (when it has been built) and the vocabularies the synthetic
# models use. device-check.sh unpacks llama.tar.xz to /tmp/ut-llama and points UT_LLAMA_*_DIR there.
mkdir -p .device/ml
for f in "$B"/tests/ml/ut_ml_tests "$B"/bench/ml/ut_ml_bench; do
  strip --strip-debug -o ".device/ml/$(basename "$f")" "$f"
done
tmp=$(mktemp -d)
mkdir -p "$tmp/lib" "$tmp/models"
# CPU variants: the GPU machines seen so far are Sapphire Rapids; x64 is ggml's fallback for any other CPU. The
# other variants would cost 3 MB of the 64 MiB carry that `ut demo` needs (ut, its libraries and this).
for f in .deps/llama/lib/*.so; do
  case $(basename "$f") in
    libllama-common.so) continue ;;  # llama.cpp's tools library: nothing of ours loads it (6 MB of the carry)
    libggml-cpu-*.so) [[ " ${UT_DEVICE_CPU_VARIANTS:-x64 haswell skylakex icelake sapphirerapids zen4} " == *" $(basename "$f" .so | sed 's/^libggml-cpu-//') "* ]] || continue ;;
  esac
  cp -L "$f" "$tmp/lib/"
done
if [[ -f .deps/llama-cuda/lib/libggml-cuda.so ]]; then
  cp .deps/llama-cuda/lib/libggml-cuda.so "$tmp/lib/"
else
  echo "device-build: no .deps/llama-cuda/lib/libggml-cuda.so (scripts/build-ggml-cuda.sh): the ML lane will run on the GPU machine's CPU" >&2
fi
for v in bert-bge llama-spm qwen2; do  # with llama.cpp's tokenizer test vectors (.inp/.out)
  cp .deps/llama/src/models/ggml-vocab-$v.gguf* "$tmp/models/"
done
tar -C "$tmp" -cf - . | xz -T2 -9 > .device/ml/llama.tar.xz
# ut itself, compressed, for the GPU-machine runs of `ut demo` / `ut bench mixed` (scripts/device-mixed.sh), whose
# carry (ut, lib.tar.xz and llama.tar.xz) is otherwise just over the 64 MiB limit.
[[ -x .device/ut ]] && xz -T2 -9 -c .device/ut > .device/ml/ut.xz
rm -rf "$tmp"
git rev-parse --short HEAD > .device/commit 2>/dev/null || echo unknown > .device/commit
git status --porcelain | head -50 > .device/worktree-status || true
du -sh .device .device/ml
size=$(du -sm --exclude=ml .device | cut -f1)
ml=$(du -sm .device/ml | cut -f1)
if (( size > 60 || ml > 60 )); then
  echo "device-build: .device is ${size} MiB without ml/, .device/ml ${ml} MiB; the device tool carries at most" \
       "64 MiB with the working tree" >&2
  exit 1
fi
