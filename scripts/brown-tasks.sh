#!/usr/bin/env bash
# The encoder and encoder-decoder on Brown, end to end (docs/tasks.md), about an hour
# on 2 cores: genre data -> masked-LM pretraining -> classification fine-tuned from it
# and from scratch -> eval against the baselines; translation data (Apertium) ->
# encoder-decoder -> BLEU with greedy and beam search. Logs go to runs/*.log.
# Env: THREADS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
cohort=build/src/cohort
threads=${THREADS:-2}
mkdir -p runs

[ -f data/brown-genre/tokenizer/task.json ] || $cohort prepare genre --out data/brown-genre
[ -f data/brown-en-es/tokenizer/task.json ] || $cohort prepare translation --out data/brown-en-es

train() {  # train NAME ARGS...: a fresh run in runs/NAME
  local name=$1
  shift
  rm -rf "runs/$name"
  $cohort train "$@" --threads "$threads" --run-dir "runs/$name" | tee "runs/$name.log"
}
train genre-mlm -c configs/brown-genre-mlm.toml
train genre-classify -c configs/brown-genre-classify.toml
train genre-scratch -c configs/brown-genre-classify.toml --set train.init_from=""
for run in genre-classify genre-scratch; do
  $cohort eval --checkpoint "runs/$run/checkpoints/best" --split test | tee "runs/$run-eval.log"
done

train translate -c configs/brown-translate.toml
for beam in 1 4; do
  $cohort translate --checkpoint runs/translate --beam "$beam" --show 5 |
    tee "runs/translate-beam$beam.log"
done
