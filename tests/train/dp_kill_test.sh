#!/usr/bin/env bash
# A killed rank fails a data-parallel job, and the job resumes from the last checkpoint:
# `mpirun -np 2 test_dp` with rank 1 killing itself (SIGKILL) after rank 0's step-10 checkpoint
# must exit non-zero, naming the signal; then test_dp in one process resumes from that
# checkpoint onto the single-process trajectory (test_dp.cpp, data_parallel_kill.*).
# Usage: dp_kill_test.sh MPIEXEC TEST_DP [mpiexec flags...]
set -uo pipefail
mpiexec=$1 test_dp=$2
shift 2
export LMLAB_DP_KILL_DIR
LMLAB_DP_KILL_DIR=$(mktemp -d "${TMPDIR:-/tmp}/lmlab-dp-kill.XXXXXX")
trap 'rm -rf "$LMLAB_DP_KILL_DIR"' EXIT
out=$("$mpiexec" -np 2 "$@" "$test_dp" --gtest_filter='data_parallel_kill.rank_one*' 2>&1)
rc=$?
if [[ $rc -eq 0 ]]; then echo "error: the job succeeded although rank 1 was killed" >&2; echo "$out" >&2; exit 1; fi
grep -q "signal 9" <<<"$out" || { echo "error: mpirun did not name the signal:" >&2; echo "$out" >&2; exit 1; }
echo "mpirun failed the job (exit $rc): $(grep -m1 'signal 9' <<<"$out")"
[[ -f $LMLAB_DP_KILL_DIR/run/checkpoint/trainer_state.json ]] || { echo "error: no checkpoint" >&2; exit 1; }
"$test_dp" --gtest_filter='data_parallel_kill.the_killed*'
