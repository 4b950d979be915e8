#!/usr/bin/env python3
"""Builds the Debian package-description corpus the project's small models are trained on.

    python3 tools/train/build_corpus.py                 # apt-get update into a private folder, then build
    python3 tools/train/build_corpus.py --lists DIR     # build from apt list files already in DIR
    python3 tools/train/build_corpus.py --out data/corpus

Input: apt's Packages (name, section) and Translation-en (short and long descriptions) lists of Debian 12
"bookworm" main (+ updates, security). apt-get update runs with its own Dir::State::Lists so the system's
lists are left alone.

Output (OUT/): train.jsonl, val.jsonl, test.jsonl — one package a line:
    {"package": ..., "section": ..., "short": ..., "long": ...}
and manifest.json with the input files' sha256, the counts and each output's sha256.

Cleaning, in this order (each step's count goes to the manifest):
  - the long description is unwrapped: Debian's " ." paragraph lines become blank lines, line breaks inside a
    paragraph become spaces;
  - dropped: packages with no long description, transitional / dummy packages (their text says so), and
    debug-symbol packages;
  - deduplicated: of packages whose (short, long) text is identical, the first by name is kept.
Split by package name (sha256 of the name, so a package always lands in the same split): 90% train,
5% validation, 5% test. The same list files give byte-identical output.
"""
import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile

DEFAULT_SUITES = ("bookworm", "bookworm-updates", "bookworm-security")
DROP_PATTERNS = re.compile(r"\b(transitional (dummy )?package|dummy transitional|dummy package)\b", re.I)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_list(path):
    """apt list files may be stored lz4-, xz-, gz-compressed or plain."""
    if path.endswith(".lz4"):
        return subprocess.run(["lz4cat", path], check=True, capture_output=True).stdout.decode("utf-8", "replace")
    if path.endswith(".xz"):
        import lzma
        return lzma.open(path, "rt", encoding="utf-8", errors="replace").read()
    if path.endswith(".gz"):
        import gzip
        return gzip.open(path, "rt", encoding="utf-8", errors="replace").read()
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def stanzas(text):
    """Yields dicts of a deb822 file; continuation lines stay attached (with their leading space)."""
    cur, key = {}, None
    for line in text.split("\n"):
        if not line.strip():
            if cur:
                yield cur
            cur, key = {}, None
        elif line[0] in " \t" and key:
            cur[key] += "\n" + line
        else:
            key, _, value = line.partition(":")
            cur[key] = value.strip()
    if cur:
        yield cur


def unwrap_long(lines):
    paragraphs, cur = [], []
    for raw in lines:
        line = raw[1:] if raw.startswith(" ") else raw
        if line.strip() == ".":
            if cur:
                paragraphs.append(" ".join(cur))
            cur = []
        else:
            cur.append(line.strip())
    if cur:
        paragraphs.append(" ".join(cur))
    return "\n\n".join(p for p in paragraphs if p)


def fetch_lists(dest):
    os.makedirs(os.path.join(dest, "partial"), exist_ok=True)
    cmd = ["apt-get", "-q", "-o", f"Dir::State::Lists={dest}", "-o", "Acquire::Languages=en", "update"]
    print("+", " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True, stdout=sys.stderr)


def find(dest, suite, kind):
    pat = re.compile(rf"_dists_{re.escape(suite)}_main_{kind}(\.lz4|\.xz|\.gz)?$")
    hits = sorted(f for f in os.listdir(dest) if pat.search(f))
    return os.path.join(dest, hits[0]) if hits else None


def split_of(name):
    b = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) % 100
    return "train" if b < 90 else ("val" if b < 95 else "test")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lists", help="folder with apt list files (default: run apt-get update into a temp folder)")
    ap.add_argument("--out", default="data/corpus", help="output folder (default: %(default)s)")
    args = ap.parse_args()

    lists = args.lists
    if not lists:
        lists = os.path.join(tempfile.gettempdir(), "ut-apt-lists")
        fetch_lists(lists)

    sections, descs, inputs = {}, {}, {}
    for suite in DEFAULT_SUITES:
        pk = find(lists, suite, "binary-amd64_Packages")
        tr = find(lists, suite, "i18n_Translation-en")
        if not tr:
            if suite == "bookworm":
                sys.exit(f"build_corpus: no Translation-en list for {suite} in {lists} "
                         "(apt-get update with -o Acquire::Languages=en)")
            continue
        for path in (pk, tr):
            if path:
                inputs[os.path.basename(path)] = sha256_file(path)
        if pk:
            for s in stanzas(read_list(pk)):
                if "Package" in s:
                    sections[s["Package"]] = s.get("Section", "")
        for s in stanzas(read_list(tr)):  # later suites (updates, security) override the release's text
            if "Package" in s and "Description-en" in s:
                first, *rest = s["Description-en"].split("\n")
                descs[s["Package"]] = (first.strip(), unwrap_long(rest))

    counts = {"packages_with_description": len(descs)}
    rows, seen = [], set()
    dropped = {"no_long_description": 0, "transitional_or_dummy": 0, "debug_symbols": 0, "duplicate_text": 0}
    for name in sorted(descs):
        short, long = descs[name]
        if not long:
            dropped["no_long_description"] += 1
            continue
        if DROP_PATTERNS.search(short) or DROP_PATTERNS.search(long):
            dropped["transitional_or_dummy"] += 1
            continue
        if name.endswith("-dbg") or name.endswith("-dbgsym"):
            dropped["debug_symbols"] += 1
            continue
        key = (short, long)
        if key in seen:
            dropped["duplicate_text"] += 1
            continue
        seen.add(key)
        rows.append({"package": name, "section": sections.get(name, ""), "short": short, "long": long})
    counts["dropped"] = dropped

    os.makedirs(args.out, exist_ok=True)
    outputs = {}
    for split in ("train", "val", "test"):
        path = os.path.join(args.out, f"{split}.jsonl")
        n = 0
        with open(path, "w", encoding="utf-8") as f:
            for r in rows:
                if split_of(r["package"]) == split:
                    f.write(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n")
                    n += 1
        counts[split] = n
        outputs[f"{split}.jsonl"] = sha256_file(path)
    manifest = {"inputs": inputs, "counts": counts, "outputs": outputs,
                "split": "sha256(package name) mod 100: <90 train, <95 val, else test"}
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.write("\n")
    print(json.dumps(counts, indent=2))


if __name__ == "__main__":
    main()
