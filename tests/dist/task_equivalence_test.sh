#!/usr/bin/env bash
# The encoder (mlm, classify) and encoder-decoder (translate) under a real mpirun: for
# each task, with a global batch of G = 8, 2 ranks x batch G/2 with allreduce and with
# zero1, a parameter server (1 server + 2 workers x batch G/2, synchronous) and 1 rank x 2
# accumulated micro-batches of G/2 give the 20 losses of 1 rank x batch G within 1e-5
# relative, dropout on; zero2 and fsdp on 2 ranks within 1e-6, with the global gradient
# norm within 1e-5. With `extended`, G = 12 and zero2 and fsdp also run on 3 and 4 ranks.
# Usage: task_equivalence_test.sh path/to/cohort SRC_DIR [extended]
set -euo pipefail
cohort=$1
src=$2
G=8
sizes=(2)
[ "${3:-}" = extended ] && { G=12; sizes=(2 3 4); }
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
  run solo "$cohort" train --batch-size $G
  run accum "$cohort" train --batch-size $((G / 2)) --grad-accum 2
  run allreduce mpi 2 "$cohort" train --batch-size $((G / 2)) --strategy allreduce
  run zero1 mpi 2 "$cohort" train --batch-size $((G / 2)) --strategy zero1
  run ps mpi 3 "$cohort" train --batch-size $((G / 2)) --ps-servers 1
  for s in allreduce zero1; do
    grep -q "replicas: 2 ranks hold bit-identical parameters" "$tmp/$task-$s.log" ||
      { echo "FAIL: $task $s: replicas"; cat "$tmp/$task-$s.log"; exit 1; }
  done
  zero=()
  for s in zero2 fsdp; do
    for n in "${sizes[@]}"; do
      run "$s-$n" mpi "$n" "$cohort" train --batch-size $((G / n)) --strategy "$s"
      zero+=("$s-$n")
    done
  done
  echo "$task:"
  python3 "$here/compare_losses.py" "$tmp/$task" accum allreduce zero1 ps |
    sed "s/1 rank x batch 12/1 rank x batch $G/"
  python3 "$here/compare_losses.py" --tol 1e-6 "$tmp/$task" "${zero[@]}" |
    sed "s/1 rank x batch 12/1 rank x batch $G/"
  # cohort eval reads fsdp's shard set as it reads zero2's model.safetensors: the same scores.
  for s in zero2 fsdp; do
    "$cohort" eval --checkpoint "$tmp/$task/$s-2" --split val --data "$data" 2>&1 |
      grep RESULT | sed 's/"checkpoint":"[^"]*"//' >"$tmp/$task-$s.eval"
  done
  [ -s "$tmp/$task-fsdp.eval" ] && cmp -s "$tmp/$task-zero2.eval" "$tmp/$task-fsdp.eval" ||
    { echo "FAIL: $task: eval of the fsdp shard set differs"; cat "$tmp/$task"-*.eval; exit 1; }
  echo "ok: eval of the fsdp shard set == of zero2's checkpoint: $(cat "$tmp/$task-fsdp.eval")"
done

# The language model's validation under fsdp: its windows are dealt to the ranks unevenly,
# and each rank still runs as many forwards as the others (the parameters are gathered
# by every rank). 3 ranks x batch 2 follow 1 rank x batch 6, validation losses included.
"$cohort" prepare text --input "$brown/ca01" --input "$brown/ca02" --tokenizer byte \
  --out "$tmp/text" >/dev/null
lm=(--data "$tmp/text" --set model.n_layer=2 --set model.n_embd=32 --set model.n_head=2
    --set model.dropout=0.1 --set model.context_length=32 --seq-len 32 --steps 20 --threads 1
    --set train.warmup=3 --lr 3e-3 --set eval_every=10)
"$cohort" train "${lm[@]}" --batch-size 6 --run-dir "$tmp/lm/solo" >"$tmp/lm-solo.log" 2>&1 ||
  { echo "FAIL: lm solo"; cat "$tmp/lm-solo.log"; exit 1; }
mpi 3 "$cohort" train "${lm[@]}" --batch-size 2 --strategy fsdp --run-dir "$tmp/lm/fsdp-3" \
  >"$tmp/lm-fsdp.log" 2>&1 || { echo "FAIL: lm fsdp on 3 ranks"; cat "$tmp/lm-fsdp.log"; exit 1; }
echo "lm:"
python3 "$here/compare_losses.py" --tol 1e-6 "$tmp/lm" fsdp-3 | sed "s/batch 12/batch 6/"
python3 - "$tmp/lm" <<'PY'
import json, sys
def val(name):
    rows = [json.loads(l) for l in open(f"{sys.argv[1]}/{name}/metrics.jsonl")]
    return [r["val_loss"] for r in rows if "val_loss" in r]
a, b = val("solo"), val("fsdp-3")
assert len(a) == 2 and len(b) == 2, (a, b)
rel = max(abs(x - y) / x for x, y in zip(a, b))
print(f"ok: fsdp-3: validation losses within {rel:.2e} of 1 rank's")
assert rel < 1e-6, rel
PY
# eval and generate read the fsdp shard set.
for r in solo fsdp-3; do
  "$cohort" eval --checkpoint "$tmp/lm/$r" --split test | grep RESULT >"$tmp/lm-$r.eval"
done
python3 - "$tmp/lm-solo.eval" "$tmp/lm-fsdp-3.eval" <<'PY'
import json, sys
a, b = (json.loads(open(f).read().split(" ", 1)[1]) for f in sys.argv[1:])
rel = abs(a["loss"] - b["loss"]) / a["loss"]
print(f"ok: cohort eval of the fsdp shard set: test loss {b['loss']:.6f}, within {rel:.2e} of 1 rank's")
assert rel < 1e-6, rel
PY
"$cohort" generate --checkpoint "$tmp/lm/fsdp-3" --prompt "The " --max-tokens 8 >"$tmp/gen.out" ||
  { echo "FAIL: generate from the fsdp shard set"; cat "$tmp/gen.out"; exit 1; }
echo "ok: cohort generate from the fsdp shard set: $(head -c 80 "$tmp/gen.out" | tr '\n' ' ')"
