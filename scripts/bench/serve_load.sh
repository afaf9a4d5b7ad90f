#!/usr/bin/env bash
# Load and attack check of `lmlab serve` on 127.0.0.1 (issue 12, build item 7); results in
# docs/probe.md "Load test". Trains a tiny char-level GPT on the Brown corpus (a few seconds),
# serves it on a free port, then:
#   1. wrk (Debian package `wrk`) at 1, 16 and 256 connections against GET /health and
#      POST /v1/completions (greedy, 1 token): requests/s, latency percentiles, errors, and
#      the server's RSS before and after;
#   2. scripts/bench/serve_attack.py: slowloris and chunked-upload attacks while a normal
#      client keeps asking, reporting its latencies and the server's RSS.
# Fails (exit 1) if wrk saw any socket error or non-2xx response.
# Usage: bash scripts/bench/serve_load.sh [--duration S] [--lmlab build/lmlab]
# Not for: CI (it takes about two minutes and measures a shared machine).
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=10
lmlab=build/lmlab
while (($#)); do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --lmlab) lmlab=$2; shift 2 ;;
    *) echo "error: serve_load.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
command -v wrk >/dev/null || { echo "error: wrk is not installed" >&2; echo "hint: apt-get install wrk" >&2; exit 1; }
[[ -x $lmlab ]] || { echo "error: $lmlab not found" >&2; echo "hint: bash scripts/build.sh" >&2; exit 1; }

tmp=$(mktemp -d /tmp/lmlab-serve-load.XXXXXX)
server_pid=
cleanup() {
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load before: $(cut -d' ' -f1-3 /proc/loadavg)"

"$lmlab" train --config configs/gpt-brown.toml --set train.steps=20 --set model.d_model=64 --set model.n_layers=2 \
  --set model.n_heads=2 --set model.n_ctx=64 --set train.eval_every=1000 --set train.log_every=1000 \
  --set train.out_dir="$tmp/run" >"$tmp/train.log" 2>&1 ||
  { cat "$tmp/train.log" >&2; exit 1; }

"$lmlab" serve "$tmp/run/checkpoint" --port 0 --unknown-char ' ' -q 2>"$tmp/serve.log" &
server_pid=$!
port=
for _ in $(seq 100); do
  [[ -f $tmp/serve.log ]] || { sleep 0.1; continue; }
  port=$(grep -o '127.0.0.1:[0-9]*' "$tmp/serve.log" | head -1 | cut -d: -f2 || true)
  [[ -n $port ]] && break
  sleep 0.1
done
[[ -n $port ]] || { cat "$tmp/serve.log" >&2; echo "error: lmlab serve did not start" >&2; exit 1; }
base=http://127.0.0.1:$port
rss() { awk '/VmRSS/ {printf "%.1f MB", $2 / 1024}' "/proc/$server_pid/status"; }
echo "server: $(head -1 "$tmp/serve.log")"

cat >"$tmp/post.lua" <<'EOF'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"prompt": "The jury said", "max_tokens": 1, "temperature": 0}'
EOF

failed=0
echo
echo "| route | connections | requests/s | p50 ms | p90 ms | p99 ms | errors | RSS before | RSS after |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for route in health completions; do
  for c in 1 16 256; do
    before=$(rss)
    args=(-t "$((c < 2 ? 1 : 2))" -c "$c" -d "${duration}s" --latency --timeout 10s)
    if [[ $route == health ]]; then out=$(wrk "${args[@]}" "$base/health")
    else out=$(wrk "${args[@]}" -s "$tmp/post.lua" "$base/v1/completions"); fi
    after=$(rss)
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    pct() { awk -v p="$1" '$1 == p {v = $2; if (v ~ /us$/) {sub(/us/, "", v); v /= 1000} else if (v ~ /ms$/) {sub(/ms/, "", v)} else if (v ~ /s$/) {sub(/s/, "", v); v *= 1000}; printf "%.2f", v}' <<<"$out"; }
    sock=$(awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10}' <<<"$out")
    non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
    errors=$(( ${sock:-0} + ${non2xx:-0} ))
    ((errors == 0)) || { failed=1; echo "$out" >&2; }
    echo "| $route | $c | $rps | $(pct 50%) | $(pct 90%) | $(pct 99%) | $errors | $before | $after |"
  done
done
echo
echo "load after wrk: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
python3 scripts/bench/serve_attack.py --port "$port" --pid "$server_pid"
exit $failed
