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
  ut_data_cuda_check
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
git rev-parse --short HEAD > .device/commit 2>/dev/null || echo unknown > .device/commit
git status --porcelain | head -50 > .device/worktree-status || true
du -sh .device
size=$(du -sm .device | cut -f1)
if (( size > 60 )); then
  echo "device-build: .device is ${size} MiB; the device tool carries at most 64 MiB with the working tree" >&2
  exit 1
fi
