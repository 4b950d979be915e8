#!/usr/bin/env python3
"""Writes models/debian/retrieval-check.jsonl: the small, committed retrieval set the CI test runs through
llama.cpp (tests/ml/trained_models_test.cpp). 40 held-out (test split) packages are the queries (their short
descriptions); the index holds their documents and 960 other packages' documents spread over all splits.

    python3 tools/train/make_check_set.py [--corpus data/corpus] [--out models/debian/retrieval-check.jsonl]
"""
import argparse
import json

from make_examples import doc_text, read_splits


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="data/corpus")
    ap.add_argument("--out", default="models/debian/retrieval-check.jsonl")
    a = ap.parse_args()
    splits = read_splits(a.corpus)
    test = splits["test"]
    queries = test[:: len(test) // 40][:40]
    names = {q["package"] for q in queries}
    rest = [r for s in ("train", "val", "test") for r in splits[s] if r["package"] not in names]
    others = rest[:: len(rest) // 960][:960]
    with open(a.out, "w", encoding="utf-8") as f:
        for r in queries:
            f.write(json.dumps({"package": r["package"], "query": r["short"], "doc": doc_text(r)}, ensure_ascii=False) + "\n")
        for r in others:
            f.write(json.dumps({"package": r["package"], "doc": doc_text(r)}, ensure_ascii=False) + "\n")
    print(f"{a.out}: {len(queries)} queries, {len(queries) + len(others)} documents")


if __name__ == "__main__":
    main()
