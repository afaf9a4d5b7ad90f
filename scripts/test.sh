#!/usr/bin/env bash
# The README's test command: installs, builds, fetches the small data packages some tests
# read (into the cache outside git), and runs every ctest label (unit, ops, golden, slow).
# LMLAB_SKIP_SLOW=1 leaves out the `slow` label.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
if [[ -x scripts/test-data.sh ]]; then bash scripts/test-data.sh; fi
args=(--test-dir build --output-on-failure -j "$(nproc)")
if [[ "${LMLAB_SKIP_SLOW:-0}" == 1 ]]; then args+=(-LE slow); fi
ctest "${args[@]}"
