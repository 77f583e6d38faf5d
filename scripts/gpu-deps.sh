#!/usr/bin/env bash
# Run HERE (a Debian 12 machine with the network), before scripts/gpu-check.sh goes to a
# GPU machine: downloads the few Debian packages the backends-only build needs there
# (OpenBLAS OpenMP build, fmt, GoogleTest) into .gpu-deps/ (git-ignored; about 15 MB).
# The device tool then carries it: run(carry=[".gpu-deps"], command="scripts/gpu-check.sh").
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .gpu-deps
cd .gpu-deps
apt-get download libopenblas-openmp-dev libopenblas0-openmp libgfortran5 libfmt-dev libfmt9 \
  libgtest-dev googletest nlohmann-json3-dev >/dev/null
ls -la
du -sh .
