#!/usr/bin/env bash
# `ut serve` against llama.cpp's own server on the same card, measured by the same client (`ut bench serve`):
# chat alone, chat under concurrent embedding load, embeddings alone, at GPU_BENCH_SERVE_CONCURRENCY concurrent
# chats. Same models (real-size synthetic shapes: Qwen2.5-0.5B F16 for chat, bge-small F16 for embeddings), same
# ggml kernels (the prebuilt CPU variants and the sm_90 CUDA backend of scripts/build-ggml-cuda.sh, loaded by both).
#   bash scripts/gpu/stage.sh; bash scripts/build-llama-server.sh; bash scripts/gpu/bench-serve.sh --stage
#   bash scripts/gpu/bench-serve.sh [OUT_DIR]     # on the GPU host; OUT_DIR: else $OUT, else /tmp/ut-gpu-bench
# --stage packs llama-server into .device/llama-server.tar.xz. Then `ut demo` (GPU_BENCH_SERVE_DEMO=0 skips it).
# Writes OUT_DIR/serve.log, serve-ut.json, serve-llama-server.json, demo.log and the servers' logs.
set -uo pipefail
[[ ${1:-} == --stage ]] || OUT_DIR=$(realpath -m "${1:-${OUT:-/tmp/ut-gpu-bench}}")  # before the cd
cd "$(dirname "$0")/../.."
if [[ ${1:-} == --stage ]]; then
  [[ -x .deps/llama-server/bin/llama-server ]] || { echo "run scripts/build-llama-server.sh first" >&2; exit 1; }
  tar -C .deps/llama-server -cJf "${GPU_STAGE:-.device}/llama-server.tar.xz" bin
  ls -la "${GPU_STAGE:-.device}/llama-server.tar.xz"
  exit 0
fi
mkdir -p "$OUT_DIR" /tmp/llama-server
source scripts/gpu/env.sh
tar -C /tmp/llama-server -xJf "$GPU_STAGE/llama-server.tar.xz"
# The peer loads its backends from its own folder: the same CPU variants and CUDA backend `ut` uses.
cp -n "$UT_LLAMA_LIB_DIR"/libggml-cpu-*.so "$UT_LLAMA_LIB_DIR"/libggml-cuda.so /tmp/llama-server/bin/
export UT_TRAINED_MODELS_DIR=none UT_MODELS_DIR=/tmp/ut-models UT_ML_DEVICE=cuda
M=/tmp/ut-models
CONC=${GPU_BENCH_SERVE_CONCURRENCY:-1,4,16}
CHATS=${GPU_BENCH_SERVE_CHATS:-16}
RATES=${GPU_BENCH_SERVE_RATES:-}  # e.g. 4,8,16,32: open-loop phases too (ut bench serve --rates)
wait_up() {  # url, seconds: the server answers (a readiness probe, not a test)
  for _ in $(seq 1 "$2"); do
    python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=2)" "$1" 2>/dev/null && return 0
    sleep 1
  done
  echo "server at $1 did not come up in $2 s"; return 1
}
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  echo "bench-serve of $COMMIT at $(date -u +%FT%TZ); $(nproc) cores"
  timeout 120 "$UT" models synth --real --out $M
  CHAT=$M/qwen2.5-0.5b-shape-random-f16.gguf EMB=$M/bge-small-shape-random-f16.gguf

  par=$(echo "$CONC" | tr ',' '\n' | sort -n | tail -1)  # both servers decode up to $par chats together
  echo "== ut serve (ML lane on CUDA, --parallel $par)"
  rm -f /tmp/serve.duckdb*
  "$UT" serve --port 8080 --db /tmp/serve.duckdb --chat-model $CHAT --embed-model $EMB --max-heavy-ops 64 \
    --parallel "$par" > "$OUT_DIR/ut-serve.log" 2>&1 &
  pid=$!
  if wait_up http://127.0.0.1:8080/v1/models 120; then
    timeout 240 "$UT" bench serve --label "ut serve" --chat-url http://127.0.0.1:8080 --concurrency "$CONC" \
      --chats "$CHATS" --rates "$RATES" --json "$OUT_DIR/serve-ut.json"; echo "rc=$?"
  fi
  kill $pid; wait $pid 2>/dev/null
  grep -E "tokens per decode step|tuning:" "$OUT_DIR/ut-serve.log"  # the step size it settled at, and why

  echo "== llama-server (two processes: chat with a unified KV cache, and embeddings; all layers on the GPU)"
  LS=/tmp/llama-server/bin
  LD_LIBRARY_PATH=$LS:$LD_LIBRARY_PATH $LS/llama-server -m $CHAT -ngl 99 --host 127.0.0.1 --port 8081 \
    --parallel "$par" --kv-unified -c $((par * 1024)) > "$OUT_DIR/llama-server-chat.log" 2>&1 &
  p1=$!
  LD_LIBRARY_PATH=$LS:$LD_LIBRARY_PATH $LS/llama-server -m $EMB -ngl 99 --host 127.0.0.1 --port 8082 \
    --embeddings --parallel 4 -c 2048 -b 2048 -ub 2048 > "$OUT_DIR/llama-server-embed.log" 2>&1 &
  p2=$!
  if wait_up http://127.0.0.1:8081/health 120 && wait_up http://127.0.0.1:8082/health 60; then
    timeout 240 "$UT" bench serve --label "llama-server" --chat-url http://127.0.0.1:8081 \
      --embed-url http://127.0.0.1:8082 --concurrency "$CONC" --chats "$CHATS" --rates "$RATES" \
      --json "$OUT_DIR/serve-llama-server.json"; echo "rc=$?"
  fi
  kill $p1 $p2; wait $p1 $p2 2>/dev/null
  grep -m3 -iE "CUDA|offloaded|error" "$OUT_DIR/llama-server-chat.log"
} 2>&1 | tee "$OUT_DIR/serve.log"
if [[ ${GPU_BENCH_SERVE_DEMO:-1} == 1 ]]; then  # `ut demo` (the KPI table) on the test-size models
  {
    echo "== ut demo (test-size synthetic models; apt lists: $(ls /var/lib/apt/lists 2>/dev/null | grep -c _Packages) files)"
    timeout 150 "$UT" demo --max-tokens 48 --db /tmp/demo.duckdb --trace /tmp/demo-trace.json; echo "rc=$?"
  } 2>&1 | tee "$OUT_DIR/demo.log"
fi
