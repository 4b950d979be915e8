#!/usr/bin/env bash
# Finds where the render tests stop on the NVIDIA Vulkan driver: runs each test of ut_render_tests alone with
# line-buffered output and the loader's warnings, and when one is still running after DIAG_WAIT seconds dumps every
# thread's user stack (gdb or eu-stack where the host has one) and kernel wait state (/proc) before killing it.
#   bash scripts/gpu/diag-render.sh BIN OUT_DIR        # BIN: a ut_render_tests binary
# DIAG_FILTER: an extended regex of the tests to run (all by default).
# Found this way: after a deliberate GPU fault (Xid 31) the driver completes no more frames
# (docs/measurements/gpu-render-hang-h100-2026-12-07.txt); the kernel log is printed for that reason.
# Sources scripts/gpu/env.sh for the libraries and the NVIDIA ICD (GPU_STAGE: the staged folder with lib.tar.xz).
set -uo pipefail
cd "$(dirname "$0")/../.."
bin=$1; out=${2:-/tmp/diag-render}; mkdir -p "$out"
WAIT=${DIAG_WAIT:-40}
source scripts/gpu/env.sh
icd=$(nvidia_vulkan_icd || true)
{
  nvidia-smi -L; echo "ICD: ${icd:-none}"; [[ -n $icd ]] && cat "$icd"
  echo "implicit layers:"; ls /usr/share/vulkan/implicit_layer.d /etc/vulkan/implicit_layer.d 2>/dev/null
  echo "DISPLAY=${DISPLAY-} WAYLAND_DISPLAY=${WAYLAND_DISPLAY-}"
  echo "debuggers: $(command -v gdb eu-stack pstack 2>/dev/null | tr '\n' ' ')"
  ldd "$bin" | grep -i 'not found' || echo "ldd: all libraries found"
  echo "kernel log (NVRM):"; dmesg 2>&1 | grep -i -E 'nvrm|xid' | tail -n 8
} > "$out/host.txt" 2>&1
dump() {  # dump PID FILE: the threads of a stuck process
  local pid=$1 f=$2
  local task
  for task in /proc/$pid/task/*; do
    echo "== thread $(basename "$task") $(cat "$task/comm") wchan=$(cat "$task/wchan" 2>/dev/null) syscall=$(cut -d' ' -f1 "$task/syscall" 2>/dev/null)"
    cat "$task/stack" 2>/dev/null | head -n 12
  done > "$f"
  if command -v gdb >/dev/null; then gdb -p "$pid" -batch -ex 'thread apply all bt 25' >> "$f" 2>&1
  elif command -v eu-stack >/dev/null; then eu-stack -p "$pid" >> "$f" 2>&1; fi
}
for t in $("$bin" --gtest_list_tests | awk '/^[^ ]/ {s=$1} /^  / {print s $1}' | grep -E -- "${DIAG_FILTER:-.}"); do
  name=${t//[^A-Za-z0-9_.]/_}
  start=$SECONDS
  env VK_DRIVER_FILES="$icd" VK_LOADER_DEBUG=error,warn UT_REQUIRE_UI=1 UT_BACKEND=vulkan \
    stdbuf -oL -eL "$bin" --gtest_filter="$t" > "$out/$name.log" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null && (( SECONDS - start < WAIT )); do sleep 1; done
  if kill -0 "$pid" 2>/dev/null; then
    # stdbuf runs the test as its child; the test itself is the newest process of that group
    tp=$(pgrep -n -f -- "--gtest_filter=$t" || echo "$pid")
    dump "$tp" "$out/$name.stack"; kill -9 "$pid" "$tp" 2>/dev/null; wait "$pid" 2>/dev/null
    echo "$t: STUCK after ${WAIT}s (stacks in $name.stack)" | tee -a "$out/summary.txt"
  else
    wait "$pid"; echo "$t: rc=$? in $((SECONDS - start))s" | tee -a "$out/summary.txt"
  fi
done
