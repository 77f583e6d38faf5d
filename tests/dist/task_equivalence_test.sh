#!/usr/bin/env bash
# The encoder (mlm, classify) and encoder-decoder (translate) under a real mpirun: for
# each task, 2 ranks x batch 4 with allreduce and with zero1, a parameter server
# (1 server + 2 workers x batch 4, synchronous) and 1 rank x 2 accumulated micro-batches
# of 4 give the 20 losses of 1 rank x batch 8 within 1e-5 relative, dropout on.
# Usage: task_equivalence_test.sh path/to/cohort SRC_DIR
set -euo pipefail
cohort=$1
src=$2
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
mpi() { timeout 180 mpirun --oversubscribe -np "$@"; }
brown=$src/data/corpora/brown

"$cohort" prepare genre --corpus "$brown" --out "$tmp/genre" >/dev/null
"$cohort" prepare translation --corpus "$brown" --max-sentences 300 --vocab-size 500 \
  --out "$tmp/tr" >/dev/null 2>&1

for task in mlm classify translate; do
  data=$tmp/genre
  [ "$task" = translate ] && data=$tmp/tr
  model=(--task "$task" --data "$data" --set model.n_layer=2 --set model.n_embd=32
         --set model.n_head=2 --set model.dropout=0.1 --set model.context_length=128
         --steps 20 --threads 1 --set train.warmup=3 --lr 3e-3)
  run() {
    local name=$1
    shift
    if ! "$@" "${model[@]}" --run-dir "$tmp/$task/$name" >"$tmp/$task-$name.log" 2>&1; then
      echo "FAIL: $task $name: $*"; cat "$tmp/$task-$name.log"; exit 1
    fi
  }
  mkdir -p "$tmp/$task"
  run solo "$cohort" train --batch-size 8
  run accum "$cohort" train --batch-size 4 --grad-accum 2
  run allreduce mpi 2 "$cohort" train --batch-size 4 --strategy allreduce
  run zero1 mpi 2 "$cohort" train --batch-size 4 --strategy zero1
  run ps mpi 3 "$cohort" train --batch-size 4 --ps-servers 1
  for s in allreduce zero1; do
    grep -q "replicas: 2 ranks hold bit-identical parameters" "$tmp/$task-$s.log" ||
      { echo "FAIL: $task $s: replicas"; cat "$tmp/$task-$s.log"; exit 1; }
  done
  echo "$task:"
  python3 "$here/compare_losses.py" "$tmp/$task" accum allreduce zero1 ps |
    sed 's/1 rank x batch 12/1 rank x batch 8/'
done
