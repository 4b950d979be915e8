#!/usr/bin/env bash
# Builds llama.cpp's own server (llama-server), the peer of `ut serve` in `ut bench serve`, from the llama.cpp
# source that scripts/fetch-deps.sh cloned into .deps/llama/src (the release the pinned npm libraries were built
# from). Output, git-ignored: .deps/llama-server/ with bin/llama-server and the libraries it was built with.
#
#   bash scripts/build-llama-server.sh        # ~20 min on 2 cores; idempotent
#
# ggml's backends are loaded at run time (GGML_BACKEND_DL), as in the npm package: this build has no CPU or CUDA
# backend of its own. scripts/gpu/bench-serve.sh puts the npm package's CPU variants and the sm_90 CUDA backend of
# scripts/build-ggml-cuda.sh beside the binary, so the peer and `ut` run the very same ggml kernels.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=.deps/llama/src
OUT=.deps/llama-server
B=${LLAMA_SERVER_BUILD_DIR:-.deps/llama-server-build}
JOBS=${JOBS:-$(nproc)}
[[ -f $SRC/CMakeLists.txt ]] || { echo "build-llama-server: $SRC missing; run scripts/fetch-deps.sh first" >&2; exit 1; }
case "${1:-}" in -h|--help) sed -n '2,10p' "$0"; exit 0 ;; esac

src_rev=$(git -C "$SRC" rev-parse HEAD 2>/dev/null || echo unknown)
stamp="$OUT/.stamp-$src_rev"
if [[ -f $stamp && -x $OUT/bin/llama-server ]]; then
  echo "build-llama-server: up to date ($OUT/bin/llama-server)"; exit 0
fi
cmake -S "$SRC" -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON \
  -DGGML_BACKEND_DL=ON -DGGML_NATIVE=OFF -DGGML_CPU=OFF -DGGML_CUDA=OFF \
  -DLLAMA_BUILD_COMMON=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TESTS=OFF \
  -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
  -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF >/dev/null
start=$(date +%s)
cmake --build "$B" -j"$JOBS" --target llama-server
rm -rf "$OUT"
mkdir -p "$OUT/bin"
strip --strip-unneeded -o "$OUT/bin/llama-server" "$B/bin/llama-server"
# Its shared libraries (sonames with .0), stripped, plus the unversioned names the loadable backends ask for.
for lib in "$B"/bin/lib*.so*; do
  [[ -L $lib ]] && continue
  strip --strip-unneeded -o "$OUT/bin/$(basename "$lib")" "$lib"
done
(cd "$OUT/bin" && for f in lib*.so.*; do
  base=${f%%.so*}.so
  soname=$(objdump -p "$f" | awk '/SONAME/ {print $2}')
  [[ -n $soname && $soname != "$f" && ! -e $soname ]] && ln -s "$f" "$soname"
  [[ -e $base ]] || ln -s "$f" "$base"
done)
touch "$stamp"
echo "build-llama-server: built in $(( $(date +%s) - start )) s: $(du -sh "$OUT" | cut -f1) in $OUT"
