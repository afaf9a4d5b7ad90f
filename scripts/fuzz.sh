#!/usr/bin/env bash
# Builds the fuzz targets (fuzz/fuzz_<name>.cpp) with clang, libFuzzer, ASan and UBSan into
# build-fuzz/ and runs each for SECONDS (default 600), starting from its committed seed corpus
# (fuzz/corpus/<name>/; new inputs go to build-fuzz/fuzz/corpus-<name>/, crashes to
# build-fuzz/fuzz/crash-<name>-*). Prints one line per target: executions, crashes, seconds.
# Usage: scripts/fuzz.sh [SECONDS] [NAME...]     e.g. scripts/fuzz.sh 3600 safetensors
# FUZZ_RUNS=N stops each target after N executions instead (SECONDS is then a cap, 0 = none):
#   FUZZ_RUNS=10000000 scripts/fuzz.sh 0 toml_spec
# Needs clang, libclang-rt-14-dev and libfuzzer-14-dev (scripts/deps.sh installs them).
# Not for: CI's short runs (ctest -L fuzz replays the corpora in every build; in a
# -DLMLAB_FUZZ=ON build it fuzzes each target for LMLAB_FUZZ_SECONDS).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-600}"
shift || true
names=("$@")
if ((${#names[@]} == 0)); then
  for f in fuzz/fuzz_*.cpp; do n=$(basename "$f" .cpp); names+=("${n#fuzz_}"); done
fi
launcher=()
if command -v ccache >/dev/null 2>&1; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache); fi
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DLMLAB_FUZZ=ON -DLMLAB_BUILD_TESTS=OFF -DLMLAB_BUILD_BENCH=OFF "${launcher[@]}" >/dev/null
targets=()
for n in "${names[@]}"; do targets+=("fuzz_$n"); done
cmake --build build-fuzz -j "$(nproc)" --target "${targets[@]}"
status=0
for n in "${names[@]}"; do
  work="build-fuzz/fuzz/corpus-$n"
  log="build-fuzz/fuzz/$n.log"
  mkdir -p "$work"
  start=$(date +%s)
  rc=0
  limits=(-max_total_time="$secs")
  if [[ -n "${FUZZ_RUNS:-}" ]]; then limits+=(-runs="$FUZZ_RUNS"); fi
  ASAN_OPTIONS=detect_leaks=0 "build-fuzz/fuzz/fuzz_$n" "${limits[@]}" -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="build-fuzz/fuzz/crash-$n-" "$work" "fuzz/corpus/$n" >"$log" 2>&1 || rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  crashes=$(find build-fuzz/fuzz -maxdepth 1 -name "crash-$n-*" | wc -l)
  echo "fuzz $n: ${execs} executions, ${crashes} crash inputs, $(( $(date +%s) - start )) s, exit $rc (log: $log)"
  if ((rc != 0)); then status=1; fi
done
exit "$status"
