#!/usr/bin/env bash
# The hostile-input campaign of issue 12, rerunnable: mutated model files (config.json,
# tokenizer.json, safetensors, GGUF), hostile replies to the probe client, hostile clients of
# `lmlab serve`, hostile flags and specs, and kill -9 during a sweep. Prints what each attack
# got and a FINDING line for each failure; exits 1 if there was any. Results: docs/reliability.md.
# Usage: scripts/attack.sh [N]   N mutated files per format (default 300)
# Needs: build/lmlab (scripts/build.sh), the Brown corpus in the cache (scripts/test-data.sh),
# python3 (standard library only). Takes minutes: not a ctest.
set -uo pipefail
cd "$(dirname "$0")/.."
n="${1:-300}"
bin="$(pwd)/build/lmlab"
gguf="$(pwd)/../shared/models/stories260K.gguf"
work="$(mktemp -d /tmp/lmlab-attack.XXXXXX)"
trap 'rm -rf "$work"' EXIT
findings=0
finding() { echo "FINDING: $*"; findings=$((findings + 1)); }
# run TAG EXPECT_RC CMD...: the exit status must be EXPECT_RC and stderr must not show a crash
run() {
  local tag="$1" want="$2"; shift 2
  local err rc
  err="$("$@" 2>&1 >/dev/null)"; rc=$?
  echo "$tag: exit $rc | $(echo "$err" | grep -m1 '^error' | cut -c1-140)"
  if [[ $rc -ne $want ]] || grep -qE 'terminate called|Segmentation|Sanitizer' <<<"$err"; then finding "$tag (exit $rc, wanted $want)"; fi
}
echo "== a tiny checkpoint to mutate"
"$bin" train --config configs/gpt-brown.toml --set model.d_model=32 --set model.n_layers=1 \
  --set model.n_heads=2 --set model.n_ctx=32 --set train.steps=20 --set train.eval_every=10 \
  --set train.threads=1 --set train.out_dir="$work/tiny" >/dev/null || { echo "error: could not train the tiny checkpoint" >&2; exit 2; }
echo "== mutated files ($n per format)"
python3 scripts/attack/mutate_files.py "$bin" "$work/tiny/checkpoint" "$gguf" "$work" "$n" || finding "mutated files (above)"
echo "== hostile replies to the probe client"
python3 scripts/attack/probe_replies.py "$bin" "$work" || finding "probe client (above)"
echo "== hostile clients of lmlab serve"
python3 scripts/attack/serve_clients.py "$bin" "$gguf" || finding "serve (above)"
echo "== flags and specs"
cat >"$work/hf.json" <<'J'
{"model_type":"llama","hidden_size":512,"intermediate_size":1376,"num_hidden_layers":4,"num_attention_heads":8,"num_key_value_heads":3,"vocab_size":32000}
J
run "kv heads not dividing heads" 1 "$bin" plan memory --model "$work/hf.json"
sed -i 's/"num_key_value_heads":3/"num_key_value_heads":4/' "$work/hf.json"
run "plan memory --context 1e19" 1 "$bin" plan memory --model "$work/hf.json" --context 1e19
run "plan parallel --tp 3 (8 heads)" 1 "$bin" plan parallel --model "$work/hf.json" --tp 3 --devices 3
run "plan inference --loss 2.0,2.1" 1 "$bin" plan inference --loss 2.0,2.1
run "plan specdec --gamma 3e9" 1 "$bin" plan specdec --gamma 3000000000
run "lab nonsense --help" 2 "$bin" lab nonsense --help
run "train --set model.d_mlp=2^63-1" 1 "$bin" train --config configs/gpt-brown.toml --set model.d_mlp=9223372036854775807 --set train.out_dir="$work/x"
{ echo 'name = "big"'; echo 'question = "q"'; echo 'seeds = [0,1,2,3,4,5,6,7,8,9]'; echo '[model]'
  for k in d_model n_layers n_heads d_state attn_conv; do echo "$k = \"1,2,3,4,5,6,7,8,9,10\""; done
  echo '[task]'; echo 'name = "mqar"'; echo '[train]'; echo 'steps = 1'; } >"$work/big.toml"
start=$(date +%s%N)
run "a spec of 1,000,000 runs" 1 "$bin" lab run "$work/big.toml" --store "$work/big.db"
ms=$(( ($(date +%s%N) - start) / 1000000 )); echo "  refused in $ms ms"; (( ms < 5000 )) || finding "the 1,000,000-run spec took $ms ms to refuse"
mkdir -p "$work/ex" && cp experiments/tms_phase.toml "$work/ex/"
(cd "$work" && "$bin" lab suite --size quick --experiments ex --store inj.db --out "x'; touch PWNED; echo '" >/dev/null 2>&1)
if [[ -e "$work/PWNED" ]]; then finding "lab suite --out reached a shell"; else echo "lab suite --out with shell syntax: no shell"; fi
echo "== kill -9 during a sweep, then resume"
cat >"$work/k.toml" <<'T'
name = "killtest"
question = "q"
seeds = [0, 1, 2]
[model]
arch = "attention"
d_model = "16,24"
n_layers = 1
n_heads = 2
[task]
name = "mqar"
vocab_size = 32
seq_len = 16
num_kv_pairs = 2
num_train = 500
num_test = 50
[train]
steps = 600
batch_size = 16
lr = 3e-3
eval_every = 50
T
kills=0
for i in $(seq 1 20); do
  "$bin" lab run "$work/k.toml" --store "$work/k.db" --runs-dir "$work/runs" >/dev/null 2>&1 & pid=$!
  sleep "$(python3 -c 'import random; print(random.uniform(0.2, 1.5))')"
  if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; kills=$((kills + 1)); fi
  wait "$pid" 2>/dev/null
done
"$bin" lab run "$work/k.toml" --store "$work/k.db" --runs-dir "$work/runs" >/dev/null 2>&1 || finding "the sweep did not finish after $kills kills"
python3 - "$work/k.db" "$kills" <<'P' || finding "the store after kill -9 (above)"
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
status = dict(c.execute("select status, count(*) from runs group by status").fetchall())
nulls = c.execute("select count(*) from metrics where name = 'final_train_loss' and value is null").fetchone()[0]
dups = c.execute("select count(*) from (select run_id, name, step from metrics group by run_id, name, step having count(*) > 1)").fetchone()[0]
print(f"after {sys.argv[2]} kills: runs {status}, final_train_loss NULL {nulls}, duplicated metric rows {dups}")
sys.exit(0 if status == {"finished": 6} and nulls == 0 and dups == 0 else 1)
P
echo "== $findings finding(s)"
exit $((findings > 0))
