#!/usr/bin/env python3
"""Adds the source texts to the trainers' reference files (the GPU machine only sees token ids), so the
llama.cpp cross-check test can start from text: embedder rows are validation queries then documents,
decoder rows are validation chats (see reference() in train_embedder.py / train_decoder.py).

    python3 tools/train/attach_texts.py EMBEDDER_REF DECODER_REF [--examples data/examples]
    python3 tools/train/attach_texts.py - DECODER_REF --examples data/examples-ft   # a fine-tuned decoder only
"""
import argparse
import json


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("embedder_ref", help="the embedder's reference.json, or - for none")
    ap.add_argument("decoder_ref")
    ap.add_argument("--examples", default="data/examples")
    a = ap.parse_args()
    emb = []
    if a.embedder_ref != "-":
        with open(f"{a.examples}/embed_val.jsonl", encoding="utf-8") as f:
            emb = [json.loads(line) for line in f]
    with open(f"{a.examples}/lm_val.jsonl", encoding="utf-8") as f:
        lm = [json.loads(line) for line in f]
    if a.embedder_ref != "-":
        ref = json.load(open(a.embedder_ref))
        half = len(ref) // 2
        for i, r in enumerate(ref):
            r["text"] = emb[i]["q"] if i < half else emb[i - half]["d"]
        json.dump(ref, open(a.embedder_ref, "w"))
    ref = json.load(open(a.decoder_ref))
    for r in ref:
        r["text"] = lm[r["row"]]["text"]
    json.dump(ref, open(a.decoder_ref, "w"))


if __name__ == "__main__":
    main()
