#!/usr/bin/env bash
# The README's main-job command: installs, builds, fetches the pinned data and chart library,
# runs the curated experiments at their quick size (about 16 minutes on 2 cores after the build; rerunning
# skips finished runs) and writes the report to lmlab-report/index.html.
# LMLAB_SIZE=full runs the full sizes instead.
set -euo pipefail
cd "$(dirname "$0")/.."
# The binary alone: the tests and benchmarks are scripts/test.sh's (about half of a fresh
# clone's compile work; docs/lab.md "Stop 17").
LMLAB_BUILD_TARGETS=lmlab bash scripts/build.sh
# The data the experiments read (Brown for the LM experiments, Fashion-MNIST and the emoji font
# for vlm_clip_*) and the report's chart library; sha256-checked, cached after the first time.
bash scripts/test-data.sh
build/lmlab lab suite --size "${LMLAB_SIZE:-quick}" -j 2 --store lmlab.db --out lmlab-report
echo "open lmlab-report/index.html"
