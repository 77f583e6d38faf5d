#!/usr/bin/env bash
# Run HERE (a Debian 12 machine with the network), before scripts/gpu-check.sh goes to a
# GPU machine: downloads the Debian packages its builds need there (OpenBLAS OpenMP
# build, fmt, GoogleTest, nlohmann-json; for the CLI SentencePiece, PCRE2, CLI11, toml++,
# pkgconf) into .gpu-deps/ (git-ignored; about 17 MB).
# The device tool then carries it: run(carry=[".gpu-deps"], command="scripts/gpu-check.sh").
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .gpu-deps
cd .gpu-deps
apt-get download libopenblas-openmp-dev libopenblas0-openmp libgfortran5 libfmt-dev libfmt9 \
  libgtest-dev googletest nlohmann-json3-dev >/dev/null
# The cohort CLI without MPI (scripts/gpu-cli-check.sh): SentencePiece, PCRE2, CLI11,
# toml++, and pkgconf in case the image has no pkg-config.
apt-get download libsentencepiece-dev libsentencepiece0 libpcre2-dev libpcre2-8-0 libpcre2-16-0 \
  libpcre2-32-0 libpcre2-posix3 libcli11-dev libtomlplusplus-dev libtomlplusplus3 pkgconf-bin \
  libpkgconf3 >/dev/null
ls -la
du -sh .
