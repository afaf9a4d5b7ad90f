#!/usr/bin/env bash
# End-to-end test of the Slurm path (docs/scaleout.md): starts a single-node Slurm cluster on
# 127.0.0.1 (scripts/slurm-local.sh), writes the recall spec's job array with `lmlab lab slurm`
# (4 shards, at most 2 at once), submits it with sbatch, waits, merges the shards with
# `lmlab lab merge`, runs the same spec locally with `lmlab lab run`, and checks that both
# stores hold the same runs (same ids) with the same numbers: every evaluation and every
# metric but wall-clock seconds and CPU seconds, compared exactly. A second merge must change nothing.
# The spec is the quick recall spec cut to 30 steps on 2,000 examples (15 runs), so the whole
# test costs about a minute of CPU.
# Usage: scripts/test-slurm.sh [path/to/lmlab]   (exit 77: skipped, Slurm or munge missing)
set -euo pipefail
cd "$(dirname "$0")/.."
lmlab=$(realpath "${1:-build/lmlab}")
for b in munged slurmctld slurmd sbatch; do
  if ! command -v "$b" >/dev/null 2>&1 && [[ ! -x /usr/sbin/$b ]]; then
    echo "skipped: $b is not installed (bash scripts/deps.sh --cluster installs slurm-wlm and munge)"
    exit 77
  fi
done
[[ -x $lmlab ]] || { echo "error: test-slurm: no lmlab binary at $lmlab" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/lmlab-slurm.XXXXXX")
cluster=$work/cluster
cleanup() {
  bash scripts/slurm-local.sh stop "$cluster" || true
  if [[ ${KEEP:-0} == 1 ]]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

spec=experiments/recall.toml
sized=(--size quick --set train.steps=30 --set train.warmup_steps=5 --set task.num_train=2000 --set task.num_test=50)

eval "$(bash scripts/slurm-local.sh start "$cluster")"
echo "cluster up: SLURM_CONF=$SLURM_CONF"

"$lmlab" lab slurm "$spec" "${sized[@]}" --shards 4 --max-running 2 --cpus-per-task 1 --mem 1G --time 00:20:00 \
  --store "$work/slurm.db" --runs-dir "$work/slurm-runs" --logs "$work/logs" -o "$work/recall.sbatch"
grep -q -- '--array=0-3%2' "$work/recall.sbatch"
job=$(sbatch --parsable --wait "$work/recall.sbatch") || {
  echo "error: test-slurm: the job array failed; logs:" >&2
  tail -n 20 "$work"/logs/* >&2 || true
  exit 1
}
echo "job array $job done"
ls "$work"/logs

"$lmlab" lab merge "$spec" "${sized[@]}" --store "$work/slurm.db" --runs-dir "$work/slurm-runs"
"$lmlab" lab merge "$spec" "${sized[@]}" --store "$work/slurm.db" --runs-dir "$work/slurm-runs" | tee "$work/merge2.txt"
grep -q ' 0 added, 0 replaced, 15 unchanged, 0 files skipped' "$work/merge2.txt"

"$lmlab" lab run "$spec" "${sized[@]}" -j 1 --threads 1 --store "$work/local.db" --runs-dir "$work/local-runs"

for s in slurm local; do
  for t in runs metrics evaluations; do
    "$lmlab" lab export --store "$work/$s.db" --table "$t" -o jsonl >"$work/$s-$t.jsonl"
  done
done
python3 - "$work" <<'EOF'
import json, sys
work = sys.argv[1]
def rows(store, table):
    return [json.loads(l) for l in open(f"{work}/{store}-{table}.jsonl")]
def keyed(store, table, key, skip=lambda r: False):
    return {key(r): r["value"] for r in rows(store, table) if not skip(r)}
runs = {s: {r["name"]: r["status"] for r in rows(s, "runs")} for s in ("slurm", "local")}
assert runs["slurm"] == runs["local"], f"runs differ: {runs}"
assert len(runs["local"]) == 15 and set(runs["local"].values()) == {"finished"}, runs["local"]
ev = {s: keyed(s, "evaluations", lambda r: (r["run"], r["split"], r["slice"], r["metric"])) for s in ("slurm", "local")}
me = {s: keyed(s, "metrics", lambda r: (r["run"], r["name"], r["step"]), lambda r: r["name"] in ("seconds", "cpu_seconds"))
      for s in ("slurm", "local")}
for what, d in (("evaluations", ev), ("metrics", me)):
    assert d["slurm"].keys() == d["local"].keys(), f"{what}: different keys"
    bad = [k for k in d["local"] if d["slurm"][k] != d["local"][k]]
    assert not bad, f"{what}: {len(bad)} values differ, e.g. {bad[0]}: {d['slurm'][bad[0]]} vs {d['local'][bad[0]]}"
    print(f"{what}: {len(d['local'])} values, all equal")
print(f"runs: {len(runs['local'])}, the same ids, all finished")
EOF
echo "slurm end-to-end: ok"
