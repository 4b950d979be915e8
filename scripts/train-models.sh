#!/usr/bin/env bash
# Rebuilds the project's trained models (models/debian/) — the steps that run here, on the CPU:
#   bash scripts/train-models.sh prepare        # apt lists -> data/corpus -> data/examples -> data/tokens
#   (on a GPU host: bash scripts/gpu/train.sh, with data/tokens; it writes out/train/)
#   bash scripts/train-models.sh import DIR     # DIR/{embedder,decoder}/weights-*.safetensors -> models/debian/*.gguf
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
  *) sed -n '2,6p' "$0"; exit 2 ;;
esac
