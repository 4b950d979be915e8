#!/usr/bin/env bash
# Rebuilds the project's trained models (models/debian/) — the steps that run here, on the CPU:
#   bash scripts/train-models.sh prepare        # apt lists -> data/corpus -> data/examples -> data/tokens
#   (on a GPU host: bash scripts/gpu/train.sh, with data/tokens; it writes out/train/)
#   bash scripts/train-models.sh import DIR     # DIR/{embedder,decoder}/weights-*.safetensors -> models/debian/*.gguf
#   bash scripts/train-models.sh finetune [MINUTES]   # here, on the CPU: the committed decoder, further trained on
#                                               # SQL-result chats (half) and package chats; then import-decoder
#   bash scripts/train-models.sh import-decoder DIR   # DIR/weights-*.safetensors -> the decoder's GGUF only
# Every step is deterministic given the apt lists (their sha256 are in data/corpus/manifest.json).
set -euo pipefail
cd "$(dirname "$0")/.."
UT=${UT:-build/apps/ut/ut}
step=${1:-}
case "$step" in
  prepare)
    python3 tools/train/build_corpus.py --out data/corpus
    python3 tools/train/make_examples.py --corpus data/corpus --out data/examples
    for s in train val test; do
      "$UT" models tokenize --vocab bert-bge --in data/examples/embed_$s.jsonl --field q --field d \
        --max-tokens 256 --out data/tokens/embed_$s
      "$UT" models tokenize --vocab llama-spm --in data/examples/lm_$s.jsonl --field text \
        --max-tokens 1023 --append-eos --out data/tokens/lm_$s
    done
    du -sh data/tokens ;;
  import)
    dir=${2:?usage: train-models.sh import DIR}
    mkdir -p models/debian
    "$UT" models import --spec debian-embedder --weights "$dir"/embedder/weights-*.safetensors \
      --out models/debian/debian-bert-bge-f16.gguf
    "$UT" models import --spec debian-decoder --weights "$dir"/decoder/weights-*.safetensors \
      --out models/debian/debian-llama-spm-f16.gguf
    for m in embedder decoder; do
      cp "$dir/$m/train-log.json" "models/debian/$m-train-log.json"
      cp "$dir/$m/reference.json" "models/debian/$m-reference.json"
    done ;;
  finetune)
    # PyTorch from Debian (python3-torch) computes its matrices through the system BLAS: OpenBLAS makes it ~30x
    # faster than the reference BLAS (2 cores: ~95 GFLOP/s, ~10 s a step of 4 x 1024 tokens).
    PY=/usr/bin/python3
    "$PY" -c 'import torch' 2>/dev/null || { echo "finetune: needs apt-get install python3-torch libopenblas0-pthread" >&2; exit 2; }
    # FT_SQL_SHARE / FT_BESIDE_SHARE: make_examples.py's --sql-share / --beside-share; FT_LR: the learning rate.
    python3 tools/train/make_examples.py --corpus data/corpus --out data/examples-ft --sql-share "${FT_SQL_SHARE:-1.0}" \
      --beside-share "${FT_BESIDE_SHARE:-0}"
    for s in train val; do
      "$UT" models tokenize --vocab llama-spm --in data/examples-ft/lm_$s.jsonl --field text \
        --max-tokens 1023 --append-eos --out data/tokens-ft/lm_$s
    done
    n=$(nproc)
    (cd tools/train && OPENBLAS_NUM_THREADS=$n "$PY" train_decoder.py --init ../../models/debian/debian-llama-spm-f16.gguf \
      --tokens ../../data/tokens-ft --out ../../out/train-ft/decoder --minutes "${2:-25}" --batch 4 --lr "${FT_LR:-2e-4}" \
      --warmup 10 --eval-every 40 --val-tokens 16384 --threads "$n") ;;
  import-decoder)
    dir=${2:?usage: train-models.sh import-decoder DIR}
    "$UT" models import --spec debian-decoder --weights "$dir"/weights-*.safetensors \
      --out models/debian/debian-llama-spm-f16.gguf
    cp "$dir/train-log.json" models/debian/decoder-finetune-log.json
    cp "$dir/reference.json" models/debian/decoder-reference.json
    # The texts of the reference rows (the fine-tuning validation chats), for the llama.cpp cross-check test.
    python3 tools/train/attach_texts.py - models/debian/decoder-reference.json --examples data/examples-ft ;;
  *) sed -n '2,9p' "$0"; exit 2 ;;
esac
