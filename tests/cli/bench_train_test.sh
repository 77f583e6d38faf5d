#!/usr/bin/env bash
# cohort bench train times the step cohort train runs (Trainer::step): on one rank, and
# under mpirun with allreduce, zero1 and --no-comm, it exits 0 with its RESULT line (finite
# losses near ln V on uniform random tokens, positive step times). Usage: bench_train_test.sh path/to/cohort
set -euo pipefail
cohort=$1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tiny=(bench train --layers 2 --heads 2 --channels 32 --vocab 100 --batch 2 --seq 16 --threads 1
      --steps 6 --warmup 1)
check() {
  local name=$1
  shift
  local out
  out=$("$@" 2>&1) || { echo "FAIL: $name exited $?"; echo "$out"; exit 1; }
  echo "$out" | grep '^RESULT ' | sed 's/^RESULT //' | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
import math
assert r["bench"] == "cohort_train" and r["ms_step_median"] > 0, r
assert all(abs(r[k] - math.log(100)) < 0.5 for k in ("loss_first", "loss_last")), r
print("ok: %s: %.2f ms/step, loss %.3f -> %.3f" % (sys.argv[1], r["ms_step_median"], r["loss_first"], r["loss_last"]))
' "$name" || { echo "FAIL: $name: no RESULT line or no progress"; echo "$out"; exit 1; }
}
check solo "$cohort" "${tiny[@]}"
check allreduce timeout 120 mpirun --oversubscribe -np 2 "$cohort" "${tiny[@]}" --strategy allreduce
check zero1 timeout 120 mpirun --oversubscribe -np 2 "$cohort" "${tiny[@]}" --strategy zero1
check no-comm timeout 120 mpirun --oversubscribe -np 2 "$cohort" "${tiny[@]}" --no-comm
