#!/usr/bin/env bash
# Two cohort binaries (before and after a refactor) must train the same bits: 20 steps of
# configs/demo.toml (dropout on) on 1 rank, 2 ranks with allreduce, 2 with zero1, and a
# parameter server (1 server + 2 workers); each pair's metrics.jsonl losses and final
# model.safetensors compared byte for byte. Exits non-zero on any difference.
# Usage: bench/same_bits.sh COHORT_BEFORE COHORT_AFTER [DATA_DIR (data/brown)]
set -euo pipefail
before=$(realpath "$1")
after=$(realpath "$2")
data=${3:-data/brown}
cd "$(dirname "$0")/.."
[ -f "$data/dataset.json" ] || "$after" prepare brown --out "$data" >/dev/null
out=runs/same-bits
rm -rf "$out"
mkdir -p "$out"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
job=(train --config configs/demo.toml --data "$data" --steps 20 --set eval_every=0
     --set checkpoint_every=20 --threads 1)
mpi() { mpirun --oversubscribe -np "$@"; }
status=0
for setup in solo allreduce zero1 ps; do
  for which in before after; do
    bin=$before
    [ "$which" = after ] && bin=$after
    dir=$out/$setup-$which
    case $setup in
      solo) "$bin" "${job[@]}" --run-dir "$dir" ;;
      allreduce) mpi 2 "$bin" "${job[@]}" --run-dir "$dir" --strategy allreduce ;;
      zero1) mpi 2 "$bin" "${job[@]}" --run-dir "$dir" --strategy zero1 ;;
      ps) mpi 3 "$bin" "${job[@]}" --run-dir "$dir" --ps-servers 1 ;;
    esac >"$dir.log" 2>&1 || { echo "$setup ($which) failed: see $dir.log"; exit 1; }
  done
  losses() { python3 -c 'import json,sys; print([r["loss"] for r in map(json.loads, open(sys.argv[1])) if r["kind"] == "train"])' "$1"; }
  a=$out/$setup-before b=$out/$setup-after
  [ "$(losses "$b/metrics.jsonl" | tr ',' '\n' | wc -l)" -eq 20 ] || { echo "$setup: not 20 losses"; exit 1; }
  if [ "$(losses "$a/metrics.jsonl")" = "$(losses "$b/metrics.jsonl")" ] &&
     cmp -s "$a/checkpoints/step-20/model.safetensors" "$b/checkpoints/step-20/model.safetensors"; then
    echo "same bits: $setup: 20 losses and model.safetensors identical"
  else
    echo "DIFFERENT: $setup"; status=1
  fi
done
exit $status
