#!/usr/bin/env bash
# Set everything up, build, and run every test: the normal build (with the CUDA backend wherever nvcc
# exists; GPU tests skip with a printed reason when no GPU is present, and ctest lists them as Skipped;
# UT_REQUIRE_GPU=1 / UT_REQUIRE_UI=1 make such skips failures), then the timeline and engine-core tests (no
# DuckDB or llama.cpp) again under ThreadSanitizer, with --asan every test binary under AddressSanitizer +
# UndefinedBehaviorSanitizer (the fuzz corpora replayed too), then smoke runs of `ut demo` and
# `ut bench timeline --quick`, and the benchmark tables of docs/BENCHMARKS.md regenerated from
# docs/measurements into a copy (no plots, no matplotlib). With --peers, llama.cpp's own server is built (once, ~20
# minutes on 2 cores without a compiler cache: too long for every CI run) for the test of `ut serve --chat-url`
# against it.
#   scripts/test.sh                  # everything but the ASan+UBSan build
#   scripts/test.sh --asan           # and every test under ASan+UBSan too (UT_TEST_ASAN=1 does the same)
#   scripts/test.sh --no-tsan        # skip the ThreadSanitizer build
#   scripts/test.sh --peers          # build llama.cpp's own server first and require the --chat-url test against it
#                                    # (UT_TEST_PEERS=1 the same; without it that test runs only where it is built)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The ASan+UBSan step is opt-in until a whole run of it has passed on the CI machine (its build alone is a third
# full build of the project; docs/measurements/asan-2026-12-07.txt says what ran and what is left).
TSAN=1 ASAN=${UT_TEST_ASAN:-0} PEERS=${UT_TEST_PEERS:-0}
for a in "$@"; do
  case "$a" in
    --no-tsan) TSAN=0 ;;
    --asan) ASAN=1 ;;
    --peers) PEERS=1 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "[test] unknown argument: $a" >&2; exit 2 ;;
  esac
done

bash scripts/build.sh
echo "[test] smoke: ut demo, ut bench timeline --quick, ut bench mixed --quick, ut bench gpu-timeline --quick"
tmp=$(mktemp -d)
(cd "$tmp" && UT_MODELS_DIR="$OLDPWD/models/synth" "$OLDPWD/build/apps/ut/ut" demo --max-tokens 16 >/dev/null \
  && "$OLDPWD/build/apps/ut/ut" bench timeline --quick >/dev/null \
  && UT_MODELS_DIR="$OLDPWD/models/synth" "$OLDPWD/build/apps/ut/ut" bench mixed --quick >/dev/null \
  && UT_MODELS_DIR="$OLDPWD/models/synth" "$OLDPWD/build/apps/ut/ut" bench gpu-timeline --quick --allow-cpu-lanes \
       --reserve-sms 0 --json gt.json >/dev/null)
# The one-timeline record names every field the GPU run is judged by (here a CPU smoke: lanes on the CPU).
python3 - "$tmp/gt.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
need = ["reserved_sms", "frames_total", "frames_over_16_6ms", "frame_interval_ms_p99", "frame_gpu_ms_p50_idle",
        "frame_gpu_ms_p99_idle", "frame_gpu_ms_p99_loaded", "decode_tok_s_alone", "decode_tok_s_loaded"]
run = d["config"]["runs"][0]
missing = [k for k in need if k not in run]
assert not missing and d["commit"] and d["device"], missing
assert run["frames_total"] == 120 and run["decode_tok_s_alone"] > 0, run
PY
python3 -c "import json,sys; t=json.load(open(sys.argv[1])); assert len(t['traceEvents']) > 100" "$tmp/ut-demo-trace.json"
rm -rf "$tmp"
echo "[test] bench-report: tables from docs/measurements into a copy of docs/BENCHMARKS.md"
tmp_md=$(mktemp)
cp docs/BENCHMARKS.md "$tmp_md"
python3 scripts/bench-report.py --no-plots --out "$tmp_md" >/dev/null
rm -f "$tmp_md"

if [[ $TSAN == 1 ]]; then
  echo "[test] ThreadSanitizer build (build-tsan)"
  # The concurrency core: the timeline (CPU backend), the engine (heartbeat, admission, HTTP server, remote
  # generation against a scripted server) and the engine's controllers without models (Governor, StepTuner's
  # policy cases). Tests that load the prebuilt DuckDB
  # or llama.cpp libraries are left out here: those libraries are not built with -fsanitize=thread, so TSan
  # misreads their inlined mutexes and atomics (seen: "unlock of an unlocked mutex" inside
  # duckdb::StandardBufferManager). They run in the normal build and under ASan+UBSan below.
  UT_BUILD_DIR=build-tsan UT_BUILD_TARGETS="ut_timeline_tests ut_engine_tests" \
    bash scripts/build.sh --no-setup -- -DUT_SANITIZE=thread -DCMAKE_BUILD_TYPE=RelWithDebInfo
  echo "[test] timeline and engine tests under ThreadSanitizer"
  supp=$(pwd)/scripts/tsan.supp
  tsan_tests='^(timeline\.|engine\.(Engine|Server|Governor|RemoteChatUnit)|engine\.StepTuner\.(Halves|ConfirmOver|StepsOfAnyKind))'
  (cd build-tsan && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$supp" \
    UT_STRESS_GRAPHS=1000 \
    ctest --output-on-failure -R "$tsan_tests" -j1)
fi

if [[ $ASAN == 1 ]]; then
  echo "[test] AddressSanitizer + UBSan build (build-asan): every test binary"
  # Every test binary, `ut` (the app tests run it) and the fuzz targets' corpus replay, with the prebuilt DuckDB
  # and llama.cpp libraries as they are (ASan needs no instrumented libraries). No CUDA here: the GPU tests run
  # under compute-sanitizer on the GPU machine (scripts/gpu/check.sh).
  UT_BUILD_DIR=build-asan bash scripts/build.sh --no-setup -- -DUT_SANITIZE=address,undefined -DUT_CUDA=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo
  echo "[test] all tests under AddressSanitizer + UBSan"
  # Leak reports from inside the prebuilt DuckDB and llama.cpp libraries are suppressed (scripts/lsan.supp says
  # why); every other ASan, LSan or UBSan report fails the test. Vulkan drivers are the exception LSan cannot
  # name: lavapipe leaks 128 bytes that LSan only finds after the Vulkan loader has unloaded the driver (at
  # vkDestroyInstance), as "<unknown module>", which no suppression matches. So every other entry runs with no
  # Vulkan driver (VK_ICD_FILENAMES names none; those tests use the CPU backend) and leak checking on, and the
  # entries that need a Vulkan device run with their driver and leak checking off (ASan and UBSan still on).
  lsan_supp=$(pwd)/scripts/lsan.supp
  vulkan_entries='^(render\.|timeline\.vulkan|backends\.vulkan|apps\.UiEngine\.)'
  (cd build-asan && export LSAN_OPTIONS="suppressions=$lsan_supp print_suppressions=0" \
      UBSAN_OPTIONS="halt_on_error=1 print_stacktrace=1" &&
    VK_ICD_FILENAMES=/nonexistent/none.json ASAN_OPTIONS="halt_on_error=1 detect_leaks=1" \
      ctest --output-on-failure -j "$(nproc)" -E "$vulkan_entries" &&
    ASAN_OPTIONS="halt_on_error=1 detect_leaks=0" ctest --output-on-failure -j "$(nproc)" -R "$vulkan_entries")
fi

if [[ $PEERS == 1 ]]; then
  echo "[test] llama.cpp's own server (scripts/build-llama-server.sh): the peer of ut serve --chat-url"
  bash scripts/build-llama-server.sh
  export UT_REQUIRE_PEERS=1  # apps.remote_chat_llama_server fails instead of skipping without it
fi

echo "[test] all tests (build)"
cd build
# A test that skipped (no GPU, driver, Vulkan device or browser here) is listed as Skipped, then with its reason.
rc=0
ctest --output-on-failure -j "$(nproc)" --output-junit ctest-junit.xml || rc=$?
python3 ../tests/ctest_skips.py ctest-junit.xml || true
exit $rc
