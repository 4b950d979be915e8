#!/usr/bin/env bash
# `ut demo` and `ut bench mixed` on the GPU machine with the ML lane on CUDA, over files staged by device-build.sh:
#   run(command="bash scripts/device-mixed.sh",
#       carry=[".device/ml/llama.tar.xz", ".device/ml/ut.xz", ".device/lib.tar.xz", ".device/commit", ".gl"],
#       timeout_s=590)
# (models/debian/*.gguf must stay behind: with them the carry passes 64 MiB.) The mixed benchmark runs on the
# real-size synthetic shapes (bge-small embedder, Qwen2.5-0.5B decoder; `ut models synth --real`); the demo on the
# test-size synthetic models, on this machine's apt package lists when it has any.
# Then, with the same carry, what needs `ut` and the CUDA ML lane together: `ut bench ml`, `ut ingest docs/`
# with the bge-small shape on the GPU, and `ut ui` on the engine's lanes drawn by the NVIDIA Vulkan driver.
# DEVICE_MIXED_EXTRAS=0 stops after the demo. After device-serve.sh, in one call (lib-serve.tar.xz serves both):
#   run(command="DEVICE_SERVE_DEMO=0 bash scripts/device-serve.sh; DEVICE_MIXED_EXTRAS=0 bash scripts/device-mixed.sh",
#       carry=[".device/ml/llama.tar.xz", ".device/ml/ut.xz", ".device/lib-serve.tar.xz",
#              ".device/llama-server.tar.xz", ".device/commit", ".gl"])
# Writes $OUT/mixed.log, mixed-gpu.json, mixed-gpu-16.json, mixed-gpu-quick.json, demo.log, ml.json, ui-engine-gpu.png.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/ut-device-mixed}
D=$(pwd)/.device
mkdir -p "$OUT" /tmp/ut-lib /tmp/ut-bin
# lib.tar.xz, or lib-serve.tar.xz (the same less llama.cpp's, which llama.tar.xz brings) when this runs after
# device-serve.sh in one call
if [[ -f $D/lib.tar.xz ]]; then tar -C /tmp/ut-lib -xJf "$D/lib.tar.xz"; else tar -C /tmp/ut-lib -xJf "$D/lib-serve.tar.xz"; fi
export LD_LIBRARY_PATH=/tmp/ut-lib
source scripts/device-env.sh
# ut links the Vulkan loader (the device README's .gl folder of Debian packages)
if compgen -G ".gl/*.deb" >/dev/null; then for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig; fi
xz -dc "$D/ml/ut.xz" > /tmp/ut-bin/ut && chmod +x /tmp/ut-bin/ut
export UT_TRAINED_MODELS_DIR=none UT_MODELS_DIR=/tmp/ut-models UT_ML_DEVICE=cuda
UT=/tmp/ut-bin/ut
REPO=$(pwd)
cd /tmp
{
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  echo "device-mixed of $(cat "$D/commit" 2>/dev/null) at $(date -u +%FT%TZ)"
  timeout 120 $UT models synth --real --out /tmp/ut-models
  M=/tmp/ut-models
  echo "== ut bench mixed (quick), CUDA backend + ML lane on CUDA"
  timeout 150 $UT bench mixed --quick --chat-model $M/qwen2.5-0.5b-shape-random-f16.gguf \
    --embed-model $M/bge-small-shape-random-f16.gguf --json "$OUT/mixed-gpu-quick.json"; echo "rc=$?"
  echo "== ut bench mixed (default size)"
  timeout 240 $UT bench mixed --chat-model $M/qwen2.5-0.5b-shape-random-f16.gguf \
    --embed-model $M/bge-small-shape-random-f16.gguf --json "$OUT/mixed-gpu.json"; echo "rc=$?"
  echo "== ut bench mixed (16 chats x 64 tokens: the chats decode together)"
  timeout 240 $UT bench mixed --chats 16 --tokens 64 --chat-model $M/qwen2.5-0.5b-shape-random-f16.gguf \
    --embed-model $M/bge-small-shape-random-f16.gguf --json "$OUT/mixed-gpu-16.json"; echo "rc=$?"
} 2>&1 | tee "$OUT/mixed.log"
{
  echo "== ut demo (test-size synthetic models; apt lists: $(ls /var/lib/apt/lists 2>/dev/null | grep -c _Packages) files)"
  (cd "$REPO" && timeout 150 $UT demo --max-tokens 48 --db /tmp/demo.duckdb --trace /tmp/demo-trace.json); echo "rc=$?"
} 2>&1 | tee "$OUT/demo.log"
[[ ${DEVICE_MIXED_EXTRAS:-1} == 1 ]] || exit 0  # 0: only the mixed benchmarks and the demo
{
  echo "== ut bench ml (CUDA)"
  timeout 120 $UT bench ml --models /tmp/ut-models --json "$OUT/ml.json"; echo "rc=$?"
  echo "== ut ingest docs/ (bge-small shape on the GPU)"
  rm -f /tmp/ingest.duckdb*
  timeout 120 $UT ingest --db /tmp/ingest.duckdb --embed-model /tmp/ut-models/bge-small-shape-random-f16.gguf \
    "$REPO/docs" "$REPO/README.md" 2>/dev/null | grep -v '^stored '; echo "rc=$?"
} 2>&1 | tee -a "$OUT/mixed.log"
{
  echo "== ut ui on the engine's lanes (NVIDIA Vulkan driver, headless)"
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  rm -f /tmp/ui.duckdb*
  (cd "$REPO" && timeout 120 $UT ui --headless --frames 900 --lanes engine --db /tmp/ui.duckdb \
    --screenshot "$OUT/ui-engine-gpu.png")
  echo "rc=$?"
} 2>&1 | tee -a "$OUT/mixed.log"
