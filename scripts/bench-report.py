#!/usr/bin/env python3
"""Tables and plots from benchmark files in the ut-bench/1 schema (docs/measurements/SCHEMA.md).

Markdown files carry generated regions between markers; everything outside them is left alone:

  <!-- generated: headline -->     ... <!-- end generated -->   every goal of every file (newest run per KPI)
  <!-- generated: suite NAME -->   ... <!-- end generated -->   the newest runs of a suite, and its plot
  <!-- generated: files -->        ... <!-- end generated -->   an index of every measurement file

Every number in a region is read from a JSON file and names its file. Same inputs give the same markdown.
Standard library only; matplotlib is imported only when PNGs are written (not with --no-plots or --check).
"""

import argparse
import difflib
import json
import math
import os
import re
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEMA = "ut-bench/1"
BEGIN = re.compile(r"<!-- generated: ([a-z]+)(?: ([a-z0-9-]+))? -->")
END = "<!-- end generated -->"
SUITES = ["timeline", "data", "vector", "ml", "mixed", "ui", "models", "serve"]


# ---------------------------------------------------------------------------------------------------
# Reading

class Run:
    def __init__(self, path, doc):
        self.path, self.doc, self.name = path, doc, os.path.basename(path)
        self.suite = doc["suite"]
        self.rows = {(r["case"], r["side"], r["metric"]): r for r in summary_rows(doc)}
        self.card = (doc.get("device") or {}).get("name") or "not recorded"
        self.commit = (doc.get("commit") or "")[:7] or "?"
        self.date = doc.get("date") or ""
        self.cases = list(dict.fromkeys(r["case"] for r in summary_rows(doc)))
        self.sides = list(dict.fromkeys(r["side"] for r in summary_rows(doc)))


def summary_rows(doc):
    """The file's summary rows; rows missing from it are computed from the samples' values."""
    rows = list(doc.get("summary") or [])
    have = {(r["case"], r["side"], r["metric"]) for r in rows}
    for s in doc.get("samples") or []:
        if (s["case"], s["side"], s["metric"]) in have or not s.get("values"):
            continue
        v = sorted(s["values"])
        n = len(v)
        mid = (v[(n - 1) // 2] + v[n // 2]) / 2
        rows.append({"case": s["case"], "side": s["side"], "metric": s["metric"], "unit": s.get("unit", ""),
                     "n": n, "median": mid, "min": v[0], "max": v[-1],
                     "p99": v[max(0, math.ceil(0.99 * n) - 1)] if n >= 200 else None})
    return rows


def load(meas_dir, problems):
    runs = []
    for n in sorted(os.listdir(meas_dir)):
        p = os.path.join(meas_dir, n)
        if not n.endswith(".json") or not os.path.isfile(p):
            continue
        try:
            with open(p, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            problems.append("%s: not readable as JSON (%s)" % (n, str(e).splitlines()[0]))
            continue
        missing = [k for k in ("schema", "suite", "commit", "device", "samples") if k not in doc]
        if doc.get("schema") != SCHEMA or missing:
            problems.append("%s: not in the %s schema (missing: %s)" % (n, SCHEMA, ", ".join(missing) or "schema"))
            continue
        runs.append(Run(p, doc))
    return runs


# ---------------------------------------------------------------------------------------------------
# Numbers

def lower_better(metric):
    return (metric.endswith(("_ms", "_us", "_ns", "_s")) and not metric.endswith("_per_s")) or \
        any(w in metric for w in ("late", "over_", "perplexity"))


def figure(row):
    """(value, label) of a summary row: the median, else the best of repetitions, else the mean."""
    if row is None:
        return None, ""
    if row.get("median") is not None:
        return row["median"], ""
    best = row.get("min") if lower_better(row["metric"]) else row.get("max")
    if best is not None:
        return best, "best"
    return row.get("mean"), "mean" if row.get("mean") is not None else ""


def num(v):
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return "{:,}".format(v)
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 100:
        return "{:,.0f}".format(v)
    if a >= 10:
        return "%.1f" % v
    if a >= 1:
        return "%.2f" % v
    return "%.3g" % v


UNITS = {"1/s": "/s", "ratio": "", "us": " µs", "ms": " ms", "s": " s", "%": "%", "ppl": "", "frames": "",
         "fps": " fps", "Hz": " Hz", "B/s": " B/s", "GB/s": " GB/s", "tokens": " tokens", "tokens/s": " tokens/s"}


def with_unit(v, unit, label=""):
    if v is None:
        return "–"
    s = num(v) + UNITS.get(unit, " " + unit if unit else "")
    return s + (" (%s)" % label if label else "")


def better(a, b, metric):
    """How many times a is better than b (above 1: a ahead)."""
    if a is None or b is None or a == 0 or b == 0:
        return None
    return b / a if lower_better(metric) else a / b


def times(x):
    return "–" if x is None else ("%.2f×" % x if x < 10 else "%.1f×" % x)


def goal_text(goal):
    """'>= 20000 1/s' -> '≥ 20,000/s'."""
    goal = re.sub(r"\d{4,}", lambda m: "{:,}".format(int(m.group(0))), goal.replace(" 1/s", "/s"))
    return goal.replace("<=", "≤").replace(">=", "≥").replace("x ", "× ")


def verdict(g, unit):
    """'met' or 'missed' with the size of the miss, from the goal string."""
    v, p, goal = g.get("value"), g.get("peer_value"), g.get("goal", "")
    if g.get("met"):
        out = "**met**" + (", not like for like" if g.get("caveat") else "")
    else:
        out = "**missed**"
        m = re.match(r"^(<=|>=|<|>)\s*([0-9.]+)\s*(x?)\s*(faster than)?", goal)
        if m and v is not None:
            op, thr, rel, faster = m.group(1), float(m.group(2)), m.group(3), m.group(4)
            if faster and p:
                out += ": %s faster, %s short of %s" % (times(better(v, p, g["metric"])),
                                                       times(thr - better(v, p, g["metric"])), times(thr))
            elif rel and p:
                out += ": %s the peer, goal %s" % (times(v / p), times(thr))
            elif not rel:
                gap = float("%.3g" % abs(float("%.3g" % v) - thr))
                side = "short" if op.startswith(">") else "over"
                pct = " (%.0f%% %s)" % (100 * abs(v - thr) / thr, side) if thr else ""
                out += " by %s%s" % (with_unit(gap, unit), pct)
        elif goal.startswith("<") and p is not None:
            out += ": the peer is %s ahead" % times(better(p, v, g["metric"]))
    if g.get("detail"):
        out += "; " + g["detail"]
    return out


# ---------------------------------------------------------------------------------------------------
# Tables

def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return out + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]


def headline(runs, link):
    """One row per (KPI, card): the goals of the newest run that checks it (all files of that run)."""
    groups = {}
    for r in runs:
        for g in r.doc.get("goals") or []:
            groups.setdefault((g["kpi"], r.card), []).append((r, g))
    order = {s: i for i, s in enumerate(SUITES)}
    rows, notes = [], []

    def rank(k):  # suite order, cards before CPU machines, then the goals' order in their files
        r0 = groups[k][0][0]
        cpu = (r0.doc.get("device") or {}).get("backend") == "cpu"
        return (order.get(r0.suite, 99), cpu, min(i for r, _ in groups[k] for i, g in enumerate(r.doc["goals"])
                                                   if g["kpi"] == k[0]), k)
    for key in sorted(groups, key=rank):
        newest = max(r.date for r, _ in groups[key])
        for r, g in sorted(groups[key], key=lambda x: x[0].name):
            if r.date != newest:
                continue
            row = r.rows.get((g["case"], "ours", g["metric"]))
            # A count of samples (frames over a budget, say) has no unit, whatever its samples are measured in.
            unit = "" if g.get("statistic") == "count" else (row["unit"] if row else "")
            label = g.get("statistic") or figure(row)[1]
            mark = ""
            if g.get("caveat"):
                if g["caveat"] not in notes:
                    notes.append(g["caveat"])
                mark = " [%d]" % (notes.index(g["caveat"]) + 1)
            peer = "–"
            if g.get("peer"):
                pm = g.get("peer_metric", g["metric"])
                prow = r.rows.get((g["case"], g["peer"], pm))
                plabel = figure(prow)[1] if prow else ""
                peer = "%s %s" % (g["peer"], with_unit(g.get("peer_value"), unit, plabel))
            files = "[%s](%s)" % (r.name, link(r.path))
            if g.get("peer_file"):
                files += ", [%s](%s)" % (g["peer_file"], link(os.path.join(os.path.dirname(r.path), g["peer_file"])))
            rows.append([g["kpi"], goal_text(g["goal"]), verdict(g, unit) + mark, peer,
                         with_unit(g.get("value"), unit, label),
                         times(better(g.get("value"), g.get("peer_value"), g["metric"])) if g.get("peer") else "–",
                         r.card, "`%s`" % r.commit, files])
    out = table(["KPI", "goal", "result", "peer", "ours", "ratio", "card", "commit", "file"], rows)
    out += ["", "_ratio: how many times ours is ahead of the peer (the peer's time ÷ ours, or our rate ÷ the "
                "peer's); below 1 the peer is ahead. \"best\": the file kept only the best of its repetitions, "
                "not a median._"]
    if notes:
        out += [""] + ["[%d] Not like for like: %s." % (i + 1, n) for i, n in enumerate(notes)]
    return out


# A suite's view: which newest runs to show (SELECT: the part of the configuration that makes runs different
# experiments), the table (mode "cases": a table per run, a row per case; mode "runs": a row per run) and the
# plot. A column is (label, side, metric or [metrics], case pattern) or (label, "vs", column a, column b).
def cfg(*path):
    def get(r):
        v = r.doc.get("config") or {}
        for p in path:
            v = v.get(p) if isinstance(v, dict) else None
        return json.dumps(v, sort_keys=True)
    return get


SELECT = {"data": cfg("rows"), "vector": cfg("n"), "mixed": lambda r: r.doc.get("command"),
          "serve": cfg("label")}
P50, P99 = "median", "p99"
VIEWS = {
    "timeline": {"mode": "cases", "rows": r"^(host_signal_to_thread_wake|queue_to_queue|gpu_|host_to_gpu|"
                                          r"render_kernel_(idle|loaded|green_context_loaded))",
                 "cols": [("p50", "ours", "latency_us"), ("p99", "ours", "latency_us", None, P99),
                                           ("raw CUDA p50", "raw CUDA", "latency_us"),
                                           ("raw CUDA p99", "raw CUDA", "latency_us", None, P99)],
                 "plot": ("latency p50 (log scale)", [0, 2], True)},
    "data": {"mode": "cases", "cols": [("DuckDB", "duckdb", "query_ms"), ("ours cold", "ours", "cold_ms"),
                                       ("ours warm", "ours", "warm_ms"), ("cold vs DuckDB", "vs", 1, 0),
                                       ("warm vs DuckDB", "vs", 2, 0)],
             "plot": ("ms per query (log scale)", [0, 1, 2], True)},
    "ml": {"mode": "cases", "rows": r"^(prompt=\d+|decode.*|batched.*|embed batch=64|.*through Q_ml)$",
           "cols": [("ours", "ours", ["ttft_ms", "embeddings_per_s", "embed_ms", "tokens_per_s"]),
                    ("bare llama.cpp", "bare llama.cpp", ["ttft_ms", "embeddings_per_s", "embed_ms", "tokens_per_s"]),
                    ("ours vs bare", "vs", 0, 1)],
           "plot": ("time to first token (ms, best of repetitions), by prompt tokens", [0, 1], False, r"^prompt=\d+$")},
    "mixed": {"mode": "runs", "cols": [("sequential", "sequential", "wall_ms"),
                                       ("concurrent (ours)", "ours", "wall_ms"),
                                       ("speed-up", "vs", 1, 0), ("overlap", "ours", "overlap_efficiency"),
                                       ("late ticks", "ours", "heartbeat_late_pct"),
                                       ("one chat's decode", "ours", "decode_tokens_per_s"),
                                       ("same, bare", "bare llama.cpp", "decode_tokens_per_s")],
              "plot": ("wall time (ms; best of the rounds, one round with --quick)", [0, 1], False)},
    "vector": {"mode": "runs", "cols": [("exact, CPU one thread", "ours", "queries_per_s", r"CPU one thread"),
                                        ("exact on the device", "ours", "queries_per_s",
                                         r"^exact top-k, (cuda|vulkan)"),
                                        ("recall@10", "ours", "recall_at_10", r"^exact top-k, (cuda|vulkan)"),
                                        ("hnswlib build", "hnswlib", "build_s", r"^hnswlib build")],
               "plot": ("queries/s (log scale)", [0, 1], True)},
    "ui": {"mode": "cases", "cols": [("achieved", "ours", "achieved_hz"), ("CPU frame p50", "ours", "cpu_frame_ms"),
                                     ("CPU frame p99", "ours", "cpu_frame_ms", None, P99),
                                     ("CPU frame max", "ours", "cpu_frame_ms", None, "max"),
                                     ("GPU frame p50", "ours", "gpu_frame_ms"),
                                     ("over 16.6 ms", "ours", "cpu_frame_over_16_6ms_pct"),
                                     ("late", "ours", "late_frames")],
           "plot": ("CPU frame time (ms): p50 and p99", [1, 2], False)},
    "models": {"mode": "cases", "rows": r"^(retrieval|decoder)",
               "cols": [("recall@1", "ours", "recall_at_1"), ("recall@10", "ours", "recall_at_10"),
                        ("BM25 recall@1", "BM25", "recall_at_1"), ("BM25 recall@10", "BM25", "recall_at_10"),
                        ("perplexity", "ours", "perplexity")],
               "plot": ("recall", [0, 1, 2, 3], False, r"^retrieval")},
    "serve": {"mode": "cases", "cols": [("TTFT p50 ours", "ours", "ttft_ms"),
                                        ("TTFT p50 llama-server", "llama-server", "ttft_ms"),
                                        ("TTFT vs llama-server", "vs", 0, 1),
                                        ("tokens/s, all chats, ours", "ours", "generated_tokens_per_s"),
                                        ("same, llama-server", "llama-server", "generated_tokens_per_s"),
                                        ("embeddings/s ours", "ours", "embeddings_per_s"),
                                        ("same, llama-server", "llama-server", "embeddings_per_s")],
              "plot": ("time to first token p50 (ms)", [0, 1], False)},
}


def newest(runs, suite):
    """The newest run of each experiment of a suite (ties: every file of that date)."""
    key = SELECT.get(suite, lambda r: "")
    groups = {}
    for r in runs:
        if r.suite == suite:
            groups.setdefault((r.card, key(r)), []).append(r)
    out = []
    for rs in groups.values():
        top = max(r.date for r in rs)
        out += [r for r in rs if r.date == top]
    natural = lambda n: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", n)]
    return sorted(out, key=lambda r: (r.card, natural(str(key(r))), natural(r.name)))


def cell(rows, col, case, cases):
    """(value, unit, metric, label) of one column for one case (or the first case matching the column's pattern)."""
    label, side, metrics = col[0], col[1], col[2]
    pattern = col[3] if len(col) > 3 else None
    stat = col[4] if len(col) > 4 else None
    for c in [c for c in cases if re.search(pattern, c)] if pattern else [case]:
        for m in metrics if isinstance(metrics, list) else [metrics]:
            row = rows.get((c, side, m))
            if row is None:
                continue
            if stat:
                return row.get(stat), row["unit"], m, ""
            v, lab = figure(row)
            return v, row["unit"], m, lab
    return None, "", None, ""


def view_rows(view, rows, cases, case):
    vals = []
    for col in view["cols"]:
        if col[1] == "vs":
            a, b = vals[col[2]], vals[col[3]]
            vals.append((better(a[0], b[0], a[2] or ""), "x", None, ""))
        else:
            vals.append(cell(rows, col, case, cases))
    return vals


def render_cells(vals):
    return [times(v) if u == "x" else with_unit(v, u, lab) for v, u, _, lab in vals]


def merged(runs):
    """Runs of the same commit and card whose sides do not overlap are one experiment (e.g. a server and its peer)."""
    out = []
    for r in runs:
        for grp in out:
            g0 = grp[0]
            if (g0.commit, g0.card) == (r.commit, r.card) and not set(r.sides) & {s for x in grp for s in x.sides}:
                grp.append(r)
                break
        else:
            out.append([r])
    return out


def suite_section(runs, suite, link, plots_dir, plots):
    view = VIEWS.get(suite, {"mode": "cases", "cols": []})
    shown = newest(runs, suite)
    if not shown:
        return ["_No file of this suite._"]
    out, series = [], []
    if view["mode"] == "runs":
        header = ["file", "card"] + [c[0] for c in view["cols"]]
        rows = []
        for r in shown:
            vals = view_rows(view, r.rows, r.cases, r.cases[0] if r.cases else "")
            rows.append(["[%s](%s) `%s`" % (r.name, link(r.path), r.commit), r.card] + render_cells(vals))
            series.append((r.name.replace(".json", ""), vals))
        out += table(header, rows)
    body, used = [], set()  # mode "cases": one table, a row per case of each run (or runs of one experiment)
    for grp in merged(shown) if view["mode"] == "cases" else []:
        rows_all = {}
        for r in grp:
            rows_all.update(r.rows)
        cases = list(dict.fromkeys(c for r in grp for c in r.cases))
        if view.get("rows"):
            cases = [c for c in cases if re.search(view["rows"], c)]
        first = "%s, %s, `%s`" % (", ".join("[%s](%s)" % (r.name, link(r.path)) for r in grp), grp[0].card,
                                  grp[0].commit)
        n0 = len(body)
        for c in cases:
            vals = view_rows(view, rows_all, cases, c)
            if all(v[0] is None for v in vals):
                continue
            used |= {i for i, v in enumerate(vals) if v[0] is not None}
            body.append((first if len(body) == n0 else "", c, vals))
            series.append(("%s: %s" % (grp[0].name[:-5], c.split(" (")[0]) if len(shown) > len(grp) else c, vals))
        if len(body) == n0:  # a file of a new shape: every (case, metric) with its sides
            out += [first + ":", ""] + generic_table(grp[0]) + [""]
    if body:
        keep = sorted(used)
        out += table(["run", "case"] + [view["cols"][i][0] for i in keep],
                     [[f, c] + [render_cells(v)[i] for i in keep] for f, c, v in body])
    if "plot" in view and series:
        name = suite + ".png"
        plots.append((os.path.join(plots_dir, name), suite, view, series))
        out += ["", "![%s](%s)" % (suite, link(os.path.join(plots_dir, name)))]
    older = sorted(r.name for r in runs if r.suite == suite and r not in shown)
    if older:
        out += ["", "Older runs, in the [lab notebook](%s): %s." % (
            link(os.path.join(os.path.dirname(shown[0].path), "README.md")),
            ", ".join("[%s](%s)" % (n, link(os.path.join(os.path.dirname(shown[0].path), n))) for n in older))]
    return out


def generic_table(r):
    """Every (case, metric) of a run with one column per side: for suites without a view."""
    header = ["case", "metric"] + r.sides
    rows = []
    for c in r.cases:
        for m in dict.fromkeys(k[2] for k in r.rows if k[0] == c):
            rows.append([c, m] + [with_unit(*figure(r.rows.get((c, s, m)))[:1], r.rows.get((c, s, m), {}).get(
                "unit", ""), figure(r.rows.get((c, s, m)))[1]) if (c, s, m) in r.rows else "–" for s in r.sides])
    return table(header, rows)


def files_index(runs, problems, meas_dir, link):
    rows = []
    for r in sorted(runs, key=lambda r: (SUITES.index(r.suite) if r.suite in SUITES else 99, r.date, r.name)):
        n = sum(len(s.get("values") or []) for s in r.doc["samples"])
        rows.append(["[%s](%s)" % (r.name, link(r.path)), r.suite, r.card, "`%s`" % r.commit, r.date[:16] or "–",
                     "%d / %d" % (len(r.doc["samples"]), n), len(r.doc.get("goals") or [])])
    out = table(["file", "suite", "card", "commit", "date", "samples entries / raw values", "goals"], rows)
    others = sorted(n for n in os.listdir(meas_dir) if not n.endswith(".json")
                    and os.path.isfile(os.path.join(meas_dir, n)) and n not in ("README.md", "SCHEMA.md"))
    if others:
        out += ["", "Raw output kept next to the files: " + ", ".join("[%s](%s)" % (n, link(os.path.join(
            meas_dir, n))) for n in others) + "."]
    if problems:
        out += ["", "Not read (not in the schema):"] + ["- " + p for p in problems]
    return out


# ---------------------------------------------------------------------------------------------------
# Plots

def draw(path, suite, view, series):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    title, cols, log = view["plot"][:3]
    pattern = view["plot"][3] if len(view["plot"]) > 3 else None
    pts = [(lab, vals) for lab, vals in series if (not pattern or re.search(pattern, lab.split(": ")[-1]))
           and any(vals[i][0] is not None for i in cols)]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    width = 0.8 / len(cols)
    for k, i in enumerate(cols):
        ys = [vals[i][0] if vals[i][0] is not None else 0 for _, vals in pts]
        ax.bar([x + k * width for x in range(len(pts))], ys, width, label=view["cols"][i][0])
    ax.set_xticks([x + width * (len(cols) - 1) / 2 for x in range(len(pts))])
    ax.set_xticklabels([lab[:40] for lab, _ in pts], rotation=30, ha="right", fontsize=7)
    if log:
        ax.set_yscale("log")
    ax.set_title("%s — %s" % (suite, title), fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
    print("bench-report: wrote %s" % path)


# ---------------------------------------------------------------------------------------------------
# Regions

def rewrite(text, make):
    out, pos = [], 0
    for m in BEGIN.finditer(text):
        if m.start() < pos:
            continue
        end = text.find(END, m.end())
        if end < 0:
            raise SystemExit("bench-report: %s has no '%s'" % (m.group(0), END))
        body = re.sub(r"\n{3,}", "\n\n", "\n".join(make(m.group(1), m.group(2))).strip("\n"))
        out += [text[pos:m.end()], "\n\n" + body + "\n\n"]
        pos = end
    return "".join(out) + text[pos:]


def build(path, runs, problems, meas_dir, plots_dir, plots):
    base = os.path.dirname(os.path.abspath(path))
    if not base.startswith(REPO + os.sep):  # a copy elsewhere: link as if it were docs/BENCHMARKS.md
        base = os.path.join(REPO, "docs")

    def link(p):
        return os.path.relpath(p, base)

    def make(kind, arg):
        if kind == "headline":
            return headline(runs, link)
        if kind == "suite":
            return suite_section(runs, arg, link, plots_dir, plots)
        if kind == "files":
            return files_index(runs, problems, meas_dir, link)
        raise SystemExit("bench-report: unknown region '%s' in %s" % (kind, path))

    try:
        with open(path, encoding="utf-8") as f:
            old = f.read()
    except FileNotFoundError:
        old = ""
    text = old
    if not BEGIN.search(text):  # no regions yet: a page with every region
        text = text.rstrip("\n") + ("\n\n" if text.strip() else "") + "# Benchmarks\n\n" + "\n\n".join(
            "%s<!-- generated: %s -->\n%s" % ("## %s\n\n" % t if t else "", r, END) for t, r in
            [("", "headline")] + [(s, "suite " + s) for s in SUITES + sorted({r.suite for r in runs} - set(SUITES))]
            + [("Files", "files")]) + "\n"
    return old, rewrite(text, make)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="bench-report.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--measurements", metavar="DIR", default=os.path.join(REPO, "docs", "measurements"))
    ap.add_argument("--out", metavar="FILE", action="append",
                    help="markdown file whose generated regions are rewritten (repeatable; default: "
                         "docs/BENCHMARKS.md and docs/measurements/README.md)")
    ap.add_argument("--plots", metavar="DIR", default=os.path.join(REPO, "docs", "plots"))
    ap.add_argument("--no-plots", action="store_true", help="write no PNGs (matplotlib is not imported)")
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file would change")
    ap.add_argument("--show", metavar="JSON", nargs="+", help="print the tables of these files and exit")
    args = ap.parse_args(argv)

    problems = []
    if args.show:
        for p in args.show:
            with open(p, encoding="utf-8") as f:
                r = Run(os.path.abspath(p), json.load(f))
            print("## %s — %s, %s, commit %s\n" % (r.name, r.suite, r.card, r.commit))
            print("\n".join(generic_table(r)))
            for g in r.doc.get("goals") or []:
                print("\n- %s: %s, %s" % (g["kpi"], g["goal"], verdict(g, "")))
            print()
        return 0
    meas = os.path.abspath(args.measurements)
    runs = load(meas, problems)
    outs = args.out or [os.path.join(REPO, "docs", "BENCHMARKS.md"), os.path.join(meas, "README.md")]
    plots, bad = [], False
    for p in outs:
        old, new = build(p, runs, problems, meas, os.path.abspath(args.plots), plots)
        if args.check:
            if new != old:
                bad = True
                print("bench-report: %s is not up to date; run: bash scripts/bench-report.sh" % p, file=sys.stderr)
                for line in list(difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0))[:30]:
                    print(line, file=sys.stderr)
        elif new != old:
            with open(p, "w", encoding="utf-8") as f:
                f.write(new)
            print("bench-report: wrote %s" % p)
    for p in problems:
        print("bench-report: " + p, file=sys.stderr)
    missing = [p for p, *_ in plots if not os.path.isfile(p)]
    if args.check:
        for p in missing:
            bad = True
            print("bench-report: linked plot missing: %s" % p, file=sys.stderr)
        if not bad and not problems:
            print("bench-report: up to date: %s (%d plots linked)" % (", ".join(outs), len(plots)))
        return 1 if bad or problems else 0
    if not args.no_plots:
        for p, suite, view, series in plots:
            draw(p, suite, view, series)
    elif missing:
        print("bench-report: note: plots not written (--no-plots): %s" % ", ".join(missing), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
