#!/usr/bin/env bash
# Builds (through bootstrap) and runs every test; prints a failing test's output.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j"$(nproc)" "$@"
