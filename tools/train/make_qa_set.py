#!/usr/bin/env python3
"""Writes models/debian/qa-eval.jsonl: the fixed set of 50 held-out Debian questions with known answers that
`ut bench qa` asks the engine (retrieval over the documents below, then the decoder). The questions are about 50
test-split packages (never seen in training), none of them a query of retrieval-check.jsonl, phrased with the
question templates the decoder was trained on (make_examples.NEED_TEMPLATES, the bare description left out); the
documents are those 50 packages' and 950 other packages' from every split, as `ut ingest` stores a `<name>.txt`
file: title = the package name, text = the indexed document (name + long description).

    python3 tools/train/make_qa_set.py [--corpus data/corpus] [--out models/debian/qa-eval.jsonl]
"""
import argparse
import json

from make_examples import NEED_TEMPLATES, doc_text, read_splits

QUESTIONS = [t for t in NEED_TEMPLATES if t != "{short}"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="data/corpus")
    ap.add_argument("--check-set", default="models/debian/retrieval-check.jsonl")
    ap.add_argument("--out", default="models/debian/qa-eval.jsonl")
    a = ap.parse_args()
    splits = read_splits(a.corpus)
    with open(a.check_set, encoding="utf-8") as f:
        taken = {json.loads(line)["package"] for line in f if '"query"' in line}
    # Every 7th test package not used by the CI retrieval check, until 50 (spread over the alphabet).
    test = [r for r in splits["test"] if r["package"] not in taken and r["short"] and r["long"]]
    picked = test[3::7][:50]
    names = {r["package"] for r in picked}
    rest = [r for s in ("train", "val", "test") for r in splits[s] if r["package"] not in names]
    others = rest[5 :: len(rest) // 950][:950]
    with open(a.out, "w", encoding="utf-8") as f:
        for i, r in enumerate(picked):
            need = (r["short"][0].lower() + r["short"][1:]).rstrip(".")
            q = QUESTIONS[i % len(QUESTIONS)].format(need=need)
            f.write(json.dumps({"package": r["package"], "question": q, "doc": doc_text(r)}, ensure_ascii=False) + "\n")
        for r in others:
            f.write(json.dumps({"package": r["package"], "doc": doc_text(r)}, ensure_ascii=False) + "\n")
    print(f"{a.out}: {len(picked)} questions, {len(picked) + len(others)} documents")


if __name__ == "__main__":
    main()
