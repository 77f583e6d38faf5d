#!/usr/bin/env bash
# The main job: build, then train a small GPT on generated token sequences with a live
# progress line, and report the held-out loss. (Real corpora: the data issue.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec build/src/cohort train --synthetic --config configs/demo.toml "$@"
