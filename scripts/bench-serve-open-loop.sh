#!/usr/bin/env bash
# Open-loop serving load on this machine's CPU: `ut serve` and llama.cpp's own server (scripts/build-llama-server.sh)
# on the same model file, with the same ggml CPU kernels (the prebuilt variants both load), measured by the same
# client: `ut bench serve --rates` (Poisson arrivals per rate; TTFT, inter-token time, throughput, and the first
# rate whose TTFT p99 passes 200 ms). Chat only: no embedding load, no documents (no retrieval on either side).
#   bash scripts/bench-serve-open-loop.sh [OUT_DIR]      # default docs/measurements
# Settings (environment): RATES (2,4,8,16), CHATS per rate (60), PROMPT_WORDS (100), MAX_TOKENS (32),
# PARALLEL (8: decode slots of both servers), MODEL (the engine's Q8_0 decoder, made from models/debian by ut).
# Both servers get every core of the machine for their threads; each runs alone while it is measured.
set -uo pipefail
OUT_DIR=$(realpath -m "${1:-docs/measurements}")
mkdir -p "$OUT_DIR"
cd "$(dirname "$0")/.."
UT=${UT:-build/apps/ut/ut}
RATES=${RATES:-2,4,8,16} CHATS=${CHATS:-60} WORDS=${PROMPT_WORDS:-100} TOKENS=${MAX_TOKENS:-32} PAR=${PARALLEL:-8}
[[ -x $UT ]] || { echo "bench-serve-open-loop: $UT not built (scripts/build.sh)" >&2; exit 1; }
[[ -x .deps/llama-server/bin/llama-server ]] || { echo "bench-serve-open-loop: run scripts/build-llama-server.sh first" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
# The decoder as the engine runs it: models/debian's F16 file quantized to Q8_0 into the cache by `ut` on first use.
MODEL=${MODEL:-${XDG_CACHE_HOME:-$HOME/.cache}/unified-timeline/debian-llama-spm-q8_0.gguf}
[[ -f $MODEL ]] || { echo "bench-serve-open-loop: no model at $MODEL (run ut demo once, or set MODEL)" >&2; exit 1; }
commit=$(git rev-parse --short HEAD)
cores=$(nproc)
wait_up() {  # url, seconds: the server answers (a readiness probe)
  for _ in $(seq 1 "$2"); do
    python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=2)" "$1" 2>/dev/null && return 0
    sleep 1
  done
  echo "server at $1 did not come up in $2 s"; return 1
}
load() {  # label url json
  "$UT" bench serve --label "$1" --chat-url "$2" --no-closed-loop --embed-clients 0 --rates "$RATES" \
    --chats "$CHATS" --prompt-words "$WORDS" --max-tokens "$TOKENS" --json "$3"
}
echo "open-loop serving on the CPU, $commit, $cores cores; model $MODEL; rates $RATES, $CHATS chats each,"
echo "$WORDS-word prompts, $TOKENS tokens (ignore_eos), $PAR decode slots on both servers"

echo "== ut serve --parallel $PAR --max-heavy-ops 64"
"$UT" serve --port 18080 --db "$tmp/serve.duckdb" --chat-model "$MODEL" --parallel "$PAR" --max-heavy-ops 64 \
  > "$tmp/ut-serve.log" 2>&1 &
pid=$!
wait_up http://127.0.0.1:18080/v1/models 120 && load "ut serve" http://127.0.0.1:18080 "$OUT_DIR/serve-open-loop-ut-cpu-${cores}core-$commit.json"
kill $pid; wait $pid 2>/dev/null

echo "== llama-server --parallel $PAR --kv-unified -c $((PAR * 1024)) -t $cores (its CPU kernels: the same prebuilt variants)"
mkdir -p "$tmp/bin"
cp -a .deps/llama-server/bin/. "$tmp/bin/"
cp .deps/llama/lib/libggml-cpu-*.so "$tmp/bin/"
LD_LIBRARY_PATH=$tmp/bin "$tmp/bin/llama-server" -m "$MODEL" --host 127.0.0.1 --port 18081 -t "$cores" \
  --parallel "$PAR" --kv-unified -c $((PAR * 1024)) > "$tmp/llama-server.log" 2>&1 &
pid=$!
wait_up http://127.0.0.1:18081/health 120 && load "llama-server" http://127.0.0.1:18081 "$OUT_DIR/serve-open-loop-llama-server-cpu-${cores}core-$commit.json"
kill $pid; wait $pid 2>/dev/null
grep -m2 -iE "system_info|n_threads" "$tmp/llama-server.log"
