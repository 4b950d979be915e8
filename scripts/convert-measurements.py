#!/usr/bin/env python3
"""One-off: rewrite docs/measurements/*.json of the older per-suite shapes in the ut-bench/1 schema.

  python3 scripts/convert-measurements.py          # converts every file without a "schema" field, in place

Nothing is dropped except ratios that the samples reproduce (speed-up, overhead %, ratio columns). The
older files mostly kept statistics, not raw samples: such a statistic goes into the summary row of an
entry whose "values" list is empty (the file's notes say so), and a best-of-repetitions figure is a
"min" (times) or "max" (rates) with the median unknown (null). Where the run's commit is not named by
the file, its filename or its log, it is recovered from git history (see FILES). Each file's
original stays in git history; its notes name the commit to look at.
"""

import json
import os
import statistics
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEAS = os.path.join(REPO, "docs", "measurements")

H200 = {"backend": "cuda", "name": "NVIDIA H200", "driver": "580.159.04 / CUDA 13.0", "compute_units": 132}
XEON = {"cpu": "Intel(R) Xeon(R) Processor", "cores": 16}
EPYC = {"cpu": "AMD EPYC", "cores": 2, "os": "Debian 12"}
EPYC_DEV = {"backend": "cpu", "name": "AMD EPYC (2 cores)"}
HIST = "commit recovered from git history: parent of the commit that added this file"
HIST_CONTENT = "commit recovered from git history: parent of the commit that added this content (%s)"
LOGSTART = "date: start of the device script, from %s (the run's end was not recorded)"
COMMITTED = "date: when the file was committed (the run's own time was not recorded)"

# file -> (commit, where the commit comes from, date, where the date comes from, command)
FILES = {
    "cuda-timeline-h200.json": ("5f38d88", "commit named by device-check-h200.txt, the run's log",
                                "2026-11-27T15:33:04Z", LOGSTART % "device-check-h200.txt", "ut bench timeline"),
    "timeline-cpu-2core.json": ("8784e30", HIST, None, COMMITTED, "ut bench timeline"),
    "data-1m-h200.json": ("1784156", "commit named by data-h200.log, the run's log", "2026-11-27T21:48:06Z",
                          LOGSTART % "data-h200.log", "ut bench data --rows 1000000 --reps 3"),
    "data-10m-h200.json": ("1784156", "commit named by data-h200.log, the run's log", "2026-11-27T21:48:06Z",
                           LOGSTART % "data-h200.log", "ut bench data --rows 10000000 --reps 3"),
    "data-100m-h200.json": ("1784156", "commit named by data-h200.log, the run's log", "2026-11-27T21:48:06Z",
                            LOGSTART % "data-h200.log", "ut bench data --rows 100000000 --reps 2"),
    "data-10m-h200-304d3de.json": ("304d3de", "commit named by the filename and data-h200-304d3de.log",
                                   "2026-11-27T22:28:40Z", LOGSTART % "data-h200-304d3de.log",
                                   "ut bench data --rows 10000000 --reps 3"),
    "data-100m-h200-304d3de.json": ("304d3de", "commit named by the filename and data-h200-304d3de.log",
                                    "2026-11-27T22:28:40Z", LOGSTART % "data-h200-304d3de.log",
                                    "ut bench data --rows 100000000 --reps 2"),
    "data-10m-h200-timing.json": ("fc538c7", HIST, None, COMMITTED, "ut bench data --rows 10000000 --reps 3"),
    "debian-models-cpu.json": ("b68cdd5", HIST, None, COMMITTED, "ut bench models"),
    "mixed-cpu-2core.json": ("8784e30", HIST, None, COMMITTED, "ut bench mixed"),
    "mixed-cpu-2core-batched-a.json": ("22e170a", HIST, None, COMMITTED, "UT_TRAINED_MODELS_DIR=none ut bench mixed"),
    "mixed-cpu-2core-batched-b.json": ("22e170a", HIST, None, COMMITTED, "UT_TRAINED_MODELS_DIR=none ut bench mixed"),
    "mixed-cpu-2core-batched-trained-a.json": ("ee03cb7", HIST, None, COMMITTED, "ut bench mixed"),
    "mixed-cpu-2core-batched-trained-b.json": ("ee03cb7", HIST, None, COMMITTED, "ut bench mixed"),
    "mixed-h200-quick.json": ("c813c3d", "commit named by device-mixed-h200-batched.log, the run's log",
                              "2026-11-28T01:09:33Z", LOGSTART % "device-mixed-h200-batched.log",
                              "ut bench mixed --quick --chat-model qwen2.5-0.5b-shape-random-f16.gguf "
                              "--embed-model bge-small-shape-random-f16.gguf"),
    "mixed-h200.json": ("c813c3d", "commit named by device-mixed-h200-batched.log, the run's log",
                        "2026-11-28T01:09:33Z", LOGSTART % "device-mixed-h200-batched.log",
                        "ut bench mixed --chat-model qwen2.5-0.5b-shape-random-f16.gguf "
                        "--embed-model bge-small-shape-random-f16.gguf"),
    "mixed-h200-16.json": ("c813c3d", "commit named by device-mixed-h200-batched.log, the run's log",
                           "2026-11-28T01:09:33Z", LOGSTART % "device-mixed-h200-batched.log",
                           "ut bench mixed --chats 16 --tokens 64 --chat-model qwen2.5-0.5b-shape-random-f16.gguf "
                           "--embed-model bge-small-shape-random-f16.gguf"),
    "ml-h200.json": ("332466f", "commit named by the run's log, device-mixed-h200.log as committed in 592a678 "
                     "(since overwritten by a later run)", "2026-11-27T18:13:05Z",
                     LOGSTART % "device-mixed-h200.log at 592a678", "ut bench ml --models /tmp/ut-models"),
    "ml-h200-run3.json": ("827b861", "commit named by device-mixed-h200.log, the run's log", "2026-11-27T19:08:00Z",
                          LOGSTART % "device-mixed-h200.log", "ut bench ml --models /tmp/ut-models"),
    "ml-h200-run4.json": ("c813c3d", HIST_CONTENT % "d055243 committed it as ml-h200.json; d07568a moved it here",
                          None, COMMITTED, "ut_ml_bench --synth --models /tmp/ut-models"),
    "serve-ut-h200.json": ("c813c3d", "commit named by serve-h200.log, the run's log", None, None, None),
    "serve-llama-server-h200.json": ("c813c3d", "commit named by serve-h200.log, the run's log", None, None, None),
    "serve-ut-h200-304d3de.json": ("304d3de", "commit named by the filename and serve-h200-304d3de.log",
                                   None, None, None),
    "serve-llama-server-h200-304d3de.json": ("304d3de", "commit named by the filename and serve-h200-304d3de.log",
                                             None, None, None),
    "ui-lavapipe-2core.json": ("8784e30", HIST, None, COMMITTED, "ut bench ui"),
    "ui-h200.json": ("05f2bd3", HIST, None, COMMITTED, "ut bench ui"),
    "ui-h200-10k.json": ("7706fa9", HIST, None, COMMITTED, "ut bench ui --frames 10000 --no-low-priority-phase"),
    "vector-cpu-2core.json": ("0ad5890", HIST, None, COMMITTED, "ut bench vector --n 100000"),
    "vector-10k-h200.json": ("c813c3d", "commit as stated where the run was first reported (docs/BENCHMARKS.md at "
                             "b6ac73b); git history alone gives 7e81d0c, the parent of the commit that added the file",
                             None, COMMITTED, "ut bench vector --n 10000 --queries 200 --device-queries 10000"),
    "vector-100k-h200.json": ("332466f", "commit named by the run's log, device-mixed-h200.log as committed in 592a678",
                              "2026-11-27T18:13:05Z", LOGSTART % "device-mixed-h200.log at 592a678", None),
    "vector-1m-h200.json": ("332466f", "commit named by the run's log, device-mixed-h200.log as committed in 592a678",
                            "2026-11-27T18:13:05Z", LOGSTART % "device-mixed-h200.log at 592a678", None),
}


def git(*args):
    return subprocess.check_output(["git", "-C", REPO] + list(args), text=True).strip()


def lower_better(metric):
    return metric.endswith(("_ms", "_us", "_s")) and not metric.endswith("_per_s") or \
        any(w in metric for w in ("late", "over_", "perplexity"))


class Run:
    """Collects samples and summary rows in the schema's shape."""

    def __init__(self):
        self.samples, self.summary, self.notes, self.goals = [], [], [], []

    def add(self, case, side, metric, unit, values=None, stats=None):
        """values: raw samples (a number or a list). stats: statistics recorded instead of samples."""
        key = {"case": case, "side": side, "metric": metric, "unit": unit}
        if stats is None:
            vals = values if isinstance(values, list) else [values]
            self.samples.append(dict(key, values=vals))
            s = sorted(vals)
            n = len(s)
            row = {"n": n, "median": statistics.median(s), "min": s[0], "max": s[-1],
                   "p99": s[max(0, -(-99 * n // 100) - 1)] if n >= 200 else None}
        else:
            self.samples.append(dict(key, values=[]))
            row = {k: stats.get(k) for k in ("n", "median", "min", "max", "p99")}
            if stats.get("p99") is not None and (stats.get("n") or 0) < 200:
                self.notes.append("%s / %s / %s: the old file's p99 %.4g over %s samples is not kept as a p99 "
                                  "(fewer than 200)" % (case, side, metric, stats["p99"], stats.get("n")))
                row["p99"] = None
            if "mean" in stats:
                row["mean"] = stats["mean"]
        self.summary.append(dict(key, **row))

    def best(self, case, side, metric, unit, v, n=None):
        """A best-of-repetitions figure: the minimum of times, the maximum of rates."""
        self.add(case, side, metric, unit, stats={"n": n, ("min" if lower_better(metric) else "max"): v})

    def dist(self, case, side, metric, d, unit=None):
        """An old {p50, p99, mean, min, max, n} (or {*_ms, count}) distribution."""
        g = lambda *ks: next((d[k] for k in ks if k in d), None)
        self.add(case, side, metric, unit or d.get("unit", "ms"),
                 stats={"n": g("n", "count"), "median": g("p50", "p50_ms"), "min": g("min", "min_ms"),
                        "max": g("max", "max_ms"), "p99": g("p99", "p99_ms"), "mean": g("mean", "avg_ms")})

    def value(self, case, side, metric):
        for r in self.summary:
            if (r["case"], r["side"], r["metric"]) == (case, side, metric):
                for k in ("median", "min" if lower_better(metric) else "max"):
                    if r.get(k) is not None:
                        return r[k]
        raise KeyError((case, side, metric))

    def goal(self, kpi, goal, case, metric, met, side="ours", peer=None, peer_case=None, **extra):
        g = {"kpi": kpi, "goal": goal, "case": case, "metric": metric, "value": self.value(case, side, metric),
             "met": met}
        if peer:
            g["peer"] = peer
            g["peer_value"] = extra.pop("peer_value", None) or self.value(peer_case or case, peer, metric)
        g.update(extra)
        if callable(met):  # met(value, peer_value)
            g["met"] = bool(met(g["value"], g.get("peer_value")))
        self.goals.append(g)
        return g


# ---------------------------------------------------------------------------------------------------
# One function per old shape: fill the Run, return (suite, machine, device, config).

def timeline(j, r):
    for k in ("host_signal_to_thread_wake", "host_signal_to_queue_release", "queue_to_queue_event",
              "command_buffer_encode_commit"):
        r.dist(k, "ours", "latency_us", j[k])
    r.add("command_buffers_end_to_end", "ours", "command_buffers_per_s", "1/s", j["command_buffers_per_s"])
    r.add("ring_buffer_one_producer_one_consumer", "ours", "items_per_s", "1/s", j["ring_buffer_items_per_s"])
    c = j["cuda"]
    config = {"quick": j["quick"], "host_backend": j["backend"]}
    if "skipped" in c:
        r.notes.append("CUDA section skipped: " + c["skipped"])
        return "timeline", dict(EPYC, cores=j["machine"]["cores"]), dict(EPYC_DEV), config
    raw = "raw CUDA"
    r.dist("gpu_to_gpu_event", "ours", "latency_us", c["gpu_to_gpu_event"]["shared_event"])
    r.dist("gpu_to_gpu_event", raw, "latency_us", c["gpu_to_gpu_event"]["raw_stream_memops"])
    r.dist("gpu_to_host_notify", "ours", "latency_us", c["gpu_to_host"]["notify_listener"])
    r.dist("gpu_to_host_notify", raw, "latency_us", c["gpu_to_host"]["raw_host_spin_on_word"])
    r.dist("gpu_to_host_thread_wait", "ours", "latency_us", c["gpu_to_host"]["host_wait_wakeup"])
    r.dist("host_to_gpu_release", "ours", "latency_us", c["host_to_gpu"]["shared_event"])
    r.dist("host_to_gpu_release", raw, "latency_us", c["host_to_gpu"]["raw_host_store"])
    q = c["qos"]
    for k in ("idle", "loaded_equal_priority", "loaded_high_priority"):
        r.dist("render_kernel_" + k, "ours", "latency_us", q[k])
    r.dist("render_kernel_green_context_idle", "ours", "latency_us", q["green_context"]["idle"])
    r.dist("render_kernel_green_context_loaded", "ours", "latency_us", q["green_context"]["loaded"])
    o = c["copy_compute_overlap"]
    for k in ("concurrent_ms", "serialized_ms", "copy_alone_ms", "compute_ms"):
        r.add("copy_compute_overlap", "ours", k, "ms", stats={"n": 5, "median": o[k]})
    r.add("copy_compute_overlap", "ours", "copy_gb_per_s", "GB/s", o["copy_gb_per_s"])
    config.update({
        "iterations": c["iterations"], "gpu_side_events": c["gpu_side_events"],
        "methods": {"gpu_to_gpu_event": c["gpu_to_gpu_event"]["method"], "gpu_to_host": c["gpu_to_host"]["method"],
                    "host_to_gpu": c["host_to_gpu"]["method"], "qos": q["method"], "copy_compute_overlap": o["method"]},
        "qos": {k: q[k] for k in ("load_block_us", "load_blocks_per_launch", "native_priorities", "tick_kernel_ns")},
        "green_context": {k: q["green_context"][k] for k in ("sms_for_load", "sms_reserved")},
        "copy_bytes": o["bytes"], "copy_data_verified": o["data_verified"],
        "gpu_to_host_clock_offset_drift_us": c["gpu_to_host"]["clock_offset_drift_us"]})
    r.notes.append("copy_compute_overlap times are medians of 5 (the method says so); only the medians were kept")
    dev = dict(H200, memory_bytes=c["memory_total"], runtime=c["driver"], priority_range=c["priority_range"],
               nvml_after_run=c["nvml"])
    r.goal("GPU→GPU event across two streams vs raw CUDA stream memory ops (p50)", "<= 1.10x raw CUDA",
           "gpu_to_gpu_event", "latency_us", lambda v, p: v <= 1.10 * p, peer=raw)
    r.goal("render-queue 2 µs kernel on an 8-SM green context, other SMs loaded, vs idle (p50)", "<= 2x idle",
           "render_kernel_green_context_loaded", "latency_us", lambda v, p: v <= 2 * p,
           peer="idle (same kernel, no load)", peer_value=r.value("render_kernel_idle", "ours", "latency_us"))
    return "timeline", dict(XEON, cores=j["machine"]["cores"]), dev, config


def data(j, r, name):
    config = {"rows": j["rows"], "reps": j["reps"], "quick": j["quick"], "duckdb": j["duckdb"],
              "method": j["note"], "queries": {}}
    r.add("generate_table", "ours", "generate_ms", "ms", j["generate_ms"])
    for c in j["cases"]:
        q = c["name"]
        config["queries"][q] = {k: c[k] for k in ("sql", "groups", "capacity", "mode", "heap_bytes",
                                                   "scan_partitions", "verified")}
        r.add(q, "duckdb", "query_ms", "ms", stats={"n": j["reps"], "median": c["duckdb_ms"]})
        for k in sorted(c):
            if k.endswith("_ms") and k != "duckdb_ms":
                r.add(q, "ours", k, "ms", stats={"n": j["reps"], "median": c[k]})
    r.notes.append("every time is the median of %d repetitions (the old file kept only medians); ratios to DuckDB "
                   "were dropped: query_ms / cold_ms and query_ms / warm_ms give them" % j["reps"])
    ratios = [(r.value(c["name"], "duckdb", "query_ms") / r.value(c["name"], "ours", "warm_ms"), c["name"])
              for c in j["cases"]]
    worst = min(ratios)
    met = sum(1 for x, _ in ratios if x >= 5)
    rows = {1000000: "1 M", 10000000: "10 M", 100000000: "100 M"}[j["rows"]]
    r.goal("GROUP BY with resident columns (warm) vs DuckDB, %s rows, slowest of %d queries" % (rows, len(ratios)),
           ">= 5x faster than duckdb", worst[1], "warm_ms", worst[0] >= 5, peer="duckdb",
           peer_value=r.value(worst[1], "duckdb", "query_ms"), peer_metric="query_ms",
           detail="met for %d of %d queries" % (met, len(ratios)))
    mach = dict(XEON, cores=j["machine"]["cores"], memory_bytes=j["machine"]["memory_bytes"])
    return "data", mach, dict(H200), config


def mixed(j, r, name):
    w = j["work"]
    case = "%d chats x %d tokens, %d queries over %s rows, %d edits" % (
        w["chats"], w["tokens"], w["queries"], format(w["rows"], ","), w["edits"])
    quick = name == "mixed-h200-quick.json"
    rounds = 1 if quick else 2
    for side, k in (("ours", "concurrent"), ("sequential", "sequential")):
        if rounds == 1:
            r.add(case, side, "wall_ms", "ms", j[k + "_ms"])
        else:
            r.best(case, side, "wall_ms", "ms", j[k + "_ms"], n=rounds)
        r.add(case, side, "ttft_ms", "ms", stats={"n": w["chats"], "median": j["ttft_p50_ms"][k]})
        r.add(case, side, "sql_ms", "ms", stats={"n": w["queries"], "median": j["sql_p50_ms"][k]})
        if "decode_tps_p50" in j:
            r.add(case, side, "decode_tokens_per_s", "tokens/s",
                  stats={"n": w["chats"], "median": j["decode_tps_p50"][k]})
    r.add(case, "ours", "overlap_efficiency", "ratio", j["overlap_efficiency"])
    f = j["frames"]
    r.add(case, "ours", "heartbeat_tick_ms", "ms", stats={"n": f["count"], "p99": f["p99_ms"], "max": f["max_ms"]})
    r.add(case, "ours", "heartbeat_late_pct", "%", f["late_pct"])
    if "decode_tps_p50" in j:
        r.best(case, "bare llama.cpp", "decode_tokens_per_s", "tokens/s", j["decode_tps_p50"]["bare"], n=2)
    r.notes.append("wall_ms is the %s; ttft_ms, sql_ms and decode_tokens_per_s are medians over the chats or "
                   "queries of that round (only the medians were kept); the heartbeat covers the sequential and "
                   "the concurrent rounds; speed-up = sequential wall_ms / ours wall_ms" %
                   ("one round (--quick)" if quick else "best (lowest) of %d rounds, the rest not kept" % rounds))
    r.notes.append("the sequential round runs the chats one after another, so it also gives up batching them")
    config = {"work": w, "models": j["models"], "rounds": rounds, "parallel": j.get("parallel")}
    if "decode_tps_p50" in j:
        config["bare"] = ("the first chat's prompt through ml::Generator on the same model, nothing else running, "
                          "best of two after a warm-up")
    gpu = "NVIDIA H200" if "h200" in name else None
    if gpu is None:
        mach, dev = dict(EPYC, cores=j["machine"]["cores"]), dict(EPYC_DEV)
        kpi = "mixed workload speed-up, concurrent vs sequential, CPU machine, %s models" % (
            "trained" if "trained" in name else "synthetic")
    else:
        mach, dev = dict(XEON, cores=j["machine"]["cores"]), dict(H200)
        kpi = "mixed workload speed-up, concurrent vs sequential, %s" % (
            "quick size" if quick else "16 chats" if w["chats"] == 16 else "default size")
        r.notes.append("device: the run's log (device-mixed-h200-batched.log) names the NVIDIA H200; the file "
                       "recorded only the host")
    caveat = "the sequential baseline also decodes the chats one after another (no batching)"
    if not quick:
        r.goal(kpi, ">= 3x faster than sequential", case, "wall_ms", lambda v, p: p / v >= 3, peer="sequential",
               caveat=caveat)
    if gpu and w["chats"] == 3:
        r.goal("mixed workload overlap efficiency, default size", ">= 0.9", case, "overlap_efficiency",
               j["overlap_efficiency"] >= 0.9)
        r.goal("mixed workload heartbeat ticks late, default size", "<= 0 %", case, "heartbeat_late_pct",
               f["late_pct"] <= 0)
        r.goal("one chat's decode while everything else runs vs bare, default size", ">= 0.95x bare llama.cpp",
               case, "decode_tokens_per_s", lambda v, p: v >= 0.95 * p, peer="bare llama.cpp",
               caveat="our chats share a batch; bare decodes one chat alone")
    return "mixed", mach, dev, config


def ml(j, r, name):
    stat = j["statistic"]
    for e in j["embeddings"]:
        c = "embed batch=%d" % e["batch"]
        r.best(c, "ours", "embeddings_per_s", "1/s", e["embeddings_per_s"])
        r.best(c, "ours", "batch_ms", "ms", e["ms"])
        r.best(c, "ours", "tokens_per_s", "tokens/s", e["tokens_per_s"])
    eo = j["embed_overhead"]
    c = "embed batch=%d through Q_ml" % eo["batch"]
    r.best(c, "ours", "embed_ms", "ms", eo["lane_ms"])
    r.best(c, "bare llama.cpp", "embed_ms", "ms", eo["bare_ms"])
    for t in j["ttft"]:
        c = "prompt=%d" % t["prompt_tokens"]
        r.best(c, "ours", "ttft_ms", "ms", t["ms"])
        r.best(c, "bare llama.cpp", "ttft_ms", "ms", t["bare_ms"])
    for p in j["prefill_chunks"]:
        c = "prompt=%d chunk=%d" % (p["prompt_tokens"], p["prefill_chunk"])
        r.best(c, "ours", "ttft_ms", "ms", p["ttft_ms"])
        r.best(c, "ours", "longest_step_ms", "ms", p["longest_step_ms"])
    pr = j["prefix_reuse"]
    c = "second turn, %d cached + %d new tokens" % (pr["cached_tokens"], pr["new_tokens"])
    r.best(c, "ours", "ttft_ms", "ms", pr["ttft_ms"])
    r.best(c, "ours, no prefix reuse", "ttft_ms", "ms", pr["ttft_without_reuse_ms"])
    d = j["decode"]
    c = "decode %d tokens, greedy" % d["tokens"]
    r.best(c, "ours", "tokens_per_s", "tokens/s", d["tokens_per_s"])
    r.best(c, "bare llama.cpp", "tokens_per_s", "tokens/s", d["bare_tokens_per_s"])
    r.best("copy bandwidth", "ours", "copy_bytes_per_s", "B/s", j["decode_roofline"]["copy_bytes_per_s"])
    for b in j.get("batched_decode", []):
        c = "batched decode chats=%d" % b["chats"]
        r.best(c, "ours", "tokens_per_s", "tokens/s", b["tokens_per_s"])
        r.best(c, "bare llama.cpp", "tokens_per_s", "tokens/s", b["bare_tokens_per_s"])
        r.add(c, "ours", "step_ms", "ms", stats={"mean": b["step_ms"]})
        r.add(c, "ours", "sample_ms", "ms", stats={"mean": b["sample_ms"]})
    r.notes.append("the old file kept one figure per row, '%s': times are in 'min', rates in 'max'; the number of "
                   "repetitions and the medians were not recorded; overhead %% and roofline fractions were dropped "
                   "(weight_bytes and the samples give them back)" % stat)
    if j.get("batched_decode"):
        r.notes.append("batched decode step_ms and sample_ms are means per step (kept as 'mean')")
    r.notes.append("the bare llama.cpp loop samples every token through llama_sampler_sample (the full sampler "
                   "chain over 151,936 logits); ours takes the arg-max for greedy chats: decode and batched-decode "
                   "rows compare samplers as much as lanes")
    m = j["machine"]
    config = {"decoder": j["decoder"], "embedder": j["embedder"], "threads": m["threads"], "quick": j["quick"],
              "real_size_models": j["real_size_models"], "statistic": stat,
              "prefill_chunk": j["ttft"][0]["prefill_chunk"], "weight_bytes": j["decode_roofline"]["weight_bytes"],
              "llama_backend": m["backend"], "llama_system_info": m["llama_system_info"],
              "loadavg_before": m["loadavg_before"], "loadavg_after": m["loadavg_after"], "seconds": j["seconds"]}
    if name == "ml-h200-run4.json":  # the newest full ml run carries the goals
        r.goal("time to first token, 512-token prompt (0.5B shape, H200)", "<= 25 ms", "prompt=512", "ttft_ms",
               r.value("prompt=512", "ours", "ttft_ms") <= 25, peer="bare llama.cpp")
        peak = max(j["embeddings"], key=lambda e: e["embeddings_per_s"])
        r.goal("bge-small embeddings/s, best batch size (H200)", ">= 20000 1/s", "embed batch=%d" % peak["batch"],
               "embeddings_per_s", peak["embeddings_per_s"] >= 20000)
        r.goal("embedding a batch of 32 through Q_ml vs bare llama.cpp", "<= 1.05x bare llama.cpp",
               "embed batch=32 through Q_ml", "embed_ms", lambda v, p: v <= 1.05 * p, peer="bare llama.cpp")
        r.goal("one chat's decode through the ML lane vs bare llama.cpp", ">= 0.95x bare llama.cpp",
               "decode 64 tokens, greedy", "tokens_per_s", lambda v, p: v >= 0.95 * p, peer="bare llama.cpp",
               caveat="bare llama.cpp samples with the full sampler chain, ours takes the arg-max")
    return "ml", dict(XEON), dict(H200), config


def vector(j, r, name):
    c = "exact top-k, CPU one thread"
    r.add(c, "ours", "queries_per_s", "1/s", j["cpu_exact"]["qps"])
    r.add(c, "ours", "recall_at_%d" % j["k"], "ratio", j["cpu_exact"]["recall_at_k"])
    d = j["device_exact"]
    c = "exact top-k, %s" % d["backend"]
    r.add(c, "ours", "queries_per_s", "1/s", d["qps"])
    r.add(c, "ours", "recall_at_%d" % j["k"], "ratio", d["recall_at_k"])
    for h in j.get("hnsw", []):
        c = "hnswlib ef=%d" % h["ef"]
        r.add(c, "hnswlib", "queries_per_s", "1/s", h["qps"])
        if "qps_all_threads" in h:
            r.add(c, "hnswlib", "queries_per_s_all_threads", "1/s", h["qps_all_threads"])
        r.add(c, "hnswlib", "recall_at_%d" % j["k"], "ratio", h["recall_at_k"])
    if "hnsw_build" in j:
        r.add("hnswlib build", "hnswlib", "build_s", "s", j["hnsw_build"]["seconds"])
        r.add("hnswlib build", "hnswlib", "inserts_per_s", "1/s", j["hnsw_build"]["inserts_per_s"])
    r.notes.append("one measurement per row: queries/s over the run's queries (device rows: one batch of "
                   "batch_queries fresh queries); recall against exact CPU search")
    config = {"n": j["n"], "dim": j["dim"], "k": j["k"], "queries": j["queries"], "hnsw_m": 32,
              "hnsw_ef_construction": 200, "device_batch_queries": d.get("batch_queries"),
              "hnsw_build_threads": j.get("hnsw_build", {}).get("threads")}
    if d["backend"] == "cpu":
        return "vector", dict(EPYC, cores=j["machine"]["cores"]), dict(EPYC_DEV), config
    if j["n"] == 1000000:
        r.goal("exact top-k queries/s over 1 M x 384 vectors", ">= 10000 1/s", c, "queries_per_s", d["qps"] >= 10000)
    return "vector", dict(XEON, cores=j["machine"]["cores"]), dict(H200, name=d["device"]), config


def ui(j, r, name):
    phases = {"idle": "idle", "load": "under load", "load_ml_low_priority": "under load, ML queue low priority"}
    config = {"resolution": j["resolution"], "frames_per_phase": j["frames_per_phase"],
              "warmup_frames": j["warmup_frames"], "timeline_backend": j["machine"]["timeline_backend"],
              "gpu_timestamps": j["machine"]["gpu_timestamps"], "phases": {}}
    for k, c in phases.items():
        if k not in j:
            continue
        p = j[k]
        for m in ("cpu_frame_ms", "gpu_frame_ms", "tick_interval_ms"):
            r.dist(c, "ours", m, p[m], "ms")
            r.add(c, "ours", m[:-3] + "_over_16_6ms_pct", "%", p[m]["over_16_6ms_pct"])
            r.add(c, "ours", m[:-3] + "_over_33ms_pct", "%", p[m]["over_33ms_pct"])
            r.add(c, "ours", m[:-3] + "_one_pct_low_fps", "fps", p[m]["one_pct_low_fps"])
        r.add(c, "ours", "achieved_hz", "Hz", p["achieved_hz"])
        r.add(c, "ours", "late_frames", "frames", p["late_frames"])
        for m, u in (("iterations_per_s", "1/s"), ("ml_queue_busy_pct", "%")):
            if m in p:
                r.add(c, "ours", m, u, p[m])
        config["phases"][c] = {x: p[x] for x in ("description", "duration_s", "frames", "target_hz",
                                                  "ml_queue_priority") if x in p}
    r.notes.append("frame times: the old file kept each distribution's statistics (count, p50, p99, max, mean), "
                   "not the frames")
    vk = j["machine"]["vulkan_device"]
    if "H200" in vk:
        dev = {"backend": "vulkan", "name": "NVIDIA H200", "driver": "580.159.04 / CUDA 13.0",
               "vulkan_device_type": j["machine"]["vulkan_device_type"]}
        mach = dict(XEON, cores=j["machine"]["cores"])
    else:
        dev = {"backend": "vulkan", "name": vk, "vulkan_device_type": j["machine"]["vulkan_device_type"]}
        mach = dict(EPYC, cores=j["machine"]["cores"])
    if name == "ui-h200-10k.json":
        c = "under load"
        r.goal("UI frames over 16.6 ms under the demo lanes' load (H200)", "<= 0 %", c, "cpu_frame_over_16_6ms_pct",
               r.value(c, "ours", "cpu_frame_over_16_6ms_pct") <= 0)
        r.goals.append({"kpi": "UI CPU frame time p99 under the demo lanes' load (H200)", "goal": "<= 8 ms",
                        "case": c, "metric": "cpu_frame_ms", "value": j["load"]["cpu_frame_ms"]["p99_ms"],
                        "met": j["load"]["cpu_frame_ms"]["p99_ms"] <= 8, "statistic": "p99"})
    return "ui", mach, dev, config


def models(j, r, name):
    rt = j["retrieval"]
    for side, k in (("ours", "ours"), ("BM25", "bm25")):
        for at in (1, 5, 10):
            r.add("retrieval, %d held-out packages" % rt[k]["queries"], side, "recall_at_%d" % at, "ratio",
                  rt[k]["recall@%d" % at])
    c = "retrieval, %d held-out packages" % rt["queries"]
    r.add(c, "ours", "embed_documents_per_s", "1/s", rt["embed_docs_per_s"])
    r.add(c, "ours", "embed_s", "s", rt["embed_seconds"])
    r.add(c, "ours", "search_s", "s", rt["search_seconds"])
    r.add(c, "BM25", "index_s", "s", rt["bm25_index_seconds"])
    r.add(c, "BM25", "search_s", "s", rt["bm25_search_seconds"])
    for fmt, p in sorted(j["perplexity"].items()):
        r.add("decoder perplexity, %s" % fmt, "ours", "perplexity", "ppl", p["perplexity"])
    r.add("whole run", "ours", "run_s", "s", j["seconds"])
    r.notes.append("machine: the CPU machine (2-core AMD EPYC) as the run was reported; the file recorded only "
                   "the llama.cpp backend and 2 threads")
    r.goal("trained embedder recall@10 on held-out packages, ahead of BM25", ">= 0.8", c, "recall_at_10",
           rt["ours"]["recall@10"] >= 0.8 and rt["ours"]["recall@10"] > rt["bm25"]["recall@10"], peer="BM25")
    config = {"decoder": j["decoder"], "embedder": j["embedder"], "packages": rt["packages"],
              "queries": rt["queries"], "threads": j["machine"]["threads"], "llama_backend": j["machine"]["backend"],
              "quick": j["quick"], "perplexity": {f: {"file_bytes": p["file_bytes"], "tokens": p["tokens"]}
                                                  for f, p in j["perplexity"].items()}}
    return "models", dict(EPYC), {"backend": "cpu", "name": "AMD EPYC (2 cores), llama.cpp CPU"}, config


def serve(j, r, name):
    side = "ours" if j["label"] == "ut serve" else j["label"]
    phases = {}
    ea = j["embeddings_alone"]
    runs = [("embeddings alone", ea)] + [
        ("chats=%d %s" % (x["concurrency"], "alone" if k == "chats_alone" else "+ embeddings"), x[k])
        for x in j["runs"] for k in ("chats_alone", "chats_with_embeddings")]
    for c, p in runs:
        reqs = p.get("requests", [])
        if reqs:
            ok = [q for q in reqs if q["ok"]]
            r.add(c, side, "ttft_ms", "ms", [q["ttft_ms"] for q in ok])
            r.add(c, side, "decode_tokens_per_s", "tokens/s", [q["decode_tokens_per_s"] for q in ok])
            r.add(c, side, "latency_ms", "ms", [q["total_ms"] for q in ok])
            r.add(c, side, "streamed_tokens", "tokens", [q["tokens"] for q in ok])  # counted by the client
            if all(q["completion_tokens"] >= 0 for q in ok):  # the server's usage report (-1: none)
                r.add(c, side, "usage_completion_tokens", "tokens", [q["completion_tokens"] for q in ok])
            r.add(c, side, "generated_tokens_per_s", "tokens/s", p["aggregate_tokens_per_s"])
        if p["embed_requests_ok"]:
            r.add(c, side, "embeddings_per_s", "1/s", p["embeddings_per_s"])
            lat = p["embed_latency_ms"]
            r.add(c, side, "embed_request_ms", "ms",
                  stats={"n": p["embed_requests_ok"], "median": lat["p50"], "p99": lat["p99"]})
        phases[c] = {k: p[k] for k in ("seconds", "clients", "requests_ok", "requests_failed", "tokens",
                                       "embed_requests_ok", "embed_requests_failed", "embeddings_done",
                                       "embeddings_in_window", "failures", "usage_completion_tokens") if k in p}
        if reqs:
            phases[c]["finish_reasons"] = sorted({q["finish_reason"] for q in reqs})
            phases[c]["http_status"] = sorted({q["status"] for q in reqs})
    r.notes.append("chat rows hold every request's own figures (ttft, decode rate, latency, tokens counted from "
                   "the stream, and the server's usage count where it reported one); embedding request times were "
                   "kept only as p50 / p99 by the old file")
    config = {"label": j["label"], "chat_model": j["chat_model"], "embed_model": j["embed_model"],
              "chat_url": j["chat_url"], "embed_url": j["embed_url"], "options": j["options"],
              "models_listed": j["models_listed"], "chats_ok": j["chats_ok"], "chats_failed": j["chats_failed"],
              "seconds": j["seconds"], "phases": phases}
    par = max(j["options"]["concurrency"])
    if side == "llama-server":
        config["server_flags"] = {
            "chat": "llama-server -m CHAT -ngl 99 --parallel %d -c %d" % (par, par * 1024),
            "embeddings": "llama-server -m EMB -ngl 99 --embeddings --parallel 4 -c 2048 -b 2048 -ub 2048"}
        r.notes.append("llama-server ran without --kv-unified (a KV stream per sequence); ut serve uses a unified "
                       "KV cache")
    else:
        config["server_flags"] = ("ut serve --max-heavy-ops 64" + (" --parallel %d" % par if "304d3de" not in name
                                                                   else ""))
    dev = dict(H200, memory_bytes=143771 * 1024 * 1024)
    mach = dict(XEON, cores=j["machine"]["cores"], memory_bytes=j["machine"]["memory_total_bytes"])
    return "serve", mach, dev, config


def serve_goals(r, peer_file):
    """Goals of a ut serve file against the llama-server file of the same run."""
    p = json.load(open(os.path.join(MEAS, peer_file)))
    pv = {(s["case"], s["metric"]): s["median"] for s in p["summary"] if s["side"] == "llama-server"}
    for c in ("chats=1 + embeddings", "chats=16 + embeddings"):
        r.goal("time to first token p50 under embedding load, %s concurrent chat(s), vs llama-server"
               % c.split()[0][len("chats="):], "< llama-server", c, "ttft_ms", lambda v, p: v < p,
               peer="llama-server", peer_value=pv[(c, "ttft_ms")], peer_file=peer_file,
               caveat="llama-server ran without --kv-unified")


def convert(name):
    path = os.path.join(MEAS, name)
    j = json.load(open(path))
    if "schema" in j:
        return None
    commit, commit_src, date, date_src, command = FILES[name]
    r = Run()
    kind = name.split("-")[0]
    if kind in ("timeline", "cuda"):
        suite, mach, dev, config = timeline(j, r)
    elif kind == "debian":
        suite, mach, dev, config = models(j, r, name)
    else:
        suite, mach, dev, config = {"data": data, "mixed": mixed, "ml": ml, "vector": vector, "ui": ui,
                                    "serve": serve}[kind](j, r, name)
    if suite == "serve":
        end = j["started_utc"]  # + the run's seconds: the end of the run
        import datetime
        t = datetime.datetime.strptime(end, "%Y-%m-%dT%H:%M:%SZ") + datetime.timedelta(seconds=j["seconds"])
        date, date_src = t.strftime("%Y-%m-%dT%H:%M:%SZ"), "date: started_utc + seconds from the old file"
        opts = j["options"]
        command = "ut bench serve --label '%s' --chat-url %s%s --concurrency %s --chats %d" % (
            j["label"], j["chat_url"], "" if j["embed_url"] == j["chat_url"] else " --embed-url " + j["embed_url"],
            ",".join(map(str, opts["concurrency"])), opts["chats"])
        if j["label"] == "ut serve":
            serve_goals(r, name.replace("serve-ut", "serve-llama-server"))
    added = git("log", "--diff-filter=A", "--format=%H", "--", "docs/measurements/" + name).split()[-1]
    if date is None:
        date = git("show", "-s", "--format=%cd", "--date=format-local:%Y-%m-%dT%H:%M:%SZ", added)
    notes = ["converted by scripts/convert-measurements.py from the older %s format; the original is in git "
             "history (git show %s:docs/measurements/%s)" % (suite, git("rev-parse", "--short", "HEAD"), name),
             "commit: " + commit_src, date_src, "dirty: not recorded"]
    out = {"schema": "ut-bench/1", "suite": suite, "commit": git("rev-parse", commit), "dirty": None,
           "date": date, "command": command, "machine": mach, "device": dev, "config": config,
           "samples": r.samples, "summary": r.summary, "goals": r.goals, "notes": notes + r.notes}
    if name == "debian-models-cpu.json":
        out["examples"] = j["samples"]  # three questions answered with and without retrieved context
    return out


def dump(d):
    """Indented JSON with one samples/summary/goals entry per line."""
    lines = ["{"]
    items = list(d.items())
    for i, (k, v) in enumerate(items):
        sep = "," if i + 1 < len(items) else ""
        if k in ("samples", "summary", "goals") and v:
            lines.append('  "%s": [' % k)
            lines += ["    " + json.dumps(e, ensure_ascii=False) + ("," if n + 1 < len(v) else "")
                      for n, e in enumerate(v)]
            lines.append("  ]" + sep)
        else:
            body = json.dumps(v, indent=2, ensure_ascii=False).replace("\n", "\n  ")
            lines.append('  "%s": %s%s' % (k, body, sep))
    return "\n".join(lines + ["}"]) + "\n"


def main():
    names = sorted(n for n in os.listdir(MEAS) if n.endswith(".json"))
    # serve-ut files read their llama-server peers' converted summaries: convert the peers first
    names.sort(key=lambda n: n.startswith("serve-ut"))
    for n in names:
        out = convert(n)
        if out is None:
            print("already in the schema: " + n)
            continue
        text = dump(out)  # serialised before anything is written
        with open(os.path.join(MEAS, n), "w") as f:
            f.write(text)
        print("converted %s: %d samples entries, %d goals" % (n, len(out["samples"]), len(out["goals"])))


if __name__ == "__main__":
    sys.exit(main())
