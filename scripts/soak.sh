#!/usr/bin/env bash
# Soak test: `ut serve` under chats, embeddings, SQL, document edits and hostile requests at once for DURATION
# seconds; once a minute the server's RSS, fds, threads, frame figures and replies by class (scripts/soak.py).
#   bash scripts/soak.sh 3600 [OUT.json]     # one hour; OUT defaults to soak-<date>.json
# Uses the build in build/ (bash scripts/build.sh first). Extra `ut serve` options: UT_SOAK_SERVE_ARGS.
# Exit status: 0 when every goal was met (RSS growth < 1% after warm-up, no fd/thread growth, no frame over 33 ms,
# zero 5xx, no dropped well-formed request), else 1.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DURATION=${1:?usage: scripts/soak.sh DURATION_S [OUT.json]}
OUT=$(realpath -m "${2:-soak-$(date -u +%Y%m%d-%H%M).json}")
UT=${UT:-$(pwd)/build/apps/ut/ut}
[[ -x $UT ]] || { echo "soak: $UT not built (bash scripts/build.sh)" >&2; exit 2; }
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# shellcheck disable=SC2086
(cd "$dir" && exec "$UT" serve --port "$port" --db "$dir/soak.duckdb" ${UT_SOAK_SERVE_ARGS:-}) > "$dir/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 300); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  kill -0 $pid 2>/dev/null || { cat "$dir/serve.log" >&2; exit 2; }
  sleep 0.5
done
machine="$(lscpu | sed -n 's/^Model name: *//p' | head -n1), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB"
rc=0
python3 scripts/soak.py --url "http://127.0.0.1:$port" --pid $pid --duration "$DURATION" --json "$OUT" \
  --machine "$machine" --commit "$(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo -dirty)" \
  --device "$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n1)" || rc=$?
grep -ciE 'error|exception' "$dir/serve.log" | sed 's/^/soak: server log lines with error or exception: /'
exit $rc
