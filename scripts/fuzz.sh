#!/usr/bin/env bash
# Fuzz with libFuzzer: builds the fuzz targets of tests/fuzz/ with clang (-fsanitize=fuzzer,address,undefined on
# all our code) in build-fuzz/, then runs each for SECONDS. New inputs go to build-fuzz/corpus/TARGET (the committed
# seeds in tests/fuzz/corpus/TARGET are read, never written); a crash, sanitizer report, timeout or leak leaves its
# input in build-fuzz/artifacts/TARGET/ and the script exits non-zero. Add a fixed crash's input to the committed
# corpus: ctest (fuzz.TARGET) replays that corpus in every build.
#   scripts/fuzz.sh all 300          # every target, 5 minutes each
#   scripts/fuzz.sh chunker 60       # one target: chunker planner gguf http_routes config
#   UT_FUZZ_ARGS="-jobs=2" scripts/fuzz.sh planner 600    # extra libFuzzer flags
#   UT_FUZZ_ALLOW_5XX=1 scripts/fuzz.sh http_routes 600   # a 5xx answer does not stop the run (crashes still do)
# Inputs that still fail and are not fixed yet wait in tests/fuzz/known/ (not replayed by ctest).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

TARGETS_ALL=(chunker planner gguf http_routes config)
if [[ $# -lt 2 || "$1" == -h || "$1" == --help ]]; then
  sed -n '2,12p' "$0"
  exit 2
fi
what=$1 seconds=$2
if [[ "$what" == all ]]; then targets=("${TARGETS_ALL[@]}"); else targets=("$what"); fi
for t in "${targets[@]}"; do
  [[ " ${TARGETS_ALL[*]} " == *" $t "* ]] || { echo "[fuzz] unknown target: $t (${TARGETS_ALL[*]})" >&2; exit 2; }
done
command -v clang++ >/dev/null || { echo "[fuzz] clang++ not found (scripts/setup.sh installs clang)" >&2; exit 1; }

BUILD=${UT_FUZZ_BUILD_DIR:-build-fuzz}
echo "[fuzz] building ${targets[*]} in $BUILD (clang, libFuzzer, ASan+UBSan)"
CC=clang CXX=clang++ cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DUT_SANITIZE=fuzzer \
  -DUT_WERROR=OFF -DUT_CUDA=OFF -DUT_VULKAN=OFF >/dev/null
cmake --build "$BUILD" -j "${UT_JOBS:-$(nproc)}" --target "${targets[@]/#/ut_fuzz_}"

# The tiny synthetic models and the CPU backend, as the tests use them. UBSan stops at its first report.
export UT_BACKEND=cpu UT_TRAINED_MODELS_DIR=none
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export LSAN_OPTIONS="suppressions=$(pwd)/scripts/lsan.supp:print_suppressions=0"
rc=0
for t in "${targets[@]}"; do
  work="$BUILD/corpus/$t" art="$BUILD/artifacts/$t"
  mkdir -p "$work" "$art"
  log="$BUILD/fuzz-$t.log"
  echo "[fuzz] $t for ${seconds}s (log: $log)"
  start=$SECONDS
  trc=0
  # shellcheck disable=SC2086
  "$BUILD/tests/fuzz/ut_fuzz_$t" "$work" "tests/fuzz/corpus/$t" -max_total_time="$seconds" -timeout=60 \
    -rss_limit_mb=6144 -max_len=16384 -print_final_stats=1 -artifact_prefix="$art/" ${UT_FUZZ_ARGS:-} \
    >"$log" 2>&1 || trc=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)
  found=$(find "$art" -type f | wc -l)
  echo "[fuzz] $t: $((SECONDS - start)) s, ${runs:-?} inputs run, exit $trc, $found artifact(s) in $art"
  if [[ $trc != 0 ]]; then
    rc=1
    grep -m5 -E 'ERROR|FUZZ_CHECK|runtime error|SUMMARY' "$log" || true
  fi
done
exit $rc
