#!/usr/bin/env bash
# The memory planner's total (printed at `cohort train` start-up) against the run's peak
# RSS (GNU time's %M), for five runs of 3 steps with a final checkpoint, 2 threads.
# Needs data/brown, data/brown-en-es and data/brown-genre (scripts/brown-tasks.sh).
# Usage: bench/plan_vs_rss.sh COHORT
set -uo pipefail
c=$1
run() {
  local name=$1 d
  shift
  d=$(mktemp -d)
  /usr/bin/time -f "%M" -o "$d/rss" "$c" train "$@" --steps 3 --run-dir "$d/run" \
    --set eval_every=0 --set checkpoint_every=0 --threads 2 >"$d/out" 2>&1
  local plan rss
  plan=$(grep -o "[0-9.]* MB total" "$d/out" | cut -d' ' -f1)
  rss=$(( $(cat "$d/rss") * 1024 / 1000000 ))
  python3 -c "print(f'$name: plan $plan MB, peak RSS $rss MB, error {100 * ($plan - $rss) / $rss:+.1f}%')"
  rm -rf "$d"
}
run "lm demo" -c configs/demo.toml --data data/brown
run "lm demo, recompute block" -c configs/demo.toml --data data/brown --recompute block
run "translate" -c configs/brown-translate.toml --data data/brown-en-es
run "mlm" -c configs/brown-genre-mlm.toml --data data/brown-genre
run "GPT-2 124M B=4 T=256" --synthetic --set model.n_layer=12 --set model.n_head=12 \
  --set model.n_embd=768 --set model.vocab_size=50257 --set model.context_length=256 \
  --set train.batch_size=4 --set train.seq_len=256
