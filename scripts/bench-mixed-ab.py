#!/usr/bin/env python3
"""A/B of `ut bench mixed` under two values of one environment variable, runs interleaved (A, B, A, B, ...) so
that drift in the machine's load falls on both sides alike. Prints, per side and metric, the median over every
sample of every run, and the speed-up per round; saves each run's JSON into --out.

  python3 scripts/bench-mixed-ab.py --var UT_GGML_THREADPOOL --a 1 --b 0 --runs 6 --out /tmp/ab -- --rounds 5
"""
import argparse
import json
import os
import statistics as st
import subprocess
import sys

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("--ut", default=os.path.join(os.path.dirname(__file__), "..", "build", "apps", "ut", "ut"))
p.add_argument("--var", required=True, help="environment variable to vary")
p.add_argument("--a", required=True, help="its value on side A")
p.add_argument("--b", required=True, help="its value on side B")
p.add_argument("--runs", type=int, default=6, help="runs per side (default 6)")
p.add_argument("--out", default="bench-mixed-ab", help="folder for the runs' JSON")
p.add_argument("args", nargs="*", help="arguments after -- go to `ut bench mixed`")
a = p.parse_args()
os.makedirs(a.out, exist_ok=True)
sides = {a.a: {}, a.b: {}}
speedups = {a.a: [], a.b: []}
commits = set()
for i in range(a.runs):
    for value in (a.a, a.b):
        path = os.path.join(a.out, f"mixed-{a.var}={value}-{i + 1}.json")
        env = dict(os.environ, **{a.var: value})
        r = subprocess.run([a.ut, "bench", "mixed", "--json", path, *a.args], env=env, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"ut bench mixed failed ({a.var}={value}):\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
        d = json.load(open(path))
        commits.add(f"{d['commit']}{' (dirty)' if d.get('dirty') else ''}")
        for s in d["samples"]:
            sides[value].setdefault((s["side"], s["metric"]), []).extend(s["values"])
        wall = {s["side"]: s["values"] for s in d["samples"] if s["metric"] == "wall_ms"}
        speedups[value] += [q / o for o, q in zip(wall["ours"], wall["sequential"])]
        print(f"run {i + 1}/{a.runs} {a.var}={value}: done", file=sys.stderr)

print(f"ut bench mixed {' '.join(a.args)}; {a.runs} runs per side, interleaved; commit {', '.join(sorted(commits))}")
print(f"{'side / metric':44s} {a.var + '=' + a.a:>22s} {a.var + '=' + a.b:>22s}   (median of all samples)")
for k in sorted(set(sides[a.a]) & set(sides[a.b])):
    x, y = sides[a.a][k], sides[a.b][k]
    print(f"{k[0] + ' ' + k[1]:44s} {st.median(x):22.2f} {st.median(y):22.2f}   n={len(x)},{len(y)}")
for value in (a.a, a.b):
    sp = speedups[value]
    print(f"{a.var}={value}: speed-up per round median {st.median(sp):.2f}x, min {min(sp):.2f}x, "
          f"rounds under 1.2x: {sum(x < 1.2 for x in sp)} of {len(sp)}")
