#!/usr/bin/env python3
"""Decode tokens/s of `lmlab serve` with the KV cache / step mode against --recompute.

Starts the server on 127.0.0.1 for each mode, sends greedy /v1/completions requests (empty
prompt, BOS only, max_tokens tokens) one at a time and reports completion tokens per second
of wall time (prefill included; it is one token here). Not a load test (see docs/probe.md, wrk).
Usage: scripts/bench/serve_decode.py [build/lmlab] [model] [max_tokens] [repeats]
"""
import json, subprocess, sys, time, urllib.request

lmlab = sys.argv[1] if len(sys.argv) > 1 else "build/lmlab"
model = sys.argv[2] if len(sys.argv) > 2 else "../shared/models/stories260K.gguf"
max_tokens = int(sys.argv[3]) if len(sys.argv) > 3 else 256
repeats = int(sys.argv[4]) if len(sys.argv) > 4 else 3

for mode, port, extra in (("kv_cache", 18431, []), ("recompute", 18432, ["--recompute"])):
    srv = subprocess.Popen([lmlab, "serve", model, "--port", str(port), "-q"] + extra,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/v1/completions"
        for _ in range(100):  # wait for the port (at most 10 s)
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1)
                break
            except Exception:
                time.sleep(0.1)
        body = json.dumps({"prompt": "", "max_tokens": max_tokens, "temperature": 0}).encode()
        best, text = 0.0, None
        for _ in range(repeats):
            t0 = time.perf_counter()
            req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
            r = json.load(urllib.request.urlopen(req, timeout=600))
            dt = time.perf_counter() - t0
            best = max(best, r["usage"]["completion_tokens"] / dt)
            text = r["choices"][0]["text"] if text is None else text
        print(f"{mode:10s} {best:10.1f} tokens/s (best of {repeats}, {max_tokens} tokens)  text[:40]={text[:40]!r}")
    finally:
        srv.terminate()
        srv.wait()
