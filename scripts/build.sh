#!/usr/bin/env bash
# Installs the Debian packages (scripts/deps.sh) and builds lmlab into ./build (Release).
# Usage: scripts/build.sh [extra cmake -D options]
# LMLAB_BUILD_TARGETS="lmlab ..." builds only those targets (scripts/run.sh: the binary alone);
# unset, everything (tests and benchmarks too).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
targets=()
for t in ${LMLAB_BUILD_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build build -j "$(nproc)" "${targets[@]}"
