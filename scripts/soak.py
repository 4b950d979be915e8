#!/usr/bin/env python3
"""Soak: drives a running `ut serve` with chats (streamed and not), embeddings, SQL, document edits and hostile
requests, all at once, for DURATION seconds, and records once a minute the server's RSS, open file descriptors,
threads, the heartbeat's frame figures and the replies by class. Writes one JSON (schema ut-soak/1) and prints a
verdict against the goals: RSS growth < 1% after warm-up, no fd or thread growth, no frame over 33 ms, zero 5xx.

  python3 scripts/soak.py --url http://127.0.0.1:8080 --pid PID --duration 3600 --json soak.json
(scripts/soak.sh starts the server and calls this.) Standard library only.
"""
import argparse
import http.client
import json
import os
import random
import socket
import sys
import threading
import time
import urllib.parse
from collections import Counter


def proc_figures(pid):
    """RSS (MiB), open fds and threads of the process, from /proc."""
    rss_kb = 0
    threads = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss_kb = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    fds = sockets = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            sockets += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except OSError:  # closed meanwhile
            continue
        fds += 1
    return rss_kb / 1024.0, fds, threads, sockets


class Client:
    def __init__(self, url, token, counts, lock, errors):
        u = urllib.parse.urlparse(url)
        self.host, self.port = u.hostname, u.port or 80
        self.token = token
        self.counts, self.lock, self.errors = counts, lock, errors

    def request(self, kind, method, path, body=None, raw=None, headers=None, timeout=120):
        """One request on a fresh connection; counts its status class under `kind`. Returns (status, bytes)."""
        h = {"Content-Type": "application/json"}
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        h.update(headers or {})
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        try:
            c = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            payload = r.read()
            c.close()
            status = r.status
        except Exception as e:  # a dropped connection is an error of the server's, unless the test provoked it
            status = 0
            payload = repr(e).encode()
        with self.lock:
            self.counts[(kind, status // 100 if status else 0)] += 1
            if status >= 500 or status == 0:
                self.errors.append({"t": time.time(), "kind": kind, "path": path, "status": status,
                                    "body": payload[:300].decode("utf-8", "replace")})
        return status, payload


def chat_worker(cl, stop, rng):
    while not stop.is_set():
        stream = rng.random() < 0.5
        body = {"model": "default", "max_tokens": rng.randint(4, 24), "stream": stream,
                "messages": [{"role": "user", "content": "Which package provides %s? (%d)" % (
                    rng.choice(["pdftoppm", "curl", "git", "vim", "bash"]), rng.randint(0, 10**6))}]}
        cl.request("chat", "POST", "/v1/chat/completions", body)


def embed_worker(cl, stop, rng):
    while not stop.is_set():
        texts = ["soak text %d %s" % (rng.randint(0, 10**6), "word " * rng.randint(1, 40)) for _ in range(rng.randint(1, 8))]
        cl.request("embeddings", "POST", "/v1/embeddings", {"model": "default", "input": texts})
        stop.wait(0.2)


def sql_worker(cl, stop, rng):
    queries = ["SELECT count(*) FROM ut_documents", "SELECT 42 AS answer",
               "SELECT i % 7 AS k, count(*) AS n FROM range(200000) t(i) GROUP BY k ORDER BY k",
               "SELECT sum(i) FROM range(1000000) t(i)"]
    while not stop.is_set():
        cl.request("sql", "POST", "/api/v1/sql", {"sql": rng.choice(queries), "timeout_ms": 20000})
        stop.wait(0.3)


def docs_worker(cl, stop, rng):
    mine = []
    while not stop.is_set():
        r = rng.random()
        if r < 0.4 or not mine:
            st, p = cl.request("docs", "POST", "/api/v1/docs",
                               {"title": "soak-%d" % rng.randint(0, 10**9), "body": "paragraph %d. " % rng.randint(0, 99) * 40})
            if st == 201:
                mine.append(json.loads(p)["id"])
        elif r < 0.8:
            cl.request("docs", "PUT", "/api/v1/docs/%d" % rng.choice(mine), {"body": "edited %d. " % rng.randint(0, 99) * 30})
        else:
            cl.request("docs", "DELETE", "/api/v1/docs/%d" % mine.pop(rng.randrange(len(mine))))
        if len(mine) > 30:  # bounded: a soak measures leaks, not a growing corpus
            cl.request("docs", "DELETE", "/api/v1/docs/%d" % mine.pop(0))
        stop.wait(0.5)


HOSTILE = [
    ("POST", "/v1/chat/completions", b"{not json"),
    ("POST", "/v1/chat/completions", b'{"messages": "a string"}'),
    ("POST", "/v1/chat/completions", b'{"messages": [{"role": "user", "content": "\xff\xfe bad utf-8"}]}'),
    ("POST", "/v1/chat/completions", json.dumps({"messages": [{"role": "user", "content": "x " * 300000}]}).encode()),
    ("POST", "/v1/chat/completions", b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": -5}'),
    ("POST", "/v1/embeddings", b'{"input": 7}'),
    ("POST", "/api/v1/sql", b'{"sql": "DROP TABLE ut_documents"}'),
    ("POST", "/api/v1/sql", b'{"sql": "COPY ut_documents TO \'/tmp/x.csv\'"}'),
    ("POST", "/api/v1/sql", b'{"sql": "SELECT * FROM read_csv(\'/etc/passwd\')"}'),
    ("POST", "/api/v1/sql", b'{"sql": "SELEC broken"}'),
    ("GET", "/api/v1/docs/999999999", None),
    ("GET", "/api/v1/docs/../../etc/passwd", None),
    ("GET", "/no/such/route", None),
    ("PUT", "/api/v1/docs/abc", b'{"body": 1}'),
]


def slow_client(host, port, stop):
    """Opens a POST, sends half a header, and sits on it until the server cuts it off."""
    try:
        s = socket.create_connection((host, port), timeout=60)
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n")
        s.settimeout(60)
        try:
            s.recv(1024)
        except OSError:
            pass
        s.close()
    except OSError:
        pass


def hostile_worker(cl, stop, rng):
    while not stop.is_set():
        method, path, raw = rng.choice(HOSTILE)
        if rng.random() < 0.1:
            threading.Thread(target=slow_client, args=(cl.host, cl.port, stop), daemon=True).start()
        else:
            cl.request("hostile", method, path, raw=raw if raw is not None else None)
        stop.wait(0.1)


def get_json(cl, path):
    st, p = cl.request("stats", "GET", path, timeout=30)
    return json.loads(p) if st == 200 else {}


def duckdb_mb(cl):
    """DuckDB's own accounting of its memory (buffer pool, indexes, in-memory tables), through the SQL route."""
    st, p = cl.request("stats", "POST", "/api/v1/sql", {"sql": "SELECT sum(memory_usage_bytes) AS b FROM duckdb_memory()"})
    try:
        rows = json.loads(p).get("rows") or []
        return round(float(rows[0][0] if isinstance(rows[0], list) else list(rows[0].values())[0]) / 2**20, 1)
    except Exception:
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True)
    ap.add_argument("--pid", type=int, required=True, help="the server's process id (for RSS, fds, threads)")
    ap.add_argument("--duration", type=float, default=3600, help="seconds (default 3600)")
    ap.add_argument("--interval", type=float, default=60, help="seconds between records (default 60)")
    ap.add_argument("--warmup", type=float, default=None, help="seconds before the growth baseline (default: 2 records)")
    ap.add_argument("--token", default=os.environ.get("UT_API_TOKEN", ""))
    ap.add_argument("--json", default="soak.json")
    ap.add_argument("--machine", default="", help="a line naming the machine, for the record")
    ap.add_argument("--commit", default="", help="the server's commit, for the record")
    ap.add_argument("--device", default="", help="the GPU the server used, if any")
    a = ap.parse_args()

    counts, lock, errors = Counter(), threading.Lock(), []
    cl = Client(a.url, a.token, counts, lock, errors)
    stop = threading.Event()
    workers = [(chat_worker, 2), (embed_worker, 1), (sql_worker, 1), (docs_worker, 1), (hostile_worker, 2)]
    threads = []
    for i, (fn, n) in enumerate(workers):
        for j in range(n):
            t = threading.Thread(target=fn, args=(cl, stop, random.Random(1000 * i + j)), daemon=True)
            t.start()
            threads.append(t)

    records = []
    t0 = time.time()
    frame_max, frames_over_33 = 0.0, 0
    next_record = t0 + a.interval
    while time.time() - t0 < a.duration:
        time.sleep(min(5.0, max(0.1, a.duration - (time.time() - t0))))
        stats = get_json(cl, "/api/v1/metal/realtime-stats")
        perf = stats.get("performance", {})
        frame_max = max(frame_max, perf.get("frame_time_max_ms", 0.0))
        if perf.get("frame_time_max_ms", 0.0) > 33.3:
            frames_over_33 += 1
        if time.time() >= next_record or time.time() - t0 >= a.duration:
            next_record += a.interval
            rss, fds, nthreads, sockets = proc_figures(a.pid)
            with lock:
                by_class = {f"{k}_{c}xx" if c else f"{k}_dropped": v for (k, c), v in sorted(counts.items())}
                n5xx = sum(v for (k, c), v in counts.items() if c == 5)
            rec = {"t_s": round(time.time() - t0, 1), "rss_mb": round(rss, 1), "fds": fds, "socket_fds": sockets,
                   "threads": nthreads,
                   "frame_max_ms_in_minute": round(frame_max, 2), "samples_with_frame_over_33ms": frames_over_33,
                   "replies": by_class, "replies_5xx": n5xx,
                   # where the memory is (the server's own view), to tell a leak from caches and the allocator
                   "memory": dict(stats.get("process", {}), duckdb_mb=duckdb_mb(cl))}
            records.append(rec)
            print(json.dumps(rec), flush=True)
            frame_max, frames_over_33 = 0.0, 0
    stop.set()
    for t in threads:
        t.join(timeout=130)

    warm = a.warmup if a.warmup is not None else 2 * a.interval
    base = next((r for r in records if r["t_s"] >= warm), records[0] if records else None)
    last = records[-1] if records else None
    with lock:
        n5xx = sum(v for (k, c), v in counts.items() if c == 5)
        dropped = sum(v for (k, c), v in counts.items() if c == 0 and k != "hostile")
        total = sum(counts.values())
    worst_frame = max((r["frame_max_ms_in_minute"] for r in records), default=0.0)
    # A single record catches whatever is in flight at that second (a 600 KB hostile body is tens of MB while it
    # is parsed; a connection is a socket): growth compares the median of the first three records after warm-up
    # with the median of the last three, and file descriptors without the sockets of connections in flight.
    after = [r for r in records if r["t_s"] >= warm] or records
    med = lambda rs, k: sorted(r[k] for r in rs)[len(rs) // 2] if rs else 0
    first3, last3 = after[:3], after[-3:]
    growth = (med(last3, "rss_mb") - med(first3, "rss_mb")) / med(first3, "rss_mb") * 100 if base and last else 0.0
    files = lambda r: r["fds"] - r.get("socket_fds", 0)
    goals = [
        {"kpi": "RSS growth after warm-up (median of the last 3 records vs the first 3)", "goal": "< 1 %",
         "value": round(growth, 2), "met": growth < 1.0},
        {"kpi": "open file descriptors growth after warm-up (sockets of connections in flight left out)",
         "goal": "none", "value": files(last) - files(base), "met": files(last) <= files(base)},
        {"kpi": "threads growth after warm-up", "goal": "none", "value": last["threads"] - base["threads"],
         "met": last["threads"] <= base["threads"]},
        {"kpi": "heartbeat frames over 33 ms", "goal": "none", "value": worst_frame, "met": worst_frame <= 33.3},
        {"kpi": "5xx replies", "goal": "0", "value": n5xx, "met": n5xx == 0},
        {"kpi": "dropped connections of well-formed requests", "goal": "0", "value": dropped, "met": dropped == 0},
    ] if base and last else []
    # The keys every file of docs/measurements has: schema, commit, device, samples (here: the minute records).
    out = {"schema": "ut-soak/1", "commit": a.commit, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0)),
           "machine": a.machine, "device": {"kind": "cpu" if not a.device else "gpu", "name": a.device or a.machine},
           "config": {"duration_s": a.duration, "interval_s": a.interval, "warmup_s": warm},
           "requests": total, "samples": records, "goals": goals, "errors_first_50": errors[:50]}
    with open(a.json, "w") as f:
        json.dump(out, f, indent=1)
    for g in goals:
        print(f"{'MET   ' if g['met'] else 'MISSED'} {g['kpi']}: {g['value']} (goal {g['goal']})")
    print(f"{total} requests; saved {a.json}")
    return 0 if all(g["met"] for g in goals) else 1


if __name__ == "__main__":
    sys.exit(main())
