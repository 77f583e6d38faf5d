#!/usr/bin/env bash
# zero1 against allreduce and 1 rank, and a second binary's zero1 (the commit before a
# change) in the same rotation: tokens/s (median step of `cohort bench train`, 8 steps) of
# 1 rank x 2 threads; 2 ranks x 1 thread with allreduce, allreduce without the gradient
# all-reduce (--no-comm), zero1, and OLD's zero1; RUNS rounds, configs C and B of
# bench/compare_train.py at the same global batch. Prints one line per run, then medians.
# Usage: bench/zero1_profile.sh COHORT OLD_COHORT [RUNS (3)]
set -uo pipefail
new=$1 old=$2 runs=${3:-3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
declare -A shape=([C]="--layers 6 --heads 6 --channels 384 --vocab 8192 --seq 256"
                  [B]="--layers 6 --heads 6 --channels 384 --vocab 50304 --seq 256")
declare -A global=([C]=8 [B]=4)
out=$(mktemp)
tok() { python3 -c 'import json,sys; t=sys.stdin.read(); print(round(json.loads(t.split("RESULT ",1)[1])["tok_s_median"],1))'; }
for cfg in C B; do
  s=${shape[$cfg]} g=${global[$cfg]} h=$((global[$cfg] / 2))
  for _ in $(seq "$runs"); do
    echo "$cfg one_rank $("$new" bench train $s --batch $g --threads 2 --steps 8 2>&1 | tok)"
    echo "$cfg allreduce $(mpirun --oversubscribe -np 2 "$new" bench train $s --batch $h --threads 1 --steps 8 2>&1 | tok)"
    echo "$cfg no_comm $(mpirun --oversubscribe -np 2 "$new" bench train $s --batch $h --threads 1 --steps 8 --no-comm 2>&1 | tok)"
    echo "$cfg zero1 $(mpirun --oversubscribe -np 2 "$new" bench train $s --batch $h --threads 1 --steps 8 --strategy zero1 2>&1 | tok)"
    echo "$cfg zero1_old $(mpirun --oversubscribe -np 2 "$old" bench train $s --batch $h --threads 1 --steps 8 --strategy zero1 2>&1 | tok)"
  done
done | tee "$out"
python3 - "$out" <<'PY'
import collections, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    cfg, row, value = line.split()
    runs[(cfg, row)].append(float(value))
for (cfg, row), v in runs.items():
    print(f"{cfg} {row:<10} median {statistics.median(v):8.1f} tokens/s  runs {v}")
PY
rm -f "$out"
