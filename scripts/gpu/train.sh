#!/usr/bin/env bash
# Trains the project's two small models on a GPU host with PyTorch, from tokens made on the CPU machine:
#   CPU:  bash scripts/train-models.sh prepare          # corpus -> examples -> data/tokens (llama.cpp tokenizer)
#   GPU:  bash scripts/gpu/train.sh [embedder|decoder|both]   # needs data/tokens; results land in $OUT (out/train)
#   CPU:  bash scripts/train-models.sh import DIR       # safetensors -> GGUF in models/debian, checks
# The embedder is trained in EMBED_CONFIGS settings (each EMBED_MINUTES); the one with the best validation
# recall@10 is kept (its log lists all). The decoder trains DECODE_MINUTES. A few files result (runners that
# return at most 8 files from $OUT get them all).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-out/train}
what=${1:-both}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
TOK=${TOKENS:-data/tokens}
ls $TOK/embed_train.q.u16 $TOK/lm_train.text.u16 >/dev/null 2>&1 || [ -f $TOK/lm_train.text.u16 ] || [ -f $TOK/embed_train.q.u16 ] || { echo "data/tokens missing: run scripts/train-models.sh prepare and carry data/tokens" >&2; exit 2; }
cd tools/train
work=$(mktemp -d)
if [ "$what" != decoder ]; then
  IFS=';' read -ra configs <<<"${EMBED_CONFIGS:---batch 1024;--batch 4096 --lr 2e-3 --doc-dropout 0.1}"
  for i in "${!configs[@]}"; do
    echo "== embedder config $i: ${configs[$i]}"
    # shellcheck disable=SC2086
    python3 train_embedder.py --tokens ../../$TOK --out "$work/emb$i" --minutes "${EMBED_MINUTES:-2}" ${configs[$i]} \
      2>&1 | grep -E "epoch|exported|planning|parameters"
  done
  python3 - "$work" "$OUT/embedder" <<'PY'
import json, os, shutil, sys
work, dest = sys.argv[1], sys.argv[2]
runs = sorted(d for d in os.listdir(work) if d.startswith("emb"))
logs = {d: json.load(open(f"{work}/{d}/train-log.json")) for d in runs}
best = max(runs, key=lambda d: logs[d]["best"]["recall@10"])
for d in runs:
    print(d, logs[d]["settings"].get("batch"), logs[d]["settings"].get("doc_dropout"), logs[d]["best"], "<- kept" if d == best else "")
shutil.copytree(f"{work}/{best}", dest, dirs_exist_ok=True)
log = json.load(open(f"{dest}/train-log.json"))
log["sweep"] = [{"settings": logs[d]["settings"], "best": logs[d]["best"]} for d in runs]
json.dump(log, open(f"{dest}/train-log.json", "w"), indent=1)
PY
fi
if [ "$what" != embedder ]; then
  python3 train_decoder.py --tokens ../../$TOK --out "$OUT/decoder" --minutes "${DECODE_MINUTES:-4}"
fi
ls -la "$OUT"/*
