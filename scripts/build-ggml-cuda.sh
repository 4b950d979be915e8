#!/usr/bin/env bash
# Builds ggml's CUDA backend (libggml-cuda.so) from the llama.cpp source that scripts/fetch-deps.sh cloned into
# .deps/llama/src, for Hopper (sm_90) only, as a loadable backend (GGML_BACKEND_DL) next to the prebuilt CPU
# libraries of @node-llama-cpp/linux-x64. Output: .deps/llama-cuda/lib/libggml-cuda.so (git-ignored).
#
#   bash scripts/build-ggml-cuda.sh            # here (nvcc is here) or on the GPU machine; idempotent
#
# Why build rather than take @node-llama-cpp/linux-x64-cuda: that package's libggml-cuda.so is 159 MB, carries
# native code for sm_86/89/120 and only PTX for sm_90 (JIT-compiled at every first start) and links the CUDA 12
# runtime, which the GPU machine (CUDA 13) lacks. The sm_90-only build is ~10x smaller and native.
# Cost: ~4.5 min on 16 cores, roughly 40 min on this 2-core machine; the result is reused until the source changes.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=.deps/llama/src
OUT=.deps/llama-cuda
B=${GGML_CUDA_BUILD_DIR:-.deps/ggml-cuda-build}
JOBS=${JOBS:-$(nproc)}
[[ -f $SRC/CMakeLists.txt ]] || { echo "build-ggml-cuda: $SRC missing; run scripts/fetch-deps.sh first" >&2; exit 1; }
NVCC=${CUDACXX:-/usr/local/cuda/bin/nvcc}
[[ -x $NVCC ]] || { echo "build-ggml-cuda: nvcc not found at $NVCC (set CUDACXX)" >&2; exit 1; }

src_rev=$(git -C .deps/llama/src rev-parse HEAD 2>/dev/null || echo unknown)
stamp="$OUT/.stamp-$src_rev-sm90"
if [[ -f $stamp && -f $OUT/lib/libggml-cuda.so ]]; then
  echo "build-ggml-cuda: up to date ($OUT/lib/libggml-cuda.so)"; exit 0
fi

# CMake and Ninja: the system's, else those of a Python installation (pip's cmake/ninja wheels), else Makefiles.
for tool in cmake ninja; do
  command -v $tool >/dev/null && continue
  d=$(python3 -c "import $tool, os; print(getattr($tool, 'BIN_DIR', None) or getattr($tool, 'CMAKE_BIN_DIR', ''))" 2>/dev/null || true)
  [[ -n $d && -x $d/$tool ]] && export PATH="$d:$PATH"
done
command -v cmake >/dev/null || { echo "build-ggml-cuda: cmake not found" >&2; exit 1; }
GEN=Ninja
command -v ninja >/dev/null || GEN="Unix Makefiles"
echo "build-ggml-cuda: $(cmake --version | head -n1), generator $GEN, $("$NVCC" --version | tail -n1), $JOBS jobs"
cmake -S "$SRC" -B "$B" -G "$GEN" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_COMPILER="$NVCC" \
  -DBUILD_SHARED_LIBS=ON -DGGML_BACKEND_DL=ON -DGGML_NATIVE=OFF -DGGML_CPU=OFF \
  -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DGGML_CUDA_NCCL=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF \
  -DLLAMA_CURL=OFF >/dev/null
start=$(date +%s)
cmake --build "$B" -j"$JOBS" --target ggml-cuda
mkdir -p "$OUT/lib"
lib=$(find "$B" -name 'libggml-cuda.so' | head -n1)
[[ -n $lib ]] || { echo "build-ggml-cuda: libggml-cuda.so not produced" >&2; exit 1; }
strip --strip-unneeded -o "$OUT/lib/libggml-cuda.so" "$lib"
# This build names its libggml-base "libggml-base.so.0"; the prebuilt one it runs with is "libggml-base.so" (same
# source, no version suffix). Rename the one NEEDED entry in .dynstr in place (same offset, shorter string).
python3 - "$OUT/lib/libggml-cuda.so" <<'PY'
import sys
path = sys.argv[1]
data = open(path, "rb").read()
old = b"libggml-base.so.0\x00"
new = b"libggml-base.so".ljust(len(old), b"\x00")
if data.count(old) != 1:
    sys.exit(f"build-ggml-cuda: expected one '{old[:-1].decode()}' in {path}, found {data.count(old)}")
open(path, "wb").write(data.replace(old, new))
PY
rm -f "$OUT"/.stamp-*
touch "$stamp"
echo "build-ggml-cuda: built in $(( $(date +%s) - start )) s with $JOBS jobs: $(du -h "$OUT/lib/libggml-cuda.so" | cut -f1)"
