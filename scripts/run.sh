#!/usr/bin/env bash
# The README's main-job command: installs, builds, and runs the main job.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
build/lmlab --version
