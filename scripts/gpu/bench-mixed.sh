#!/usr/bin/env bash
# `ut bench mixed` and `ut demo` on the GPU host with the ML lane on CUDA, over what scripts/gpu/stage.sh staged
# (bin-ut.tar.xz, lib.tar.xz, llama.tar.xz):
#   bash scripts/gpu/bench-mixed.sh [OUT_DIR]      # OUT_DIR: else $OUT, else /tmp/ut-gpu-bench
# The mixed benchmark runs on the real-size synthetic shapes (bge-small embedder, Qwen2.5-0.5B decoder;
# `ut models synth --real`): quick, default, and 16 chats decoded together; the demo on the test-size synthetic
# models, on this host's apt package lists when it has any. Then `ut bench ml`, `ut ingest docs/` with the
# bge-small shape on the GPU, and `ut ui` on the engine's lanes drawn by the NVIDIA Vulkan driver
# (GPU_BENCH_MIXED_EXTRAS=0 stops after the demo).
# Writes OUT_DIR/mixed.log, mixed-gpu.json, mixed-gpu-16.json, mixed-gpu-quick.json, demo.log, ml.json,
# ui-engine-gpu.png.
set -uo pipefail
OUT_DIR=$(realpath -m "${1:-${OUT:-/tmp/ut-gpu-bench}}")
cd "$(dirname "$0")/../.."
mkdir -p "$OUT_DIR"
source scripts/gpu/env.sh
export UT_TRAINED_MODELS_DIR=none UT_MODELS_DIR=/tmp/ut-models UT_ML_DEVICE=cuda
REPO=$(pwd)
M=/tmp/ut-models
cd /tmp
{
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  echo "bench-mixed of $COMMIT at $(date -u +%FT%TZ)"
  timeout 120 "$UT" models synth --real --out $M
  echo "== ut bench mixed (quick), CUDA backend + ML lane on CUDA"
  timeout 150 "$UT" bench mixed --quick --chat-model $M/qwen2.5-0.5b-shape-random-f16.gguf \
    --embed-model $M/bge-small-shape-random-f16.gguf --json "$OUT_DIR/mixed-gpu-quick.json"; echo "rc=$?"
  echo "== ut bench mixed (default size)"
  timeout 240 "$UT" bench mixed --chat-model $M/qwen2.5-0.5b-shape-random-f16.gguf \
    --embed-model $M/bge-small-shape-random-f16.gguf --json "$OUT_DIR/mixed-gpu.json"; echo "rc=$?"
  echo "== ut bench mixed (16 chats x 64 tokens: the chats decode together)"
  timeout 240 "$UT" bench mixed --chats 16 --tokens 64 --chat-model $M/qwen2.5-0.5b-shape-random-f16.gguf \
    --embed-model $M/bge-small-shape-random-f16.gguf --json "$OUT_DIR/mixed-gpu-16.json"; echo "rc=$?"
} 2>&1 | tee "$OUT_DIR/mixed.log"
{
  echo "== ut demo (test-size synthetic models; apt lists: $(ls /var/lib/apt/lists 2>/dev/null | grep -c _Packages) files)"
  (cd "$REPO" && timeout 150 "$UT" demo --max-tokens 48 --db /tmp/demo.duckdb --trace /tmp/demo-trace.json); echo "rc=$?"
} 2>&1 | tee "$OUT_DIR/demo.log"
[[ ${GPU_BENCH_MIXED_EXTRAS:-1} == 1 ]] || exit 0
{
  echo "== ut bench ml (CUDA)"
  timeout 120 "$UT" bench ml --models $M --json "$OUT_DIR/ml.json"; echo "rc=$?"
  echo "== ut ingest docs/ (bge-small shape on the GPU)"
  rm -f /tmp/ingest.duckdb*
  timeout 120 "$UT" ingest --db /tmp/ingest.duckdb --embed-model $M/bge-small-shape-random-f16.gguf \
    "$REPO/docs" "$REPO/README.md" 2>/dev/null | grep -v '^stored '; echo "rc=$?"
} 2>&1 | tee -a "$OUT_DIR/mixed.log"
{
  echo "== ut ui on the engine's lanes (NVIDIA Vulkan driver, headless)"
  icd=$(nvidia_vulkan_icd) || echo "no NVIDIA Vulkan ICD found"
  rm -f /tmp/ui.duckdb*
  (cd "$REPO" && VK_DRIVER_FILES=$icd timeout 120 "$UT" ui --headless --frames 900 --lanes engine --db /tmp/ui.duckdb \
    --screenshot "$OUT_DIR/ui-engine-gpu.png")
  echo "rc=$?"
} 2>&1 | tee -a "$OUT_DIR/mixed.log"
