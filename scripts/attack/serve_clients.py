# Hostile-input campaign (docs/reliability.md): hostile clients against `lmlab serve`.
# Usage: serve_clients.py LMLAB MODEL (a .gguf or checkpoint). NSLOW: slowloris connections
# (default 200, below --max-connections 256; past it new connections get 503 until the
# header timeout frees slots). Prints what each attack got; the caller reads it.
import json, os, re, socket, subprocess, sys, threading, time
BIN, MODEL = sys.argv[1], sys.argv[2]
srv = subprocess.Popen([BIN, "serve", MODEL, "--port", "0", "--quiet", "--threads", "4", "--model-name", "m"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
port = None
t0 = time.time()
while port is None and time.time() - t0 < 60:
    line = srv.stdout.readline()
    m = re.search(r"127\.0\.0\.1:(\d+)", line)
    if m: port = int(m.group(1))
threading.Thread(target=lambda: [None for _ in srv.stdout], daemon=True).start()
print("serve on port", port)
FINDINGS = []
def expect(ok, what):
    if not ok: FINDINGS.append(what)
def rss():
    st = open(f"/proc/{srv.pid}/status").read()
    return {k: v for k, v in re.findall(r"(VmRSS|VmHWM):\s+(\d+ kB)", st)}
def req(raw, timeout=20, read_all=True):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(raw); out = b""; t = time.time()
    try:
        while True:
            x = s.recv(65536)
            if not x: break
            out += x
            if not read_all: break
    except socket.timeout: out += b"<timeout>"
    s.close(); return out, time.time() - t
def post(path, body, extra=b""):
    b = json.dumps(body).encode() if not isinstance(body, bytes) else body
    return req(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " + str(len(b)).encode() + b"\r\nConnection: close\r\n" + extra + b"\r\n" + b)
def status(out): return out.split(b"\r\n", 1)[0].decode(errors="replace")
def normal(tag):
    out, dt = post("/v1/completions", {"model": "m", "prompt": "Once", "max_tokens": 4, "temperature": 0})
    print(f"  {tag}: normal request -> {status(out)} in {dt:.2f}s")
    expect(b" 200 " in out[:16] and dt < 10, f"normal request {tag}: {status(out)} in {dt:.1f}s")
print("RSS start", rss()); normal("baseline")
# 11. slowloris: 300 connections trickling headers
socks = []
for i in range(int(os.environ.get("NSLOW", "200"))):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5); s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n"); socks.append(s)
    except OSError as e: print("  slowloris connect failed at", i, e); break
def trickle():
    for k in range(15):
        for s in socks:
            try: s.sendall(b"X-a: b\r\n")
            except OSError: pass
        time.sleep(1)
th = threading.Thread(target=trickle); th.start(); time.sleep(2)
print(f"slowloris: {len(socks)} trickling connections open"); normal("during slowloris")
th.join()
closed = 0
for s in socks:
    try:
        s.settimeout(0.2); d = s.recv(4096)
        if d.startswith(b"HTTP/1.1 408") or d.startswith(b"HTTP/1.1 503") or d == b"": closed += 1
    except OSError: pass
    s.close()
print(f"  slowloris connections answered 408/503 or closed by the server: {closed}/{len(socks)}"); normal("after slowloris")
# 12. chunked 200 MB upload
s = socket.create_connection(("127.0.0.1", port), timeout=30)
s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n")
chunk = b"%x\r\n" % (1 << 20) + b"a" * (1 << 20) + b"\r\n"; sent = 0
try:
    for i in range(200): s.sendall(chunk); sent += 1
except OSError: pass
try: resp = s.recv(4096)
except OSError: resp = b"<reset>"
s.close()
expect(b" 413 " in resp[:16] and int(rss()["VmHWM"].split()[0]) < 300_000, "chunked upload not refused while reading, or RSS past 300 MB")
print(f"chunked 200 MiB upload: sent {sent} MiB before the server stopped reading; reply {status(resp) if resp else resp}; RSS {rss()}")
normal("after chunked")
# 13. malformed framing
for tag, raw in [("Content-Length -5", b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"),
                 ("Content-Length 2^64+1", b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551617\r\n\r\n"),
                 ("TLS ClientHello bytes", bytes.fromhex("160301020001000200030300") + os.urandom(64)),
                 ("request line garbage", b"\x00\x01\x02 / HTTP/9.9\r\n\r\n")]:
    out, dt = req(raw, timeout=15)
    print(f"{tag}: '{status(out)[:60]}' after {dt:.1f}s")
    expect(b" 400 " in out[:16] and dt < 5, f"{tag}: no 400 within 5 s")
b1 = json.dumps({"model": "m", "prompt": "Once", "max_tokens": 2, "temperature": 0}).encode()
one = b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " + str(len(b1)).encode() + b"\r\n\r\n" + b1
out, dt = req(one + one + one[:-3].replace(b"Host: x", b"Host: x\r\nConnection: close") + one[-3:], timeout=20)
lines = [l.decode() for l in re.findall(rb'HTTP/1.1 [0-9]+ [A-Za-z ]+', out)]
print(f"pipelined 3 requests: {len(lines)} status lines: {lines}")
expect(len(lines) == 3 and all(" 200 " in l for l in lines), "pipelined requests not all answered")
out, _ = post("/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": [{"type": 5, "text": "hi"}]}], "max_tokens": 2})
print("content part with non-string type:", status(out))
expect(b" 400 " in out[:16], "non-string content part type: not 400")
out, _ = post("/v1/completions", {"model": "m", "prompt": ["Once"] * 64, "n": 16, "max_tokens": 2048})
print("64 prompts x n16 x 2048 tokens:", status(out), out.split(b"\r\n\r\n", 1)[-1][:160])
expect(b" 400 " in out[:16], "an over-budget request was accepted")
# disconnect during a long non-streaming generation: CPU must drop after the client goes away
def cpu(): return sum(int(x) for x in open(f"/proc/{srv.pid}/stat").read().split(")")[1].split()[11:13])
b = json.dumps({"model": "m", "prompt": "Once", "max_tokens": 2000, "n": 8, "temperature": 1}).encode()
s = socket.create_connection(("127.0.0.1", port)); s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " + str(len(b)).encode() + b"\r\n\r\n" + b)
time.sleep(1.0); c0 = cpu(); time.sleep(1.0); busy = cpu() - c0
s.close(); time.sleep(1.5); c1 = cpu(); time.sleep(2.0); after = cpu() - c1
print(f"client disconnect mid-generation: server CPU ticks/s before {busy:.0f}, after {after/2:.0f}")
expect(after / 2 < max(5, busy / 5), "generation went on after the client disconnected")
normal("at end"); print("RSS end", rss())
srv.terminate(); srv.wait(10); print("server exit", srv.returncode)
print("FINDINGS:", FINDINGS or "none")
sys.exit(1 if FINDINGS else 0)
