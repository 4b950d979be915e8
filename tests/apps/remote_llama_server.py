#!/usr/bin/env python3
"""`ut serve --chat-url` against llama.cpp's own server (llama-server, built by scripts/build-llama-server.sh):
the answer through ut serve equals llama-server's own for the same greedy request (asked twice first, so that
llama-server's prompt cache is warm for both), usage comes through, the streamed answer joins to the same text and
ends with a usage chunk, and once llama-server is gone ut serve answers 502 upstream_error.

    python3 tests/apps/remote_llama_server.py UT_BINARY LLAMA_SERVER_DIR LLAMA_CPU_LIB_DIR MODEL.gguf

Exits 77 (ctest: skipped) when llama-server is not built, unless UT_REQUIRE_PEERS=1 (`scripts/test.sh --peers`
builds it and sets that): then it fails.
"""
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port, body, timeout=120):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_health(port, proc, seconds=120):
    end = time.time() + seconds
    while time.time() < end:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return True
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.2)
    return False


def main():
    ut, server_dir, cpu_libs, model = sys.argv[1:5]
    binary = os.path.join(server_dir, "bin", "llama-server")
    if not os.path.exists(binary):
        why = f"llama-server is not built ({binary}; scripts/build-llama-server.sh builds it)"
        if os.environ.get("UT_REQUIRE_PEERS") == "1":
            print(f"FAILED: {why}, and UT_REQUIRE_PEERS=1 requires it")
            return 1
        print(f"SKIPPED: {why}")
        return 77
    failures = []

    def check(ok, what, detail=""):
        print(("ok: " if ok else "FAILED: ") + what + ("" if ok or not detail else f" -- {detail}"))
        if not ok:
            failures.append(what)

    tmp = tempfile.mkdtemp(prefix="ut-remote-llama-")
    procs = []
    try:
        # ggml's CPU backends are loaded from the executable's folder (GGML_BACKEND_DL), as in scripts/gpu/bench-serve.sh.
        bin_dir = os.path.join(tmp, "bin")
        shutil.copytree(os.path.join(server_dir, "bin"), bin_dir, symlinks=True)
        for lib in glob.glob(os.path.join(cpu_libs, "libggml-cpu-*.so")):
            shutil.copy(lib, bin_dir)
        env = dict(os.environ, LD_LIBRARY_PATH=bin_dir)
        p_llama = free_port()
        llama = subprocess.Popen([os.path.join(bin_dir, "llama-server"), "-m", model, "--host", "127.0.0.1",
                                  "--port", str(p_llama), "-c", "2048", "-np", "2"], env=env,
                                 stdout=open(os.path.join(tmp, "llama-server.log"), "w"), stderr=subprocess.STDOUT)
        procs.append(llama)
        if not wait_health(p_llama, llama):
            print(open(os.path.join(tmp, "llama-server.log")).read()[-3000:])
            check(False, "llama-server started")
            return 1
        p_ut = free_port()
        utp = subprocess.Popen([ut, "serve", "--port", str(p_ut), "--db", os.path.join(tmp, "r.duckdb"),
                                "--chat-url", f"http://127.0.0.1:{p_llama}"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
        procs.append(utp)
        banner = ""
        for line in utp.stdout:
            banner += line
            if line.startswith("ut serve:"):
                break
        check("ut serve:" in banner, "ut serve started with --chat-url", banner[-2000:])
        if failures:
            return 1

        q = {"messages": [{"role": "user", "content": "Which package provides the apt command?"}],
             "max_tokens": 16, "temperature": 0}
        post(p_llama, q)  # llama-server's prompt cache now holds the prompt: the direct answer below and the
        status, direct = post(p_llama, q)  # forwarded one are computed the same way
        check(status == 200, "llama-server answers directly", direct[:300])
        status, fwd = post(p_ut, q)
        check(status == 200, "ut serve answers through llama-server", fwd[:300])
        d, f = json.loads(direct), json.loads(fwd)
        text = d["choices"][0]["message"]["content"]
        check(f["choices"][0]["message"]["content"] == text, "the same answer as llama-server's own",
              f"{f['choices'][0]['message']['content']!r} vs {text!r}")
        check(f["usage"]["completion_tokens"] == 16 and f["usage"]["prompt_tokens"] == d["usage"]["prompt_tokens"],
              "llama-server's usage comes through", json.dumps(f["usage"]))

        status, sse = post(p_ut, dict(q, stream=True, stream_options={"include_usage": True}))
        joined, usage = "", None
        for line in sse.splitlines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            c = json.loads(line[6:])
            if c.get("choices"):
                joined += c["choices"][0]["delta"].get("content") or ""
            if c.get("usage"):
                usage = c["usage"]
        check(status == 200 and joined == text, "the streamed answer joins to the same text", repr(joined))
        check(bool(usage) and usage["completion_tokens"] == 16, "the stream ends with usage", json.dumps(usage))

        llama.terminate()
        llama.wait(timeout=30)
        status, gone = post(p_ut, q)
        check(status == 502 and json.loads(gone)["error"]["type"] == "upstream_error",
              "llama-server gone: 502 upstream_error", f"{status} {gone[:300]}")
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    print("all checks passed" if not failures else f"{len(failures)} check(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
