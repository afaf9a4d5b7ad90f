#!/usr/bin/env bash
# The README's main-job command: installs, builds, fetches the report's pinned chart library,
# runs the curated experiments at their quick size (about 15 minutes on 2 cores; rerunning
# skips finished runs) and writes the report to lmlab-report/index.html.
# LMLAB_SIZE=full runs the full sizes instead.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
bash scripts/fetch-report-assets.sh
build/lmlab data fetch brown  # the corpus of the LM experiments (posenc_lm, depth_width, mod, scaling_brown, collapse_ngram*); cached after the first time
build/lmlab lab suite --size "${LMLAB_SIZE:-quick}" -j 2 --store lmlab.db --out lmlab-report
echo "open lmlab-report/index.html"
