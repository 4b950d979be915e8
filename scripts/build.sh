#!/usr/bin/env bash
# Configure and build the project into build/ (or $UT_BUILD_DIR). Runs scripts/setup.sh first unless
# --no-setup is given. Extra arguments after -- go to cmake's configure step.
#   scripts/build.sh                      # set up, configure, build
#   scripts/build.sh --no-setup -- -DUT_CUDA=OFF
#   UT_BUILD_DIR=build-x UT_BUILD_TARGETS="ut ut_timeline_tests" scripts/build.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SETUP=1
CMAKE_ARGS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --no-setup) SETUP=0 ;;
    --) shift; CMAKE_ARGS+=("$@"); break ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "[build] unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

[[ $SETUP == 1 ]] && bash scripts/setup.sh
BUILD_DIR=${UT_BUILD_DIR:-build}
JOBS=${UT_JOBS:-$(nproc)}
echo "[build] configuring $BUILD_DIR"
cmake -S . -B "$BUILD_DIR" -G Ninja "${CMAKE_ARGS[@]}" >/dev/null
TARGETS=()
[[ -n "${UT_BUILD_TARGETS:-}" ]] && TARGETS=(--target ${UT_BUILD_TARGETS})
echo "[build] building ${UT_BUILD_TARGETS:-everything} with $JOBS jobs"
cmake --build "$BUILD_DIR" -j "$JOBS" "${TARGETS[@]}"
