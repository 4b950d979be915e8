#!/usr/bin/env bash
# Trains the project's two small models on the GPU machine (PyTorch there), from tokens made here:
#   here:   bash scripts/train-models.sh prepare          # corpus -> examples -> data/tokens (llama.cpp tokenizer)
#   device: bash scripts/device-train.sh                  # carry data/tokens; results land in $OUT
#   here:   bash scripts/train-models.sh import DIR       # safetensors -> GGUF in models/debian, Q8_0, evaluation
# Budgets (minutes of training each): EMBED_MINUTES (2.5), DECODE_MINUTES (4).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/train}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' | tee -a "$OUT/gpu.txt"
test -f data/tokens/embed_train.q.u16 || { echo "data/tokens missing: run scripts/train-models.sh prepare and carry data/tokens" >&2; exit 2; }
cd tools/train
python3 train_embedder.py --tokens ../../data/tokens --out "$OUT/embedder" --minutes "${EMBED_MINUTES:-2.5}" 2>&1 | tee "$OUT/embedder.log"
python3 train_decoder.py --tokens ../../data/tokens --out "$OUT/decoder" --minutes "${DECODE_MINUTES:-4}" 2>&1 | tee "$OUT/decoder.log"
ls -la "$OUT" "$OUT/embedder" "$OUT/decoder"
