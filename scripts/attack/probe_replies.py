# Hostile-input campaign (docs/reliability.md): hostile replies to the probe client from a
# raw-socket fake server. Usage: probe_replies.py LMLAB WORKDIR. A crash, a timeout or a
# response cached although it was unusable is a finding.
import json, os, socket, subprocess, sys, threading, time, shutil
BIN, WORKDIR = sys.argv[1], sys.argv[2]
FINDINGS = []
MODE = {"m": None}; COUNT = {"n": 0}
def chat_body(content):
    return json.dumps({"id": "x", "object": "chat.completion", "model": "m", "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop", "logprobs": None}]}).encode()
def reply(c, status, body, extra=b"", ctype=b"application/json"):
    c.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Type: " + ctype + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n" + extra + b"Connection: close\r\n\r\n" + body)
def handle(c):
    try:
        data = b""
        while b"\r\n\r\n" not in data:
            x = c.recv(65536)
            if not x: return
            data += x
        head, rest = data.split(b"\r\n\r\n", 1)
        cl = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"): cl = int(line.split(b":")[1])
        while len(rest) < cl:
            x = c.recv(65536)
            if not x: break
            rest += x
        COUNT["n"] += 1
        m = MODE["m"]
        if m == "regex_spaces": reply(c, b"200 OK", chat_body("The answer is" + " " * 40000 + "B"))
        elif m == "lead_spaces": reply(c, b"200 OK", chat_body(" " * 300000 + "B"))
        elif m == "conf_digits": reply(c, b"200 OK", chat_body("Confidence: 1." + "7" * 300000))
        elif m == "sse_index":
            ev = b"data: " + json.dumps({"id": "x", "object": "chat.completion.chunk", "choices": [{"index": 100000000, "delta": {"content": "B"}, "finish_reason": None}]}).encode() + b"\n\ndata: [DONE]\n\n"
            reply(c, b"200 OK", ev, ctype=b"text/event-stream")
        elif m == "empty_choices": reply(c, b"200 OK", b'{"id":"x","object":"chat.completion","choices":[]}')
        elif m == "retry_after": reply(c, b"429 Too Many Requests", b'{"error":{"message":"slow down"}}', extra=b"Retry-After: " + b"9" * 400 + b"\r\n")
        elif m == "trickle":
            c.sendall(b"HTTP/1.1 200 OK\r\n")
            for i in range(60):
                c.sendall(b"X-Slow-%d: a\r\n" % i); time.sleep(1)
        elif m == "huge_body":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1073741824\r\nConnection: close\r\n\r\n")
            chunk = b"{\"a\":\"" + b"x" * (1 << 20)
            sent = 0
            while sent < (1 << 30):
                c.sendall(chunk); sent += len(chunk)
        elif m == "ok": reply(c, b"200 OK", chat_body("B. Confidence: 0.7"))
    except (BrokenPipeError, ConnectionResetError, OSError): pass
    finally:
        try: c.close()
        except OSError: pass
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); srv.bind(("127.0.0.1", 0)); srv.listen(64)
port = srv.getsockname()[1]
def loop():
    while True:
        c, _ = srv.accept(); threading.Thread(target=handle, args=(c,), daemon=True).start()
threading.Thread(target=loop, daemon=True).start()
W = os.path.join(WORKDIR, "probe")
def probe(mode, extra=(), env=None, tag=None, fresh=True, timeout=120):
    MODE["m"] = mode; COUNT["n"] = 0
    if fresh: shutil.rmtree(W, ignore_errors=True)
    os.makedirs(W, exist_ok=True)
    args = ["/usr/bin/time", "-f", "MAXRSS_KB %M", BIN, "probe", "run", "--model", "t/m", "--base-url", f"http://127.0.0.1:{port}/v1",
            "--suite", "calibration", "--n", "2", "--lang", "en", "--retries", "1", "-j", "2",
            "--store", W + "/s.db", "--out", W + "/out"] + list(extra)
    t = time.time()
    try:
        p = subprocess.run(args, capture_output=True, text=True, errors="replace", timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        print(f"{tag or mode}: TIMEOUT after {timeout}s (requests {COUNT['n']})"); FINDINGS.append(tag or mode); return None
    rss = [l for l in p.stderr.splitlines() if l.startswith("MAXRSS_KB")]
    err = [l for l in p.stderr.splitlines() if l.startswith("error") or "terminate" in l or "Segmentation" in l or "signal" in l.lower()]
    crashed = "Command terminated by signal" in p.stderr or "terminate called" in p.stderr or p.returncode > 2
    if crashed: FINDINGS.append(tag or mode)
    print(f"{tag or mode}: rc {p.returncode} {'CRASH ' if crashed else ''}{time.time()-t:.1f}s requests {COUNT['n']} {rss[0] if rss else ''} | {err[:1]}")
    return p
for m in ["regex_spaces", "lead_spaces", "conf_digits"]:
    probe(m); probe(m, fresh=False, tag=m + " (rerun from cache)")
probe("sse_index", ["--stream"])
probe("empty_choices"); probe("empty_choices", fresh=False, tag="empty_choices rerun (must ask again)")
if COUNT["n"] == 0: FINDINGS.append("an empty reply was cached")
probe("retry_after", timeout=200, tag="400-digit Retry-After (capped at 120 s)")
probe("trickle", ["--timeout", "3"], tag="trickling headers, --timeout 3")
probe("huge_body", tag="1 GiB body")
env = dict(os.environ, OPENAI_API_KEY="a"); probe("ok", env=env, tag="OPENAI_API_KEY=a", timeout=60)
env = dict(os.environ, OPENAI_API_KEY="red"); probe("ok", env=env, tag="OPENAI_API_KEY=red", timeout=60)
print("FINDINGS:", FINDINGS or "none")
sys.exit(1 if FINDINGS else 0)
