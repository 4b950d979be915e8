#!/usr/bin/env bash
# Builds, where nvcc is (this host or another), every test binary that runs on CUDA, `ut` and the stand-alone
# GPU benches into build-gpu/, and stages them into .device/ (git-ignored) for the other scripts of scripts/gpu/:
#   bash scripts/build-ggml-cuda.sh   # once: ggml's CUDA backend for the ML lane (without it ML runs on the CPU)
#   bash scripts/gpu/stage.sh
#   bash scripts/gpu/check.sh         # on any Linux host with an NVIDIA driver that has this checkout and .device/
# Staged into .device/, one archive per suite so that a host can receive a subset:
#   bin-<suite>.tar.xz   stripped binaries: timeline, backends, data, vector, ml, engine, render, vulkan, ut, bench
#   lib.tar.xz           the shared libraries they load from the project's folders (DuckDB, llama.cpp) and the
#                        Debian-only ones other images lack (GLFW, stb, cpp-httplib and X11/brotli below them)
#   llama.tar.xz         llama.cpp for the ML lane: every CPU variant of the prebuilt libraries (ggml picks one at
#                        run time), ggml's CUDA backend when built, the vocabularies of the synthetic models
#   commit               the short commit, with "-dirty" when tracked files had uncommitted changes (worktree-status)
# The binaries link the CUDA runtime and GoogleTest statically and load libcuda.so.1 / libnvidia-ml.so.1 at run
# time, so they start on a host with a newer glibc and report "no CUDA driver" where there is none.
# Settings: GPU_BUILD_DIR (build-gpu), GPU_STAGE (.device), UT_JOBS (all cores).
# Remote runners that receive at most 64 MiB together with the working tree: the sizes are printed at the end;
# send the archives of the suites one call runs and name those suites in GPU_CHECK_SUITES (scripts/gpu/check.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
B=${GPU_BUILD_DIR:-build-gpu}
S=${GPU_STAGE:-$root/.device}
JOBS=${UT_JOBS:-$(nproc)}
mkdir -p .git/info
grep -qx '/.device/' .git/info/exclude 2>/dev/null || echo '/.device/' >> .git/info/exclude

# suite -> binaries (paths under the build folder)
declare -A SUITE=(
  [timeline]="tests/timeline/ut_timeline_tests"
  [backends]="tests/backends/ut_backend_tests"
  [data]="tests/data/ut_data_tests tests/data/ut_data_cuda_check"
  [vector]="tests/vector/ut_vector_tests"
  [ml]="tests/ml/ut_ml_tests"
  [engine]="tests/engine/ut_engine_tests"
  [render]="tests/render/ut_render_tests"
  [vulkan]="tests/backends/ut_vulkan_backend_tests"
  [ut]="apps/ut/ut"
  [bench]="bench/cuda/ut_cuda_bench bench/ml/ut_ml_bench"
)
REQUIRED="timeline backends data vector ml engine render vulkan"

cmake -S . -B "$B" -G Ninja -DUT_CUDA=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
targets=()
for s in $REQUIRED; do for f in ${SUITE[$s]}; do targets+=("$(basename "$f")"); done; done
cmake --build "$B" -j "$JOBS" --target "${targets[@]}"
# `ut` and the stand-alone benches serve the bench scripts, not the check: a failure is reported, not fatal.
for t in ut ut_cuda_bench ut_ml_bench; do
  cmake --build "$B" -j "$JOBS" --target "$t" || echo "stage: '$t' did not build; the bench scripts that need it will fail" >&2
done

rm -rf "$S"
mkdir -p "$S"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
staged=()
for s in "${!SUITE[@]}"; do
  mkdir -p "$tmp/$s"
  for f in ${SUITE[$s]}; do
    [[ -x $B/$f ]] || continue
    strip --strip-debug -o "$tmp/$s/$(basename "$f")" "$B/$f"
    staged+=("$B/$f")
  done
  compgen -G "$tmp/$s/*" >/dev/null && tar -C "$tmp/$s" -cf - . | xz -T"$JOBS" -9 > "$S/bin-$s.tar.xz"
done
for s in $REQUIRED; do
  [[ -f $S/bin-$s.tar.xz ]] || { echo "stage: the $s tests were not built" >&2; exit 1; }
done

# Shared libraries: those in the project's folders (.deps: DuckDB, llama.cpp) and the Debian-only ones.
mkdir -p "$tmp/lib"
for f in "${staged[@]}"; do
  ldd "$f" | awk '/=> \// {print $3}' |
    grep -E "^$root/|/lib(glfw|stb|cpp-httplib|X11|xcb|Xau|Xdmcp|bsd|md|brotli[a-z]*)\.so" || true
done | sort -u | while read -r lib; do cp -L "$lib" "$tmp/lib/"; done
tar -C "$tmp/lib" -cf - . | xz -T"$JOBS" -9 > "$S/lib.tar.xz"

# llama.cpp for the ML lane. libllama-common.so is llama.cpp's tools library: nothing of ours loads it.
mkdir -p "$tmp/llama/lib" "$tmp/llama/models"
for f in .deps/llama/lib/*.so; do
  [[ $(basename "$f") == libllama-common.so ]] || cp -L "$f" "$tmp/llama/lib/"
done
if [[ -f .deps/llama-cuda/lib/libggml-cuda.so ]]; then
  cp .deps/llama-cuda/lib/libggml-cuda.so "$tmp/llama/lib/"
else
  echo "stage: no .deps/llama-cuda/lib/libggml-cuda.so (scripts/build-ggml-cuda.sh): the ML tests on CUDA will fail" >&2
fi
for v in bert-bge llama-spm qwen2; do  # with llama.cpp's tokenizer test vectors (.inp/.out)
  cp .deps/llama/src/models/ggml-vocab-$v.gguf* "$tmp/llama/models/"
done
tar -C "$tmp/llama" -cf - . | xz -T"$JOBS" -9 > "$S/llama.tar.xz"

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
# Tracked files only, as bench/version.cmake decides "dirty": an untracked file is in no build.
git status --porcelain --untracked-files=no > "$S/worktree-status" 2>/dev/null || true
[[ -s $S/worktree-status ]] && commit="$commit-dirty"
echo "$commit" > "$S/commit"
echo "stage: $commit staged into $S"
du -h "$S"/* | sort -k2
