#!/usr/bin/env bash
# The GPU check: every test suite on CUDA, then compute-sanitizer, over what scripts/gpu/stage.sh staged.
#   bash scripts/gpu/stage.sh                # where nvcc is
#   bash scripts/gpu/check.sh [OUT_DIR]      # on a Linux host with an NVIDIA driver, from the repository root
# OUT_DIR: the argument, else $OUT, else /tmp/ut-gpu-check. Every step runs with UT_REQUIRE_GPU=1 (the render and
# Vulkan steps also with UT_REQUIRE_UI=1): a test that would skip for want of a GPU, a driver or a Vulkan device fails instead,
# so a host whose driver probe is broken cannot pass. A step that runs no test fails too (a filter that matches
# nothing is a mistake, not a pass).
# Writes to OUT_DIR:
#   gpu-check-<card>-<commit>.txt  the summary, tagged with the staged commit: one line per step (passed or why
#                                  not, tests passed/failed/skipped, seconds), every failed or skipped test with
#                                  its message, the CPU-vs-CUDA parity figures. Committed as the record:
#                                  docs/measurements/gpu-check-<card>-<commit>.txt (README, "Tests").
#   xml/<step>.xml                 GoogleTest's XML report of each step
#   check.log, env.log             every step's whole output; the host, its driver and what was staged
# Exit status: 0 when every step passed, else 1.
# Settings:
#   GPU_CHECK_SUITES="timeline backends data vector ml engine render vulkan sanitizer faults"  the suites to run, in this
#                    order (default: all, in this order);
#                    a chosen suite whose binaries were not staged fails; the summary names the ones not chosen.
#   GPU_CHECK_BUDGET=N  seconds for all steps (default: none); a step that would not fit is NOT RUN (a failure).
# Remote runners with limits (e.g. 10 minutes a command, 8 files back): set GPU_CHECK_BUDGET a little under the
# command's limit, split the suites over calls with GPU_CHECK_SUITES, and pack OUT_DIR into one archive.
set -uo pipefail
OUT_DIR=$(realpath -m "${1:-${OUT:-/tmp/ut-gpu-check}}")  # before the cd: a relative argument is the caller's
cd "$(dirname "$0")/../.."
mkdir -p "$OUT_DIR/xml"
source scripts/gpu/env.sh
export UT_REQUIRE_GPU=1
SUITES=" ${GPU_CHECK_SUITES:-timeline backends data vector ml engine render vulkan sanitizer faults} "
BUDGET=${GPU_CHECK_BUDGET:-0}
LOG=$OUT_DIR/check.log
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
SUMMARY=$WORK/summary
DETAILS=$WORK/details
: > "$LOG"
failed=0
failed_steps=0
steps=0
STEP_OUT=/dev/null

card_name=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n1)
driver=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -n1)
card=$(echo "${card_name:-unknown}" | sed 's/^NVIDIA //' | tr 'A-Z ' 'a-z-' | tr -cd 'a-z0-9-')
note() { echo "$*" | tee -a "$SUMMARY"; }
fail_note() { note "$*"; failed=1; failed_steps=$((failed_steps + 1)); steps=$((steps + 1)); }
chosen() { [[ $SUITES == *" $1 "* ]]; }
have() { [[ -x $BIN/$1 ]]; }

# Counts and messages of a step's XML report: prints "tests passed failed skipped"; appends the failed and skipped
# tests to $DETAILS, those with the same message together ("FAILED|SKIPPED step: N tests: message (names)").
xml_counts() {
  python3 - "$1" "$2" "$DETAILS" <<'PY'
import sys, xml.etree.ElementTree as ET
from collections import OrderedDict
path, step, details = sys.argv[1:4]
try:
    root = ET.parse(path).getroot()
except Exception:
    print("0 0 0 0"); sys.exit(0)
n = p = f = s = 0
groups = OrderedDict()  # (kind, message) -> test names
for tc in root.iter("testcase"):
    if tc.get("status") == "notrun":
        continue
    n += 1
    name = f'{tc.get("classname")}.{tc.get("name")}'
    fails = tc.findall("failure") + tc.findall("error")
    if fails:
        f += 1
        lines = [l.strip() for l in (fails[0].get("message") or "").strip().splitlines() if l.strip()]
        # gtest's message starts with file:line; the text after it says what went wrong
        msg = " | ".join(lines[1:3] if len(lines) > 1 else lines)
        groups.setdefault(("FAILED ", msg), []).append(name)
    elif tc.get("result") == "skipped" or tc.find("skipped") is not None:
        s += 1
        sk = tc.find("skipped")
        lines = ((sk.get("message") if sk is not None else "") or "").strip().splitlines()
        groups.setdefault(("SKIPPED", lines[-1].strip() if lines else ""), []).append(name)
    else:
        p += 1
print(n, p, f, s)
with open(details, "a") as d:
    for (kind, msg), names in groups.items():
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        count = f"{len(names)} tests" if len(names) > 1 else names[0]
        line = f"  {kind} {step}: {count}: {msg}" + (f" ({shown})" if len(names) > 1 else "")
        d.write(line[:400] + "\n")
PY
}

# step NAME TIMEOUT_S [--no-xml] CMD...: runs CMD (a GoogleTest binary, or one wrapped by compute-sanitizer) with a
# time limit, writes xml/NAME.xml, appends the output to check.log and one line to the summary.
step() {
  local name=$1 limit=$2 xml=1
  shift 2
  if [[ $1 == --no-xml ]]; then xml=0; shift; fi
  steps=$((steps + 1))
  STEP_OUT=/dev/null
  if (( BUDGET > 0 )); then
    local left=$((BUDGET - SECONDS - 5))
    if (( left < 20 )); then fail_note "$(printf '%-46s %s' "$name" "NOT RUN (time budget spent)")"; return; fi
    (( limit > left )) && limit=$left
  fi
  local report=$OUT_DIR/xml/$name.xml args=()
  rm -f "$report"
  (( xml )) && args=(--gtest_output="xml:$report")
  local out=$WORK/$name.out
  echo "=== $name: $* ${args[*]}" >> "$LOG"
  local t0=$SECONDS
  timeout --kill-after=10 "$limit" "$@" "${args[@]}" > "$out" 2>&1
  local rc=$?
  cat "$out" >> "$LOG"
  STEP_OUT=$out  # for checks a caller adds after the step
  local verdict=passed counts="" n=1 p=0 f=0 s=0
  if (( xml )) && [[ -n $PY ]]; then
    read -r n p f s < <(xml_counts "$report" "$name")
    counts="$p/$f/$s"
  fi
  if (( rc == 124 || rc == 137 )); then verdict="TIMEOUT after ${limit}s"
  elif (( rc != 0 )); then verdict="FAILED (rc=$rc)"
  elif (( n == 0 )); then verdict="FAILED (no test ran)"
  fi
  [[ $verdict == passed ]] || { failed=1; failed_steps=$((failed_steps + 1)); }
  note "$(printf '%-46s %-22s %-10s %5ds' "$name" "$verdict" "$counts" $((SECONDS - t0)))"
  # A step that failed without a failed test in its report (a sanitizer finding, a crash, a timeout, a program
  # without a report): the lines of its output that say why.
  if [[ $verdict != passed && $f == 0 ]]; then
    { grep -E 'ERROR SUMMARY|========= [A-Z]|FAILED|[Ee]rror|Segmentation|Aborted' "$out" || tail -n 3 "$out"; } |
      head -n 6 | sed "s/^/  $name: /" | cut -c1-300 >> "$DETAILS"
  fi
}

missing() {  # a chosen suite without its binaries
  fail_note "$(printf '%-46s %s' "$1" "FAILED (not staged: $2)")"
}

note "gpu-check of $COMMIT on $(hostname) at $(date -u +%FT%TZ)"
if [[ -n $card_name ]]; then
  note "card: $card_name, driver $driver; $(nproc) cores"
else
  fail_note "card: nvidia-smi found no GPU"
fi
[[ $COMMIT == *-dirty ]] && note "the staged tree had uncommitted changes (env.log lists them)"
note "suites: ${SUITES# }"
PY=$(command -v python3 || true)
[[ -n $PY ]] || note "python3 not found: no test counts (the XML reports are written all the same)"
note "$(printf '%-46s %-22s %-10s %6s' step result 'pass/fail/skip' time)"
{
  nvidia-smi
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem,compute_mode --format=csv
  uname -a; head -2 /etc/os-release
  echo "staged: $COMMIT"; cat "$GPU_STAGE/worktree-status" 2>/dev/null
  ls -la "$GPU_STAGE" "$BIN"
  echo "compute-sanitizer: ${SAN:-not found}"
  echo "NVIDIA Vulkan ICD: $(nvidia_vulkan_icd || echo none)"
} > "$OUT_DIR/env.log" 2>&1

# The same filters as the ctest entries of tests/*/CMakeLists.txt. Validation is CPU-backend only; the kernel-fault
# test poisons the process's CUDA context for good, so it runs in a process of its own.
FAULT='*FailureFlowsToDependentBuffersOnOtherQueues*'
TIMELINE="-RingBuffer*:TraceUnit*:Validation*:$FAULT"
ORACLE='DataOracle.*:DataPlanner.QueryLane*'
VECTOR='Dims/DeviceExactIndexDims.*:DeviceExactIndex.*'

suite_timeline() {
  if have ut_timeline_tests; then
    step timeline.cuda 300 env UT_BACKEND=cuda "$BIN/ut_timeline_tests" --gtest_filter="$TIMELINE"
    step timeline.cuda.kernel-events 300 env UT_BACKEND=cuda UT_CUDA_KERNEL_EVENTS=1 "$BIN/ut_timeline_tests" \
      --gtest_filter="$TIMELINE"
  else missing timeline ut_timeline_tests; fi
}
suite_backends() {
  if have ut_backend_tests; then step backends.cuda 300 "$BIN/ut_backend_tests" --gtest_filter='-CudaFault.*'
    # Every launch synchronous: an encode that blocks in the driver must never hold up the thread that publishes
    # the failure or completion releasing it (this once deadlocked: parked buffers resumed on the completion thread).
    step backends.cuda.launch-blocking 300 env CUDA_LAUNCH_BLOCKING=1 "$BIN/ut_backend_tests" \
      --gtest_filter='-CudaFault.*'
  else missing backends ut_backend_tests; fi
}
suite_faults() {
  # The deliberate GPU faults (an illegal-address kernel each, in a process of its own), last: after such a fault
  # (Xid 31 in the kernel log) the NVIDIA Vulkan driver (580.159.04, H100) completed no further graphics work on
  # that GPU in any process — every render test hung in its first frame — while CUDA work went on
  # (docs/measurements/gpu-render-hang-h100-2026-12-07.txt).
  if have ut_timeline_tests && have ut_backend_tests; then
    step timeline.cuda.fault 120 env UT_BACKEND=cuda "$BIN/ut_timeline_tests" --gtest_filter="$FAULT"
    step backends.cuda.fault 120 "$BIN/ut_backend_tests" --gtest_filter='CudaFault.*'
  else missing faults "ut_timeline_tests, ut_backend_tests"; fi
}
suite_data() {
  if have ut_data_tests && have ut_data_cuda_check; then
    step data.cuda_oracle 300 env UT_BACKEND=cuda "$BIN/ut_data_tests" --gtest_filter="$ORACLE"
    step data.cuda_kernels 300 --no-xml "$BIN/ut_data_cuda_check"
  else missing data "ut_data_tests, ut_data_cuda_check"; fi
}
suite_vector() {
  if have ut_vector_tests; then
    step vector.device.cuda 300 env UT_BACKEND=cuda "$BIN/ut_vector_tests" --gtest_filter="$VECTOR"
  else missing vector ut_vector_tests; fi
}
suite_ml() {
  # Every ML test with the models on the GPU, the CPU-vs-CUDA parity tests among them.
  if have ut_ml_tests && [[ -n ${UT_LLAMA_CUDA_DIR:-} ]]; then
    step ml.cuda 600 env UT_BACKEND=cuda UT_ML_DEVICE=cuda "$BIN/ut_ml_tests"
    grep -E '^\[ gpu-parity \]' "$STEP_OUT" | sed 's/^/  /' >> "$DETAILS"
  else missing ml "ut_ml_tests, llama.tar.xz"; fi
}
suite_engine() {
  if have ut_engine_tests; then
    # The ML lane on the GPU where ggml's CUDA backend was staged; otherwise on the CPU, said in the summary.
    if [[ -f ${UT_LLAMA_CUDA_DIR:-/nonexistent}/libggml-cuda.so ]]; then
      step engine.cuda 600 env UT_BACKEND=cuda UT_ML_DEVICE=cuda "$BIN/ut_engine_tests"
    else
      note "  engine: no ggml CUDA backend staged: the engine's ML lane runs on the CPU in this step"
      step engine.cuda.ml-on-cpu 600 env UT_BACKEND=cuda UT_ML_DEVICE=cpu "$BIN/ut_engine_tests"
    fi
  else missing engine ut_engine_tests; fi
}
suite_render() {
  # The render tests on the NVIDIA Vulkan driver only (VK_DRIVER_FILES: no fallback to another driver). The window
  # test needs a display and the bad-environment test its own driver list: both run in ctest on the CPU machine.
  icd=$(nvidia_vulkan_icd || true)
  if ! have ut_render_tests; then missing render ut_render_tests
  elif [[ -z $icd ]]; then fail_note "$(printf '%-46s %s' render.nvidia "FAILED (no NVIDIA Vulkan ICD found)")"
  else
    step render.nvidia 300 env -C "$GPU_WORK" VK_DRIVER_FILES="$icd" UT_REQUIRE_UI=1 "$BIN/ut_render_tests" \
      --gtest_filter='-RendererWindow.*:RendererBadEnvironment.*'
    vk=$(grep -m1 '^device: ' "$STEP_OUT")
    if [[ $vk != *NVIDIA* ]]; then fail_note "  render.nvidia: the renderer's device is not NVIDIA's: ${vk:-none printed}"
    else note "  render.nvidia: $vk"; fi
  fi
}
suite_vulkan() {
  # The timeline suites and the Vulkan backend's own tests on the Vulkan backend, NVIDIA's driver only. The
  # validation-layer case needs VK_LAYER_KHRONOS_validation, which this host need not have: ctest runs it on CI.
  icd=$(nvidia_vulkan_icd || true)
  if ! have ut_timeline_tests || ! have ut_vulkan_backend_tests; then missing vulkan "ut_timeline_tests, ut_vulkan_backend_tests"
  elif [[ -z $icd ]]; then fail_note "$(printf '%-46s %s' vulkan "FAILED (no NVIDIA Vulkan ICD found)")"
  else
    step timeline.vulkan.nvidia 300 env VK_DRIVER_FILES="$icd" UT_REQUIRE_UI=1 UT_BACKEND=vulkan \
      "$BIN/ut_timeline_tests" --gtest_filter='-RingBuffer*:TraceUnit*:Validation*'
    step backends.vulkan.nvidia 300 env VK_DRIVER_FILES="$icd" UT_REQUIRE_UI=1 "$BIN/ut_vulkan_backend_tests" \
      --gtest_filter='-VulkanApiLayer.*:Interop.*'
    # Vulkan and CUDA on this one GPU: shared timeline semaphores and memory (backends/interop).
    step interop.nvidia 300 env VK_DRIVER_FILES="$icd" UT_REQUIRE_GPU=1 "$BIN/ut_vulkan_backend_tests" \
      --gtest_filter='Interop.*'
  fi
}
suite_sanitizer() {
  if [[ -z $SAN ]]; then fail_note "$(printf '%-46s %s' sanitizer "FAILED (compute-sanitizer not found)")"
  elif ! have ut_backend_tests || ! have ut_timeline_tests; then missing sanitizer "ut_backend_tests, ut_timeline_tests"
  else
    # The deliberate faults stay out. This test once hung under memcheck (a deadlock that blocking launches expose,
    # fixed: see backends.cuda.launch-blocking): alone, short limit.
    HANG='*HostTaskFailureSuppressesLaterGpuSignalsAcrossStreams*'
    step sanitizer.memcheck.hang-suspect 60 "$SAN" --tool memcheck --error-exitcode 97 "$BIN/ut_backend_tests" \
      --gtest_filter="$HANG"
    # The same test with the kernel fallback instead of stream memory operations: if it passes there, the sanitizer
    # (not the backend) let the relay's host function run before its cuStreamWaitValue64 was satisfied.
    step sanitizer.memcheck.hang-suspect.kernel-events 60 env UT_CUDA_KERNEL_EVENTS=1 "$SAN" --tool memcheck \
      --error-exitcode 97 "$BIN/ut_backend_tests" --gtest_filter="$HANG"
    for tool in memcheck racecheck synccheck; do
      step "sanitizer.$tool.backends" 300 "$SAN" --tool "$tool" --error-exitcode 97 "$BIN/ut_backend_tests" \
        --gtest_filter="-*Fault*:$HANG"
      step "sanitizer.$tool.timeline" 300 env UT_BACKEND=cuda UT_STRESS_GRAPHS=50 "$SAN" --tool "$tool" \
        --error-exitcode 97 "$BIN/ut_timeline_tests" --gtest_filter="$TIMELINE"
    done
    have ut_data_tests && step sanitizer.memcheck.data 300 env UT_BACKEND=cuda "$SAN" --tool memcheck \
      --error-exitcode 97 "$BIN/ut_data_tests" --gtest_filter="$ORACLE"
    have ut_vector_tests && step sanitizer.memcheck.vector 300 env UT_BACKEND=cuda "$SAN" --tool memcheck \
      --error-exitcode 97 "$BIN/ut_vector_tests" --gtest_filter="$VECTOR"
    # ggml's kernels: API errors are not reported, because ggml tries cudaGraphExecUpdate on every new batch shape
    # and re-instantiates the graph when the update is refused (cudaErrorGraphExecUpdateFailure, by design).
    if have ut_ml_tests && [[ -n ${UT_LLAMA_CUDA_DIR:-} ]]; then
      step sanitizer.memcheck.ml 300 env UT_ML_DEVICE=cuda "$SAN" --tool memcheck --report-api-errors no \
        --error-exitcode 97 "$BIN/ut_ml_tests" --gtest_filter='GpuParity.Tiny*:BatchedGenerator*'
    fi
  fi
}
# The chosen suites, in the order GPU_CHECK_SUITES names them (put first what must run within a time budget).
for s in $SUITES; do
  if declare -F "suite_$s" >/dev/null; then "suite_$s"; else fail_note "$(printf '%-46s %s' "$s" "FAILED (no such suite)")"; fi
done
for s in timeline backends data vector ml engine render vulkan sanitizer faults; do
  chosen "$s" || note "  not chosen here: $s (GPU_CHECK_SUITES)"
done

{
  echo
  if [[ -s $DETAILS ]]; then echo "failed and skipped tests, parity figures, sanitizer reports:"; cat "$DETAILS"; fi
  echo "gpu-check: $([[ $failed == 0 ]] && echo PASSED || echo FAILED) ($failed_steps of $steps checks failed) in ${SECONDS}s"
} | tee -a "$SUMMARY"
record=$OUT_DIR/gpu-check-$card-$COMMIT.txt
cp "$SUMMARY" "$record"
echo "record: $record"
exit $failed
