#!/usr/bin/env python3
"""Slowloris and chunked-upload attacks on a running `lmlab serve` at 127.0.0.1 (issue 12).

While each attack runs, a normal client asks for a one-token completion every 0.25 s and
records how long the answer took and its status; the server's RSS (VmRSS, sampled every
50 ms) is reported. All traffic goes to 127.0.0.1, every phase stops by itself.
  slowloris N  N connections send one header line per second and never finish their headers
  chunked      4 uploads of 200 MB each, chunked, against the 8 MiB body limit
Usage: python3 scripts/bench/serve_attack.py --port PORT --pid SERVER_PID
Called by scripts/bench/serve_load.sh; results in docs/probe.md "Load test".
"""
import argparse
import json
import socket
import threading
import time

BODY = json.dumps({"prompt": "The jury said", "max_tokens": 1, "temperature": 0}).encode()


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def ask(port):
    """One completion on a fresh connection: (status, seconds); status 0 when no answer."""
    t0 = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Connection: close\r\nContent-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        return int(data[9:12]) if data.startswith(b"HTTP/1.1 ") else 0, time.monotonic() - t0
    except OSError:
        return 0, time.monotonic() - t0


class watcher:
    """Asks every 0.25 s and samples the server's RSS every 50 ms until stopped."""

    def __init__(self, port, pid):
        self.port, self.pid = port, pid
        self.asks, self.rss = [], []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._ask), threading.Thread(target=self._rss)]
        for t in self.threads:
            t.start()

    def _ask(self):
        while not self.stop.is_set():
            self.asks.append(ask(self.port))
            self.stop.wait(0.25)

    def _rss(self):
        while not self.stop.is_set():
            self.rss.append(rss_mb(self.pid))
            self.stop.wait(0.05)

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join()
        lat = sorted(s for _, s in self.asks)
        statuses = {}
        for st, _ in self.asks:
            statuses[st] = statuses.get(st, 0) + 1
        return {"asks": len(self.asks), "statuses": statuses,
                "p50_ms": round(1000 * lat[len(lat) // 2], 1) if lat else None,
                "max_ms": round(1000 * lat[-1], 1) if lat else None,
                "rss_peak_mb": round(max(self.rss), 1) if self.rss else None}


def slowloris(port, pid, n, seconds):
    before = rss_mb(pid)
    w = watcher(port, pid)
    socks, answers = [], {}
    for _ in range(n):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            s.setblocking(False)
            socks.append(s)
        except OSError:
            answers["connect failed"] = answers.get("connect failed", 0) + 1
    t0 = time.monotonic()
    open_socks = list(socks)
    while open_socks and time.monotonic() - t0 < seconds:
        still = []
        for s in open_socks:
            try:
                data = s.recv(4096)
                status = data[9:12].decode() if data.startswith(b"HTTP/1.1 ") else "closed"
                answers[status] = answers.get(status, 0) + 1
                s.close()
                continue
            except BlockingIOError:
                pass
            except OSError:
                answers["reset"] = answers.get("reset", 0) + 1
                s.close()
                continue
            try:
                s.send(b"X-Slow: a\r\n")
                still.append(s)
            except OSError:
                answers["reset"] = answers.get("reset", 0) + 1
                s.close()
        open_socks = still
        time.sleep(1.0)
    for s in open_socks:
        answers["still open"] = answers.get("still open", 0) + 1
        s.close()
    r = w.finish()
    r.update({"attack": f"slowloris {n}", "attackers": answers, "seconds": round(time.monotonic() - t0, 1),
              "rss_before_mb": round(before, 1), "rss_after_mb": round(rss_mb(pid), 1)})
    return r


def chunked(port, pid, uploads, mb):
    before = rss_mb(pid)
    w = watcher(port, pid)
    results = []

    def upload():
        chunk = b"10000\r\n" + b"a" * 0x10000 + b"\r\n"
        sent, t0 = 0, time.monotonic()
        status = "closed"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
                s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
                try:
                    while sent < mb << 20:
                        s.sendall(chunk)
                        sent += 0x10000
                except OSError:
                    pass
                data = s.recv(4096)
                if data.startswith(b"HTTP/1.1 "):
                    status = data[9:12].decode()
        except OSError:
            pass
        results.append({"status": status, "sent_mb": round(sent / 2**20, 1), "seconds": round(time.monotonic() - t0, 2)})

    ts = [threading.Thread(target=upload) for _ in range(uploads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    time.sleep(0.5)
    r = w.finish()
    r.update({"attack": f"chunked {uploads} x {mb} MB", "uploads": results, "rss_before_mb": round(before, 1),
              "rss_after_mb": round(rss_mb(pid), 1)})
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=15)
    a = ap.parse_args()
    for r in (slowloris(a.port, a.pid, 200, a.seconds), slowloris(a.port, a.pid, 400, a.seconds),
              chunked(a.port, a.pid, 4, 200)):
        print(json.dumps(r))


if __name__ == "__main__":
    main()
