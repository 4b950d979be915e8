#!/usr/bin/env bash
# Set everything up, build, and run every test: the normal build (with the CUDA backend wherever nvcc
# exists; GPU tests skip with a printed reason when no GPU is present, and ctest lists them as Skipped;
# UT_REQUIRE_GPU=1 / UT_REQUIRE_UI=1 make such skips failures), then the timeline tests again
# under ThreadSanitizer, then smoke runs of `ut demo` and `ut bench timeline --quick`, and the benchmark
# tables of docs/BENCHMARKS.md regenerated from docs/measurements into a copy (no plots, no matplotlib).
#   scripts/test.sh            # everything
#   scripts/test.sh --no-tsan  # skip the ThreadSanitizer build
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

TSAN=1
for a in "$@"; do
  case "$a" in
    --no-tsan) TSAN=0 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "[test] unknown argument: $a" >&2; exit 2 ;;
  esac
done

bash scripts/build.sh
echo "[test] smoke: ut demo, ut bench timeline --quick, ut bench mixed --quick"
tmp=$(mktemp -d)
(cd "$tmp" && UT_MODELS_DIR="$OLDPWD/models/synth" "$OLDPWD/build/apps/ut/ut" demo --max-tokens 16 >/dev/null \
  && "$OLDPWD/build/apps/ut/ut" bench timeline --quick >/dev/null \
  && UT_MODELS_DIR="$OLDPWD/models/synth" "$OLDPWD/build/apps/ut/ut" bench mixed --quick >/dev/null)
python3 -c "import json,sys; t=json.load(open(sys.argv[1])); assert len(t['traceEvents']) > 100" "$tmp/ut-demo-trace.json"
rm -rf "$tmp"
echo "[test] bench-report: tables from docs/measurements into a copy of docs/BENCHMARKS.md"
tmp_md=$(mktemp)
cp docs/BENCHMARKS.md "$tmp_md"
python3 scripts/bench-report.py --no-plots --out "$tmp_md" >/dev/null
rm -f "$tmp_md"

if [[ $TSAN == 1 ]]; then
  echo "[test] ThreadSanitizer build (build-tsan)"
  # The concurrency core: the timeline (CPU backend) and the engine (heartbeat, admission, HTTP server).
  # Tests that load the prebuilt DuckDB or llama.cpp libraries are left out here: those libraries are not
  # built with -fsanitize=thread, so TSan misreads their inlined mutexes and atomics (seen: "unlock of an
  # unlocked mutex" inside duckdb::StandardBufferManager). They run in the normal build.
  UT_BUILD_DIR=build-tsan UT_BUILD_TARGETS="ut_timeline_tests ut_engine_tests" \
    bash scripts/build.sh --no-setup -- -DUT_SANITIZE=thread -DCMAKE_BUILD_TYPE=RelWithDebInfo
  echo "[test] timeline and engine tests under ThreadSanitizer"
  supp=$(pwd)/scripts/tsan.supp
  (cd build-tsan && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$supp" \
    UT_STRESS_GRAPHS=1000 \
    ctest --output-on-failure -R '^(timeline\.|engine\.(Engine|Server))' -j1)
fi

echo "[test] all tests (build)"
cd build
# A test that skipped (no GPU, driver, Vulkan device or browser here) is listed as Skipped, then with its reason.
rc=0
ctest --output-on-failure -j "$(nproc)" --output-junit ctest-junit.xml || rc=$?
python3 ../tests/ctest_skips.py ctest-junit.xml || true
exit $rc
