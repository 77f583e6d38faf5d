#!/usr/bin/env bash
# The README's first command: install what is missing, build, fetch and prepare the
# Brown corpus, train a small word-level GPT for about 5 minutes with a live progress
# line, then print its test perplexity and two generated samples.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
cohort=build/src/cohort
if [[ ! -f data/brown/dataset.json ]]; then
  $cohort prepare brown --out data/brown
fi
rm -rf runs/demo  # the demo starts fresh each time
$cohort train --config configs/demo.toml "$@"
echo
$cohort eval --checkpoint runs/demo --split test | grep -v '^RESULT'
for prompt in "The jury said" "In the morning"; do
  echo
  $cohort generate --checkpoint runs/demo --prompt "$prompt" --max-tokens 40 --seed 7 2>/dev/null
done
