#!/usr/bin/env python3
"""Turns the corpus (build_corpus.py) into training examples for the two models.

    python3 tools/train/make_examples.py [--corpus data/corpus] [--out data/examples] [--seed 20261127]

embed_{split}.jsonl  {"package", "q": short description, "d": document}
    In the training split 30% of the queries are phrased as questions ("Which package provides ...?"), so
    chat questions retrieve as well as bare needs; validation and test queries stay the short descriptions.
    The document is what the retrieval index holds for a package: doc_text() below (name + long description).
    The short description never appears in it, so a query cannot be answered by copying.
lm_{split}.jsonl     {"package", "text": one chat in ChatML, the format the Generator falls back to}
    Half the chats carry a system message with retrieved context in the Assistant's own wording (the package
    itself and up to two others, shuffled, each as its indexed document: doc_text(), the long description
    clipped to 60 words), as `ut chat` and the demo send it; the rest have none. The user
    asks for a package by need or about a package by name; the answer is the package's description.
    The text ends at the answer: the tokenizer appends EOS, so the model learns to stop.
    SQL chats (--sql-share of each split's package count, after the package chats; 0.12 by default, 1.0 for the
    fine-tuning set of train_decoder.py --init): the context holds a stored SQL result in the
    engine's own wording (sql_result_doc(): the demo's prose line, then "SQL result for: ..." and one
    "column: value; ..." line per row, as Runtime::store_result writes it) first, before up to two package
    documents (the engine puts a stored result first: engine::choose_sources); the user
    asks which sections are largest or how many packages one section has; the answer reads the rows and cites
    the result. The tables are GROUP BYs over random samples of the split's packages, so the numbers vary and
    the model must copy them rather than remember them. With --beside-share, that share of the SQL chats instead
    asks for a package whose document sits beside a stored result (the engine adds a stored result found among
    the search's candidates to the context, so a package question may see one): the answer stays the package's.
"""
import argparse
import collections
import json
import os
import random

CONTEXT_HEADER = "Use the following context if it helps. Cite sources as [title#chunk].\n"
NEED_TEMPLATES = (
    "{short}",
    "Which package provides {need}?",
    "I am looking for {need}.",
    "Is there a Debian package for {need}?",
    "What should I install for {need}?",
)
NAME_TEMPLATES = ("What is {name}?", "Tell me about the package {name}.", "What does {name} do?")


def doc_text(row):
    """The text indexed for a package (shared with the retrieval benchmark and the demo)."""
    return f"{row['package']}\n{row['long']}"


def read_splits(corpus):
    """The corpus's train/val/test rows (build_corpus.py's output), by split name."""
    splits = {}
    for s in ("train", "val", "test"):
        with open(f"{corpus}/{s}.jsonl", encoding="utf-8") as f:
            splits[s] = [json.loads(line) for line in f]
    return splits


def chatml(messages):
    s = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return s + "<|im_start|>assistant\n"


def clip_words(text, n):
    words = text.split()
    return " ".join(words[:n]) + (" ..." if len(words) > n else "")


def answer(row):
    return f"{row['package']}: {row['short']}\n\n{row['long']}"


def lm_example(row, pool, rng):
    need = row["short"][0].lower() + row["short"][1:] if row["short"] else row["short"]
    if rng.random() < 0.75:
        question = rng.choice(NEED_TEMPLATES).format(short=row["short"], need=need.rstrip("."))
    else:
        question = rng.choice(NAME_TEMPLATES).format(name=row["package"])
    messages = []
    if rng.random() < 0.5:
        docs = [row] + rng.sample(pool, k=rng.randint(0, 2))
        rng.shuffle(docs)
        # Each entry as the Assistant sends a stored document's chunk: "[title#0] " + the indexed text.
        ctx = context(f"[{d['package']}#0] {d['package']}\n{clip_words(d['long'], 60)}" for d in docs)
        messages.append({"role": "system", "content": ctx})
    messages.append({"role": "user", "content": question})
    return chatml(messages) + answer(row)


SQL_SHARE = 0.12
SQL_TITLE = "sql: packages by section"
SECTIONS_SQL = ("SELECT section, count(*) AS packages, sum(installed_size_kib) AS installed_kib "
                "FROM debian_packages GROUP BY section ORDER BY packages DESC LIMIT {limit}")
MOST_TEMPLATES = (
    "Which Debian sections have the most packages?",
    "Which sections have the most packages?",
    "What are the largest Debian sections?",
    "Which section has the most packages?",
    "Which Debian section is the biggest?",
)
COUNT_TEMPLATES = ("How many packages are in the {section} section?", "How many {section} packages are there?")


def sql_result_doc(table, packages, installed_only, limit):
    """A stored SQL result as the engine writes it (SectionsReport::prose + result_text in engine/)."""
    head = "Debian sections with the most installed packages" if installed_only else "Debian sections with the most packages"
    prose = f"{head} on this machine ({packages} packages in all):" + ",".join(
        f" {sec} has {n} packages" for sec, n, _ in table) + "."
    rows = "".join(f"section: {sec}; packages: {n}; installed_kib: {kib}.\n" for sec, n, kib in table)
    return f"{prose}\n\nSQL result for: {SECTIONS_SQL.format(limit=limit)}\n\n{rows}"


def context(entries):
    """The system message the Assistant sends: the header, then one "[title#chunk] text" entry per line."""
    return CONTEXT_HEADER + "".join(x if x.endswith("\n") else x + "\n" for x in entries)


def sections_result(sections, rng):
    """A GROUP BY over a random sample of the split's packages as the engine stores it: (table, document text).
    sections: the split's package count per section; a sample's count per section is drawn around its expected
    share (a binomial's mean and spread), which costs nothing per package."""
    # Some of the big sections left out at random, so the largest section varies from table to table.
    big = ("libs", "libdevel", "python", "doc", "perl", "utils", "devel", "net")
    kept = {sec: n for sec, n in sections.items() if not (sec in big and rng.random() < 0.4)}
    frac = rng.uniform(0.05, 1.0)
    counts = {}
    for sec, n in kept.items():
        m = n * frac + rng.gauss(0, (n * frac * (1 - frac)) ** 0.5)
        if int(m) > 0:
            counts[sec] = min(n, int(m))
    if not counts:
        counts = {next(iter(kept or sections)): 1}
    limit = rng.randint(3, 10)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    table = [(sec, n, n * rng.randint(200, 9000)) for sec, n in ranked]
    return table, sql_result_doc(table, sum(counts.values()), rng.random() < 0.3, limit)


def sql_example(sections, rows, rng):
    """A chat over a stored SQL result (see the module's docstring)."""
    table, doc = sections_result(sections, rng)
    docs = [f"[{d['package']}#0] {d['package']}\n{clip_words(d['long'], 60)}" for d in rng.sample(rows, k=rng.randint(0, 2))]
    docs.insert(0, f"[{SQL_TITLE}#0] {doc}")  # a stored result goes first, as the engine puts it (choose_sources)
    ctx = context(docs)
    cite = f"[{SQL_TITLE}#0]"
    if rng.random() < 0.7 or len(table) < 2:
        question = rng.choice(MOST_TEMPLATES)
        (top, n, _), rest = table[0], table[1:3]
        ans = f"{top} has the most packages ({n})"
        if rest:
            ans += ", followed by " + " and ".join(f"{sec} ({m})" for sec, m, _ in rest)
        ans += f". {cite}"
    else:
        sec, n, kib = rng.choice(table)
        question = rng.choice(COUNT_TEMPLATES).format(section=sec)
        ans = f"The {sec} section has {n} packages ({kib} KiB installed). {cite}"
    return chatml([{"role": "system", "content": ctx}, {"role": "user", "content": question}]) + ans


def package_beside_result(row, sections, rng):
    """A package chat whose context also holds a stored SQL result (the engine adds a stored result found among
    the search's candidates to the context): the answer is the package's, the rows are not its business."""
    _, doc = sections_result(sections, rng)
    docs = [f"[{SQL_TITLE}#0] {doc}", f"[{row['package']}#0] {row['package']}\n{clip_words(row['long'], 60)}\n"]
    ctx = context(docs)
    need = row["short"][0].lower() + row["short"][1:] if row["short"] else row["short"]
    question = rng.choice(NEED_TEMPLATES).format(short=row["short"], need=need.rstrip("."))
    return chatml([{"role": "system", "content": ctx}, {"role": "user", "content": question}]) + answer(row)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="data/corpus")
    ap.add_argument("--out", default="data/examples")
    ap.add_argument("--seed", type=int, default=20261127)
    ap.add_argument("--sql-share", type=float, default=SQL_SHARE, help="SQL chats per package chat")
    ap.add_argument("--beside-share", type=float, default=0.0,
                    help="of the SQL chats, the share that asks for a package with a stored result beside it")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for split in ("train", "val", "test"):
        with open(os.path.join(args.corpus, f"{split}.jsonl"), encoding="utf-8") as f:
            rows = [json.loads(line) for line in f]
        rng = random.Random(f"{args.seed}-{split}")
        erng = random.Random(f"{args.seed}-{split}-embed")  # its own stream: the chats do not depend on it
        with open(os.path.join(args.out, f"embed_{split}.jsonl"), "w", encoding="utf-8") as f:
            for r in rows:
                q = r["short"]
                if split == "train" and erng.random() < 0.3:  # people ask questions, not only list needs
                    need = q[0].lower() + q[1:] if q else q
                    q = erng.choice(NEED_TEMPLATES[1:]).format(need=need.rstrip("."))
                f.write(json.dumps({"package": r["package"], "q": q, "d": doc_text(r)}, ensure_ascii=False) + "\n")
        with open(os.path.join(args.out, f"lm_{split}.jsonl"), "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps({"package": r["package"], "text": lm_example(r, rows, rng)}, ensure_ascii=False) + "\n")
            srng = random.Random(f"{args.seed}-{split}-sql")  # its own stream: the package chats stay as they were
            sections = collections.Counter(r["section"] for r in rows)
            for _ in range(int(args.sql_share * len(rows))):
                if args.beside_share > 0 and srng.random() < args.beside_share:
                    r = srng.choice(rows)
                    f.write(json.dumps({"package": r["package"], "text": package_beside_result(r, sections, srng)},
                                       ensure_ascii=False) + "\n")
                    continue
                f.write(json.dumps({"package": SQL_TITLE, "text": sql_example(sections, rows, srng)},
                                   ensure_ascii=False) + "\n")
        print(f"{split}: {len(rows)} packages")


if __name__ == "__main__":
    main()
